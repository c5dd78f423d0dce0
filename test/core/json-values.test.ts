/**
 * Whatever road a value takes into the state (a codec, REST, an in-process call, a world's own apply function), the
 * state holds only records every client can decode: JSON values (no NaN, no lone surrogates, no "__proto__" key)
 * shallow enough that the views and snapshots holding them are JSON values too. And names clients send (an intent's
 * kind) are looked up as the world's own, never as inherited properties.
 */
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../server/core/json-value.js';
import type { IntentOutcome, JsonValue } from '../../server/core/types.js';
import { validateServerMessage } from '../../server/protocol/validate.js';
import { resolveWorld } from '../../server/worlds/index.js';
import { openWorld, planeWorld } from './helpers/worlds.js';

let n = 0;
const nested = (levels: number): JsonValue => {
  let v: JsonValue = {};
  for (let i = 1; i < levels; i++) v = { d: v };
  return v;
};
const setAttrs = (agent: string, set: unknown): Record<string, unknown> => ({ req_id: `r${++n}`, agent_id: agent, kind: 'SetAttributes', payload: { entity_id: agent, set }, context_seq: 0 });
const codeOf = (o: IntentOutcome): string => (o.status === 'rejected' ? o.error.name : o.status);

describe('JSON values in the state', () => {
  it('an attribute nested as deep as a payload may be is refused, because the view holding it would be deeper; one three levels shallower is kept and every view stays a JSON value', async () => {
    const { rt } = await openWorld(planeWorld([[10, 10], [20, 20]]), { agents: ['a0', 'a1'], auto: true });
    // The payload {entity_id, set: {a: v}} nests v three levels down: v of MAX - 2 levels is a payload of MAX levels.
    const tooDeep = await rt.submit(setAttrs('a0', { a: nested(MAX_JSON_DEPTH - 2) }) as never);
    expect(tooDeep).toMatchObject({ status: 'rejected', error: { name: 'INTENT_VALIDATION_FAILED', details: { rule: 'json_value' }, message: expect.stringContaining('field a must be a JSON value') } });
    expect(rt.entity('a0')?.['a']).toBeUndefined();
    const deepest = await rt.submit(setAttrs('a0', { a: nested(MAX_JSON_DEPTH - 3) }) as never);
    expect(codeOf(deepest)).toBe('committed');
    // a1 sees a0: its view, as a snapshot frame carries it, passes the check every client's decoder applies.
    const o = rt.observe('a1');
    expect(o.view.entities['a0']?.['a']).toBeDefined();
    expect(() => validateServerMessage({ type: 'snapshot', view_seq: o.view_seq, view: o.view as never, context_digest: '00'.repeat(32), reason: 'resync' })).not.toThrow();
  });

  it('a payload that reaches the core without a codec (REST, in process) is checked too: "__proto__" keys, NaN, lone surrogates', async () => {
    const { rt } = await openWorld(planeWorld([[10, 10]]), { agents: ['a0'], auto: true });
    const before = rt.stateHash();
    // What JSON.parse makes of a REST body: an own "__proto__" property.
    const proto = JSON.parse('{"__proto__":{"polluted":1},"z":1}') as unknown;
    for (const set of [proto, { hp: Number.NaN }, { name: 'a\ud800b' }]) {
      expect(await rt.submit(setAttrs('a0', set) as never)).toMatchObject({ status: 'rejected', error: { name: 'INVALID_INTENT', details: { field: 'payload' } } });
    }
    expect(rt.stateHash()).toBe(before);
    expect(Object.hasOwn(rt.entity('a0') ?? {}, '__proto__')).toBe(false);
  });

  it("a world's own apply function cannot store a value clients could not decode: the effect is rejected and rolled back", async () => {
    const bad: Record<string, JsonValue | (() => JsonValue)> = {
      nan: () => Number.NaN,
      deep: () => nested(MAX_JSON_DEPTH - 2),
      lone: () => 'x\udc00',
      date: () => new Date(0) as never,
    };
    const world = planeWorld([[10, 10]], {
      handlers: {
        Poke: {
          shape: (p) => (typeof p === 'object' && p !== null && typeof (p as { what?: unknown }).what === 'string' ? undefined : 'Poke needs what'),
          apply: (p, m, ctx) => {
            const what = (p as { what: string }).what;
            if (what === 'proto') m.set(ctx.agent_id as string, JSON.parse('{"__proto__":1}') as Record<string, JsonValue>);
            else m.set(ctx.agent_id as string, { [what]: (bad[what] as () => JsonValue)() });
          },
        },
      },
    });
    const { rt } = await openWorld(world, { agents: ['a0'], auto: true });
    const before = rt.stateHash();
    for (const what of [...Object.keys(bad), 'proto']) {
      const out = await rt.submit({ req_id: `p-${what}`, agent_id: 'a0', kind: 'Poke', payload: { what }, context_seq: 0 } as never);
      expect(out, what).toMatchObject({ status: 'rejected', error: { details: { rule: 'json_value' } } });
    }
    expect(rt.stateHash()).toBe(before);
  });

  it('an intent or emit naming an inherited property as its kind is an unknown kind, not an internal error', async () => {
    const { rt } = await openWorld(planeWorld([[10, 10]]), { agents: ['a0'], auto: true });
    for (const kind of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
      expect(await rt.submit({ req_id: `k-${kind}`, agent_id: 'a0', kind, payload: {}, context_seq: 0 } as never), kind).toMatchObject({ status: 'rejected', error: { name: 'INVALID_INTENT', message: expect.stringContaining('Unknown intent kind') } });
      expect(() => rt.emit({ kind, payload: {}, source_id: 'narrator' }), kind).toThrow(expect.objectContaining({ codeName: 'INVALID_INTENT' }));
    }
    expect(resolveWorld('constructor')).toBeUndefined();
    expect(resolveWorld('toString')).toBeUndefined();
  });
});
