/**
 * Pong.sim_time is the world's sim_time, on the scale its deltas carry: the tick on a 'ticks' world, milliseconds of
 * the clock on a 'wall' world. It was always the tick count, so on a 'wall' world a client syncing its clock with pings
 * read a sim_time some 1.7e12 behind the one in the deltas it had just applied.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../server/protocol/index.js';
import { is, joinFirstWorld, withServer } from './harness.js';

const WALL_WORLD = `export default {
  name: 'walltime', seed: 'walltime-1',
  initialState: { entities: {} },
  policies: { timebase: 'wall', observation: { distance: { radius: 100 } } },
};
`;

type Delta = Extract<ServerMessage, { type: 'observation_delta' }>;

describe('pong.sim_time', () => {
  for (const timebase of ['wall', 'ticks'] as const) {
    it(`is on the scale of the deltas' sim_time on a '${timebase}' world`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-pong-'));
      const file = path.join(dir, 'walltime.mjs');
      fs.writeFileSync(file, WALL_WORLD);
      try {
        await withServer(timebase === 'wall' ? { world: file, tickMs: 10 } : { tickMs: 10 }, async (srv) => {
          const agent = await joinFirstWorld(srv, 'pinger');
          expect((await agent.submit('spawn')).status).toBe('accepted');
          const delta = await agent.c.waitFor((m): m is Delta => m.type === 'observation_delta' && m.sim_time > 0);
          const from = agent.c.received.length;
          agent.c.send({ type: 'ping', client_time: 1 });
          const pong = await agent.c.waitFor(is('pong'), 5000, from);
          // Asked after the delta arrived: at or past its sim_time, and not far past it (a few ticks, or a few seconds).
          expect(pong.sim_time).toBeGreaterThanOrEqual(delta.sim_time);
          expect(pong.sim_time - delta.sim_time).toBeLessThan(timebase === 'wall' ? 60_000 : 1_000);
          expect(Number.isSafeInteger(pong.sim_time)).toBe(true);
          agent.c.close();
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 20_000);
  }
});
