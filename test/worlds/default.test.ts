/**
 * The default world's max_step rule: an agent's Move takes it at most 10 per axis, whether it gives the step
 * ({dx, dy}) or where to go ({x, y}); the NPCs' wandering (the world's own system) is not bound by it.
 */
import { describe, expect, it } from 'vitest';
import type { IntentOutcome } from '../../server/core/index.js';
import { defaultWorld } from '../../server/worlds/default.js';
import { openWorld } from '../core/helpers/worlds.js';

let n = 0;
async function submit(rt: Awaited<ReturnType<typeof openWorld>>['rt'], agent: string, kind: string, payload: Record<string, unknown>): Promise<IntentOutcome> {
  const p = rt.submit({ req_id: `r${++n}`, agent_id: agent, kind, payload: payload as never, context_seq: rt.viewSeq(agent) });
  await rt.flush();
  return p;
}

describe('default world', () => {
  it('lets an agent move at most 10 per axis, relative or absolute, and names the rule when it refuses', async () => {
    const { rt } = await openWorld(defaultWorld, { agents: ['a'] });
    expect((await submit(rt, 'a', 'Spawn', { entity_id: 'a', fields: { x: 500, y: 300 } })).status).toBe('committed');
    expect((await submit(rt, 'a', 'Move', { dx: 10, dy: -10 })).status).toBe('committed');
    expect(rt.state().entities['a']).toMatchObject({ x: 510, y: 290 });
    expect((await submit(rt, 'a', 'Move', { x: 500, y: 295 })).status).toBe('committed');
    expect(rt.state().entities['a']).toMatchObject({ x: 500, y: 295 });

    for (const payload of [{ dx: 11, dy: 0 }, { dx: 0, dy: -10.5 }, { x: 900, y: 900 }, { x: 500, y: 306 }, { x: 489, y: 295 }]) {
      const r = await submit(rt, 'a', 'Move', payload);
      expect(r.status, JSON.stringify(payload)).toBe('rejected');
      if (r.status !== 'rejected') continue;
      expect(r.error.name).toBe('INTENT_VALIDATION_FAILED');
      expect(r.error.details['rule']).toBe('max_step');
    }
    // Refused moves leave no trace.
    expect(rt.state().entities['a']).toMatchObject({ x: 500, y: 295 });
  });

  it('lets the NPCs wander, in steps of at most 3', async () => {
    const { rt } = await openWorld(defaultWorld);
    const before = structuredClone(rt.state().entities);
    for (let t = 0; t < 5; t++) await rt.tick();
    const after = rt.state().entities;
    let moved = 0;
    for (const [id, e] of Object.entries(before)) {
      const dx = Math.abs((after[id]!['x'] as number) - (e['x'] as number));
      const dy = Math.abs((after[id]!['y'] as number) - (e['y'] as number));
      expect(dx).toBeLessThanOrEqual(15);
      expect(dy).toBeLessThanOrEqual(15);
      if (dx + dy > 0) moved++;
    }
    expect(moved).toBeGreaterThan(0);
  });
});
