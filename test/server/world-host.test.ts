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
import { WireSession } from '../../server/protocol/index.js';
import { verifyLog } from '../../server/log/index.js';
import { main } from '../../server/cli/main.js';

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
      const skipped = Number(/^worldline_tick_overruns_total\{world="[^"]+"\} (\d+)/m.exec(text)?.[1] ?? 0);
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

  it('observation delivery is timed to each frame: a frame handed over after a slow one counts the wait', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-host-'));
    const world = defineWorld({
      name: 'walk',
      seed: 1,
      initialState: { entities: { a: { x: 1, y: 1 }, b: { x: 5, y: 5 }, c: { x: 6, y: 6 } } },
      systems: [{ name: 'walk', seed: '1', run: () => [{ kind: 'Move', payload: { entity_id: 'a', dx: 1, dy: 0 }, source_id: 'system:walk' }] }],
      policies: { timebase: 'ticks', observation: { distance: { radius: 100 } } },
    });
    const metrics = createMetrics({ defaultMetrics: false });
    const host = await WorldHost.open({ world, worldId: 'walk', tenant: 't', dataDir: dir, durability: 'batch', segmentBytes: 1 << 20, tickMs: 1e9, logger: createLogger({ level: 'silent' }), metrics });
    try {
      const rt = host.runtime;
      await rt.registerAgent('b');
      await rt.registerAgent('c');
      const codec = host.codecs['worldline.v1.proto'];
      const sent: string[] = [];
      // The first socket the fan-out reaches takes 40 ms to take its frame; the other's frame is handed over after it.
      for (const agentId of ['b', 'c']) {
        host.subscribe({
          agentId, codec, wire: new WireSession(), baseViewSeq: rt.observe(agentId).view_seq,
          send: () => {
            sent.push(agentId);
            if (agentId === sent[0]) {
              const until = performance.now() + 40;
              while (performance.now() < until);
            }
            return true;
          },
        });
      }
      await rt.tick();
      await host.caughtUp();
      expect(sent).toHaveLength(2);
      const s = metrics.deliverySeconds.labels('worldline.v1.proto');
      expect(s.count).toBe(2);
      // Each is timed when its send returns: the first after its own 40 ms, the second after waiting for the first
      // (timed once at the start of the fan-out, both were under a millisecond).
      expect(s.counts.slice(0, 9).reduce((a, b) => a + b, 0)).toBe(0); // none at 25 ms or less
      expect(s.sum).toBeGreaterThanOrEqual(0.08);
    } finally {
      await host.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('caughtUp(): the core commits ahead of delivery; once caught up, its view_seq is where the resume history ends', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-host-'));
    const world = defineWorld({
      name: 'walk',
      seed: 1,
      initialState: { entities: { a: { x: 1, y: 1 }, b: { x: 5, y: 5 } } },
      systems: [{ name: 'walk', seed: '1', run: () => [{ kind: 'Move', payload: { entity_id: 'a', dx: 1, dy: 0 }, source_id: 'system:walk' }] }],
      policies: { timebase: 'ticks', observation: { distance: { radius: 100 } } },
    });
    const host = await WorldHost.open({ world, worldId: 'walk', tenant: 't', dataDir: dir, durability: 'batch', segmentBytes: 1 << 20, tickMs: 1e9, logger: createLogger({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
    try {
      const rt = host.runtime;
      await rt.registerAgent('b');
      await rt.tick();
      await host.caughtUp();
      const s0 = rt.observe('b').view_seq;
      expect(host.resumePlan('b', s0)).toEqual({ kind: 'deltas', deltas: [] });
      // The quantum is built at once; its deltas wait for the log's group commit.
      const ticked = rt.tick();
      const s1 = rt.observe('b').view_seq;
      expect(s1).toBe(s0 + 1);
      // Not delivered yet: a client holding s1 (read from the core) is ahead of the history and could only get a snapshot.
      expect(host.resumePlan('b', s1).kind).toBe('snapshot');
      await host.caughtUp();
      expect(host.resumePlan('b', s1)).toEqual({ kind: 'deltas', deltas: [] });
      const plan = host.resumePlan('b', s0);
      expect(plan.kind).toBe('deltas');
      expect(plan.kind === 'deltas' && plan.deltas.map((d) => [d.from_seq, d.view_seq])).toEqual([[s0, s1]]);
      await ticked;
      // Quanta committed while it waits are waited for too.
      const more = [rt.tick()];
      const caught = host.caughtUp();
      more.push(rt.tick());
      await caught;
      expect(host.resumePlan('b', rt.observe('b').view_seq)).toEqual({ kind: 'deltas', deltas: [] });
      expect(rt.observe('b').view_seq).toBe(s1 + 2);
      await Promise.all(more);
    } finally {
      await host.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("logRetention 'snapshots' deletes the segments no kept snapshot needs; the world restarts where it was and the log verifies", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-host-'));
    const world = defineWorld({
      name: 'walk',
      seed: 1,
      initialState: { entities: { a: { x: 1, y: 1 } } },
      systems: [{ name: 'walk', seed: '1', run: () => [{ kind: 'Move', payload: { entity_id: 'a', dx: 1, dy: 0 }, source_id: 'system:walk' }] }],
      policies: { timebase: 'ticks', snapshotEvery: 50 },
    });
    const segments = (dir: string): string[] => fs.readdirSync(path.join(dir, 'worlds', 'walk', 'segments')).filter((f) => f.endsWith('.wlseg'));
    /** worldline_log_disk_bytes by kind, as scraped. */
    const diskBytes: Record<string, Record<string, number>> = {};
    const run = async (dir: string, logRetention: 'all' | 'snapshots', ticks: number): Promise<{ x: unknown; seq: number }> => {
      const metrics = createMetrics({ defaultMetrics: false });
      const host = await WorldHost.open({ world, worldId: 'walk', tenant: 't', dataDir: dir, durability: 'batch', segmentBytes: 4096, tickMs: 1e9, logRetention, logger: createLogger({ level: 'silent' }), metrics });
      try {
        for (let i = 0; i < ticks; i++) await host.runtime.tick();
        await host.caughtUp();
        const text = await metrics.registry.metrics();
        diskBytes[dir] = Object.fromEntries([...text.matchAll(/^worldline_log_disk_bytes\{kind="(\w+)",world="walk"\} (\d+)$/gm)].map((x) => [x[1], Number(x[2])]));
        return { x: host.runtime.state().entities['a']?.['x'], seq: host.runtime.lastGlobalSeq };
      } finally {
        await host.close();
      }
    };
    try {
      const all = path.join(root, 'all');
      const kept = path.join(root, 'kept');
      const a = await run(all, 'all', 600);
      const k = await run(kept, 'snapshots', 600);
      expect(k).toEqual(a);
      // 600 effects of ~100 bytes in 4 KiB segments: every segment stays under 'all'; under 'snapshots' only those
      // from the older kept snapshot on.
      expect(segments(all).length).toBeGreaterThan(10);
      expect(segments(kept).length).toBeLessThan(segments(all).length / 3);
      expect(segments(kept)[0]).not.toBe(segments(all)[0]);
      // The metric reads the directory as it is: all segments' bytes under 'all', far fewer under 'snapshots'.
      expect(diskBytes[all]!['segments']).toBeGreaterThan(10 * 4096 * 0.5);
      expect(diskBytes[kept]!['segments']).toBeLessThan(diskBytes[all]!['segments']! / 2);
      expect(diskBytes[kept]!['snapshots']).toBeGreaterThan(0);
      // The compacted world restarts where it stopped and goes on; its log verifies from the snapshot that vouches
      // for its first segment.
      const again = await run(kept, 'snapshots', 100);
      const more = await run(all, 'all', 100);
      expect(again).toEqual(more);
      expect((await verifyLog(path.join(kept, 'worlds', 'walk'))).ok).toBe(true);
      // Offline, `worldline compact` does the same to a log kept whole.
      const before = segments(all).length;
      const out: string[] = [];
      expect(await main(['compact', path.join(all, 'worlds', 'walk')], { out: (l) => out.push(l), err: (l) => out.push(l) })).toBe(0);
      expect(out.join('\n')).toMatch(/^compacted: deleted \d+ segment\(s\); the log now holds seq \d+\.\.\d+$/);
      expect(segments(all).length).toBeLessThan(before / 3);
      expect((await verifyLog(path.join(all, 'worlds', 'walk'))).ok).toBe(true);
      expect(await main(['compact', path.join(all, 'worlds', 'walk')], { out: (l) => out.push(l), err: (l) => out.push(l) })).toBe(0);
      expect(out[out.length - 1]).toMatch(/^nothing to compact: no segment lies wholly before seq \d+/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
