/**
 * The arena's random walk: committed as one Walk effect per tick (default) or one Move per entity, the world goes
 * through the same states and every agent ends with the same view; only the world itself may walk.
 */
import { describe, expect, it } from 'vitest';
import type { IntentOutcome } from '../../server/core/index.js';
import { arenaEntityId, makeArena } from '../../server/worlds/index.js';
import { openWorld } from '../core/helpers/worlds.js';

describe('arena random walk', () => {
  it('batched (one Walk per tick) and per-entity (one Walk each) reach the same states and views', async () => {
    const agents = Array.from({ length: 12 }, (_, i) => arenaEntityId(i));
    const batched = (await openWorld(makeArena({ entities: 40, size: 300, walk: 'batched' }), { agents })).rt;
    const single = (await openWorld(makeArena({ entities: 40, size: 300, walk: 'per-entity' }), { agents })).rt;
    for (let t = 0; t < 30; t++) {
      const a = await batched.tick();
      const b = await single.tick();
      // Besides the tick's own effect: one Walk against 40.
      expect(b.committed - a.committed).toBe(39);
      expect(batched.state().entities).toEqual(single.state().entities);
      for (const id of agents) {
        const v = batched.observe(id);
        expect(v.view).toEqual(single.observe(id).view);
        expect(v.context_digest).toBe(single.observe(id).context_digest);
      }
    }
    // One event per tick for an agent that sees any of the walk, instead of one per entity it sees.
    expect(batched.viewSeq(agents[0]!)).toBeLessThanOrEqual(30);
    expect(single.viewSeq(agents[0]!)).toBeGreaterThan(batched.viewSeq(agents[0]!));
    // Walked positions stay on the 0.01 grid (compact on the wire).
    for (const rec of Object.values(batched.state().entities)) {
      expect(Math.round((rec['x'] as number) * 100) / 100).toBe(rec['x']);
      expect(Math.round((rec['y'] as number) * 100) / 100).toBe(rec['y']);
    }
  });

  it('refuses a Walk from an agent', async () => {
    const { rt } = await openWorld(makeArena({ entities: 5, size: 100 }), { agents: [arenaEntityId(0)] });
    const p = rt.submit({ req_id: 'w', agent_id: arenaEntityId(0), kind: 'Walk', payload: { steps: [[arenaEntityId(1), 1, 1]] }, context_seq: 0 });
    await rt.flush();
    const o = (await p) as IntentOutcome;
    expect(o.status).toBe('rejected');
    expect(o.status === 'rejected' && o.error.name).toBe('INVALID_INTENT');
  });
});
