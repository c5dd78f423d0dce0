/**
 * WorldHost's tick loop under overload: when ticks take longer than tickMs to commit and deliver, the timer skips
 * ticks (counted in worldline_tick_overruns_total) instead of queueing them, so no more than two are ever in flight.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineWorld } from '../../server/core/index.js';
import { createLogger } from '../../server/obs/logger.js';
import { createMetrics } from '../../server/obs/metrics.js';
import { WorldHost } from '../../server/transport/world-host.js';

describe('WorldHost tick loop', () => {
  it('skips ticks while two are still committing or delivering, and counts them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-host-'));
    let inSystem = 0;
    let maxInFlight = 0;
    const world = defineWorld({
      name: 'slow',
      seed: 1,
      initialState: { entities: { a: { x: 1, y: 1 } } },
      systems: [
        {
          name: 'slow',
          seed: '1',
          run(ctx) {
            // Each tick's commit work takes 25 ms against a 5 ms timer.
            const until = Date.now() + 25;
            while (Date.now() < until) inSystem++;
            void ctx;
            return [{ kind: 'Move', payload: { entity_id: 'a', dx: 1, dy: 0 }, source_id: 'system:slow' }];
          },
        },
      ],
      policies: { timebase: 'ticks' },
    });
    const metrics = createMetrics({ defaultMetrics: false });
    const host = await WorldHost.open({ world, worldId: 'slow', tenant: 't', dataDir: dir, durability: 'batch', segmentBytes: 1 << 20, tickMs: 5, logger: createLogger({ level: 'silent' }), metrics });
    try {
      const deadline = Date.now() + 600;
      while (Date.now() < deadline) {
        maxInFlight = Math.max(maxInFlight, (host as unknown as { ticksInFlight: number }).ticksInFlight);
        await new Promise((r) => setTimeout(r, 2));
      }
      const text = await metrics.registry.metrics();
      const skipped = Number(/^worldline_tick_overruns_total (\d+)/m.exec(text)?.[1] ?? 0);
      expect(skipped).toBeGreaterThan(0);
      expect(maxInFlight).toBeLessThanOrEqual(2);
      // Ticks still happen, at the rate the work allows (~40/s here, not the timer's 200/s).
      expect(host.runtime.currentTick).toBeGreaterThan(3);
      expect(host.runtime.currentTick).toBeLessThan(60);
      expect(inSystem).toBeGreaterThan(0);
    } finally {
      await host.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
