import { describe, expect, it } from 'vitest';
import { openWorld, planeWorld } from './helpers/worlds.js';

describe('built-in effect kinds', () => {
  it('TimeTick is the runtime’s own: an emit or a system drafting one is refused, so the tick never goes back', async () => {
    const world = planeWorld([[10, 10]], { systems: [{ name: 'clockwork', run: ({ tick }) => (tick === 3 ? [{ kind: 'TimeTick', payload: { tick: 1 }, source_id: 'clockwork' }] : []) }] });
    const { rt } = await openWorld(world, { agents: ['a0'] });
    await rt.tick();
    await rt.tick();
    expect(() => rt.emit({ kind: 'TimeTick', payload: { tick: 0 }, source_id: 'admin:ops' })).toThrow(expect.objectContaining({ codeName: 'INVALID_INTENT' }));
    expect(() => rt.emit({ kind: 'TimeTick', payload: { tick: 99, rng: { clockwork: 'reset' } }, source_id: 'engine' })).toThrow(expect.objectContaining({ codeName: 'INVALID_INTENT' }));
    await expect(rt.tick()).rejects.toThrow(expect.objectContaining({ codeName: 'WORLD_SYSTEM_FAILED' }));
    const o = await rt.submit({ req_id: 't', agent_id: 'a0', kind: 'TimeTick', payload: { tick: 0 }, context_seq: 0 });
    expect(o.status === 'rejected' && o.error.name).toBe('INVALID_INTENT');
    expect(rt.currentTick).toBe(2);
    expect(rt.state().rng['clockwork']).not.toBe('reset');
  });
});
