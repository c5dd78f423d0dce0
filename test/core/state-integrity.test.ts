/**
 * The state is the log's to change, through effects only: no object it holds is shared with a caller (a payload
 * object reused after submit, a view or outcome changed by its reader), and an effect that changes nothing is no event
 * for anyone. A kind's shape check that throws is the payload's fault, not an internal error.
 */
import { describe, expect, it } from 'vitest';
import { defineWorld } from '../../server/core/index.js';
import { WorldRuntime } from '../../server/core/runtime.js';
import { stateHashOf } from '../../server/core/state.js';
import type { EntityRecord } from '../../server/core/types.js';
import { openWorld, planeWorld } from './helpers/worlds.js';

const world = defineWorld({ name: 'w', seed: 3, initialState: { entities: { a0: { x: 0, y: 0 }, a1: { x: 5, y: 0 } } }, policies: { observation: { distance: { radius: 100 } }, stateHashEvery: 1 } });

describe('the state shares no object with its callers', () => {
  it('a payload object changed after submit, a view or an effect payload changed by its reader: the state, its hash and the log stay as committed', async () => {
    const { rt, log, clock } = await openWorld(world, { agents: ['a0', 'a1'], auto: true });
    const payload = { entity_id: 'a0', set: { inv: { gold: 1 } } };
    const out = await rt.submit({ req_id: 'r1', agent_id: 'a0', kind: 'SetAttributes', payload, context_seq: 0 } as never);
    expect(out.status).toBe('committed');
    payload.set.inv.gold = 999;
    expect(rt.entity('a0')?.['inv']).toEqual({ gold: 1 });
    // What readers get is frozen all the way down: changing it throws, and cannot reach the state.
    const seen = rt.observe('a1').view.entities['a0'] as EntityRecord & { inv: { gold: number } };
    expect(Object.isFrozen(seen.inv)).toBe(true);
    expect(() => {
      seen.inv.gold = 12345;
    }).toThrow(TypeError);
    const effect = out.status === 'committed' ? out.effect : undefined;
    expect(() => {
      ((effect?.payload as { set: { inv: { gold: number } } }).set.inv.gold = 7);
    }).toThrow(TypeError);
    // An emitted payload too.
    const meta = { entity_id: 'a1', set: { bag: ['apple'] } };
    const e = await rt.emit({ kind: 'SetAttributes', payload: meta, source_id: 'narrator' });
    expect(e.status).toBe('committed');
    meta.set.bag.push('pear');
    expect(rt.entity('a1')?.['bag']).toEqual(['apple']);
    expect(rt.stateHash()).toBe(stateHashOf(rt.state()));
    await rt.submit({ req_id: 'r2', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: rt.viewSeq('a0') } as never);
    await rt.drain();
    // The log replays to the same state (it refused to open when a caller's change had reached the state).
    const again = await WorldRuntime.open({ world, log: log.reopen(), clock });
    expect(again.stateHash()).toBe(rt.stateHash());
    expect(again.entity('a0')?.['inv']).toEqual({ gold: 1 });
  });
});

describe('an effect that changes nothing', () => {
  it('is no event: a Move into the wall, a value set again, a missing field unset leave view_seq, staleness and generations alone', async () => {
    // bounds max_x 1000: a1 at the wall walks into it.
    const { rt } = await openWorld(planeWorld([[950, 0], [1000, 0]]), { agents: ['a0', 'a1'], auto: true });
    const ctx = rt.observe('a0');
    const gen = rt.beginGeneration('a0', 'g', ctx.view_seq, { interrupt: 'always' });
    for (let i = 0; i < 3; i++) expect((await rt.submit({ req_id: `w${i}`, agent_id: 'a1', kind: 'Move', payload: { dx: 5, dy: 0 }, context_seq: rt.viewSeq('a1') } as never)).status).toBe('committed');
    expect((await rt.emit({ kind: 'SetAttributes', payload: { entity_id: 'a1', set: { hp: 100 } }, source_id: 'gm' })).status).toBe('committed');
    expect((await rt.emit({ kind: 'SetAttributes', payload: { entity_id: 'a1', unset: ['nothing'] }, source_id: 'gm' })).status).toBe('committed');
    expect(rt.observe('a0').view_seq).toBe(ctx.view_seq);
    expect(gen.signal.aborted).toBe(false);
    expect((await rt.submit({ req_id: 'x', agent_id: 'a0', kind: 'Speak', payload: { text: 'hi' }, context_seq: ctx.view_seq } as never)).status).toBe('committed');
    // A change still is one.
    expect((await rt.emit({ kind: 'SetAttributes', payload: { entity_id: 'a1', set: { hp: 99 } }, source_id: 'gm' })).status).toBe('committed');
    expect(rt.observe('a0').view_seq).toBeGreaterThan(ctx.view_seq);
    expect(gen.signal.aborted).toBe(true);
  });
});

describe("a kind's shape check that throws", () => {
  it('rejects the intent with INVALID_INTENT naming the kind, and refuses an emit the same way, not as an internal error', async () => {
    const w = defineWorld({
      name: 's', seed: 1, initialState: { entities: { a0: { x: 0, y: 0 } } },
      handlers: { Buy: { shape: (p) => ((p as { item: { name: string } }).item.name.length > 0 ? undefined : 'name required'), apply: (p, m, c) => m.set(c.agent_id as string, { item: (p as { item: { name: string } }).item.name }) } },
    });
    const { rt } = await openWorld(w, { agents: ['a0'], auto: true });
    expect(await rt.submit({ req_id: 'r1', agent_id: 'a0', kind: 'Buy', payload: { item: null }, context_seq: 0 } as never)).toMatchObject({ status: 'rejected', error: { name: 'INVALID_INTENT', message: expect.stringContaining('Buy shape check threw') } });
    expect(() => rt.emit({ kind: 'Buy', payload: {}, source_id: 'gm' })).toThrow(expect.objectContaining({ codeName: 'INVALID_INTENT' }));
  });
});
