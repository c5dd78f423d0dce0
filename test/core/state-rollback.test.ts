/**
 * A rejected effect leaves no trace in state: everything its apply changed before throwing is undone, the systems'
 * generator states included (a trace would make the live state differ from every replay of the log).
 */
import { describe, expect, it } from 'vitest';
import { WorldRuntime } from '../../server/core/runtime.js';
import { defineWorld } from '../../server/core/world.js';
import { openWorld } from './helpers/worlds.js';

describe('rollback', () => {
  it('undoes every kind of change an apply made before it threw: entities, relationships, metadata, tick and rng', async () => {
    const world = defineWorld({
      name: 'rb',
      seed: 1,
      initialState: { entities: { a0: { x: 0, y: 0 } }, rng: { npc: 'saved' } },
      policies: { stateHashEvery: 1 },
      handlers: {
        Bad: {
          shape: () => undefined,
          apply: (_p, m) => {
            m.set('a0', { x: 5 });
            m.spawn('b0', { x: 1, y: 1 });
            m.relate('a0', 'b0');
            m.setMeta('weather', 'rain');
            m.setTick(99);
            m.setRng('npc', 'moved');
            m.setRng('other', 1);
            throw new Error('no');
          },
        },
        Ok: { shape: () => undefined, apply: (_p, m) => m.set('a0', { y: 1 }) },
      },
    });
    const { rt, log, clock } = await openWorld(world, { agents: ['a0'] });
    const before = rt.state();
    const hash = rt.stateHash();
    const bad = rt.emit({ kind: 'Bad', payload: null, source_id: 's' });
    await rt.flush();
    expect((await bad).status).toBe('rejected');
    expect(rt.state()).toEqual(before);
    expect(rt.stateHash()).toBe(hash);
    // And the log (with a state hash after the next effect) reopens: the live state is the replayed one.
    const ok = rt.emit({ kind: 'Ok', payload: null, source_id: 's' });
    await rt.flush();
    expect((await ok).status).toBe('committed');
    const rt2 = await WorldRuntime.open({ world, log: log.reopen(), clock });
    expect(rt2.stateHash()).toBe(rt.stateHash());
  });
});
