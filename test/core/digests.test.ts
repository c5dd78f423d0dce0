import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { effectBytes, intentDigestBytes, memberHashBytes } from '../../server/core/canonical-bytes.js';
import { canonicalJson, canonicalMember, canonicalMemberHash, encodeEffect, intentDigest } from '../../server/core/canonical.js';
import type { Effect } from '../../server/core/types.js';
import { SetDigest, memberHash, setDigestOf } from '../../server/core/set-digest.js';
import { WorldStore, stateHashOf } from '../../server/core/state.js';
import { SCHEMA_VERSION } from '../../server/core/types.js';

describe('canonical JSON', () => {
  it('equals canonicalize for JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(v)).toBe(canonicalize(v));
      }), { numRuns: 2000 });
  });

  it('equals canonicalize, or fails like it, for any value', () => {
    const arb = fc.anything({ withBoxedValues: true, withNullPrototype: true, withSparseArray: true, withObjectString: true });
    fc.assert(
      fc.property(arb, (v) => {
        let expected: string | undefined;
        try {
          expected = canonicalize(v);
        } catch {
          expected = undefined;
        }
        if (expected === undefined) expect(() => canonicalJson(v)).toThrow();
        else expect(canonicalJson(v)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('canonical bytes', () => {
  const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('a"b', 'c\\d', 'tab\tnl\n', '\u007f', 'é', '\ud800'));
  // The byte writer has its own paths for safe integers and for hundredths (c / 100): generate both, at their edges.
  const hundredths = fc.oneof(fc.integer({ min: -(2 ** 31) - 5, max: 2 ** 31 + 5 }), fc.integer({ min: -100_000, max: 100_000 })).map((c) => c / 100);
  const number = fc.oneof(hundredths, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.maxSafeInteger(), fc.integer({ min: -(2 ** 54), max: 2 ** 54 }), fc.constant(-0));
  const effect = fc.record({
    agent_id: fc.option(text, { nil: undefined }),
    req_id: fc.option(text, { nil: undefined }),
    intent_digest: fc.option(fc.base64String({ minLength: 4, maxLength: 24 }), { nil: undefined }),
    kind: text,
    payload: fc.oneof(fc.jsonValue(), fc.record({ dx: number, dy: number }), fc.record({ dx: fc.double({ noNaN: true, noDefaultInfinity: true }), dy: fc.integer() })),
    global_seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    priority: fc.integer({ min: -1000, max: 1001 }),
    sim_time: fc.oneof(fc.integer({ min: 0 }), fc.double({ min: 0, max: 1e15, noNaN: true })),
    wall_time: fc.oneof(fc.integer({ min: 0 }), fc.double({ min: -1e22, max: 1e22, noNaN: true }), number),
    source_id: text,
    uuid: fc.uuid(),
    world_id: text,
  });

  it('writes an effect record byte for byte as encodeEffect, or declines', () => {
    fc.assert(
      fc.property(effect, (raw) => {
        const e = { schema_version: SCHEMA_VERSION, ...Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)) } as unknown as Effect;
        let expected: string | undefined;
        try {
          expected = encodeEffect(e);
        } catch {
          expected = undefined;
        }
        const bytes = effectBytes(e);
        if (bytes !== undefined) expect(Buffer.from(bytes).toString('utf8')).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('handles the usual ASCII records itself', () => {
    const e: Effect = { schema_version: SCHEMA_VERSION, world_id: 'w', uuid: '00000000-0001-8abc-8def-0123456789ab', kind: 'Move', payload: { dx: -1.25, dy: 2 }, global_seq: 12, sim_time: 3, wall_time: 1_700_000_000_123, source_id: 'e000001', priority: 0, req_id: 'r-1', agent_id: 'e000001', intent_digest: 'abcDEF_-0123456789abcd' };
    expect(Buffer.from(effectBytes(e) as Uint8Array).toString('utf8')).toBe(encodeEffect(e));
    expect(intentDigestBytes('Move', { dy: 2, dx: -0 })).toBe(intentDigest('Move', { dx: -0, dy: 2 }));
  });

  it('writes numbers as JSON.stringify does', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(hundredths, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.maxSafeInteger(), fc.integer({ min: -(2 ** 54), max: 2 ** 54 }))), (xs) => {
        expect(intentDigestBytes('N', xs)).toBe(intentDigest('N', xs));
      }),
      { numRuns: 3000 },
    );
    for (let c = -100_000; c <= 100_000; c++) expect(intentDigestBytes('N', [c / 100, c])).toBe(intentDigest('N', [c / 100, c]));
  });

  it('gives the member hash of the canonical member string, or declines', () => {
    fc.assert(
      fc.property(text, fc.dictionary(text, fc.jsonValue()), (id, record) => {
        let member: string;
        try {
          member = `${JSON.stringify(id)}:${canonicalJson(record)}`;
        } catch {
          // Not encodable (a lone surrogate): both paths refuse it.
          expect(memberHashBytes(id, record)).toBeUndefined();
          expect(() => canonicalMemberHash(id, record)).toThrow();
          return;
        }
        const expected = memberHash(member);
        const h = memberHashBytes(id, record);
        if (h !== undefined) expect([...h]).toEqual([...expected]);
        expect([...canonicalMemberHash(id, record)]).toEqual([...expected]);
        expect(canonicalMember(id, record)).toBe(member);
      }),
      { numRuns: 3000 },
    );
    expect(memberHashBytes('e000001', { x: 1.25, y: -3, hp: 100 })).toBeDefined();
  });

  it('gives the intent digest of intentDigest, or declines', () => {
    fc.assert(
      fc.property(text, fc.jsonValue(), (kind, payload) => {
        const d = intentDigestBytes(kind, payload);
        if (d !== undefined) expect(d).toBe(intentDigest(kind, payload as never));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('set digest', () => {
  it('does not depend on order and undoes a removal', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string(), { maxLength: 20 }), fc.string(), (members, extra) => {
        const d = new SetDigest();
        for (const m of members) d.add(memberHash(m));
        expect(d.hex()).toBe(setDigestOf([...members].reverse()));
        d.add(memberHash(extra));
        d.remove(memberHash(extra));
        expect(d.hex()).toBe(setDigestOf(members));
      }),
    );
  });

  it('is the sum of the members sha256 modulo 2^256', () => {
    const members = ['"a":{"x":1}', '"b":{}', 'z'];
    let sum = 0n;
    for (const m of members) sum += BigInt(`0x${createHash('sha256').update(m).digest('hex')}`);
    expect(setDigestOf(members)).toBe((sum % 2n ** 256n).toString(16).padStart(64, '0'));
  });
});

describe('state hash', () => {
  const step = fc.oneof(
    fc.record({ t: fc.constant('set' as const), id: fc.constantFrom('a', 'b', 'c', 'd'), v: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ t: fc.constant('spawn' as const), id: fc.constantFrom('a', 'b', 'c', 'd'), v: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ t: fc.constant('despawn' as const), id: fc.constantFrom('a', 'b', 'c', 'd'), v: fc.constant(0) }),
    fc.record({ t: fc.constant('rollback' as const), id: fc.constantFrom('a', 'b', 'c', 'd'), v: fc.integer({ min: 0, max: 3 }) }),
  );

  it('kept up to date incrementally equals the hash computed from the state document', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(step, fc.boolean()), { maxLength: 30 }), (steps) => {
        const store = new WorldStore({ schema_version: SCHEMA_VERSION, tick: 0, entities: { a: { x: 1, y: 2 } }, relationships: { a: ['b'] }, metadata: { k: 1 }, rng: {} });
        for (const [s, hashNow] of steps) {
          store.begin();
          if (s.t === 'set' && store.has(s.id)) store.set(s.id, { v: s.v });
          if (s.t === 'spawn' && !store.has(s.id)) store.spawn(s.id, { v: s.v });
          if (s.t === 'despawn' && store.has(s.id)) store.despawn(s.id);
          if (s.t === 'rollback') {
            if (store.has(s.id)) store.set(s.id, { w: s.v });
            store.rollback();
          } else store.end();
          if (hashNow) expect(store.hash()).toBe(stateHashOf(store.toJSON()));
        }
        expect(store.hash()).toBe(stateHashOf(store.toJSON()));
        expect(new WorldStore(store.toJSON()).hash()).toBe(store.hash());
      }),
    );
  });
});

describe('SetDigest limb arithmetic', () => {
  const big = (hex: string): bigint => BigInt(`0x${hex}`);
  const MOD = 1n << 256n;
  it('equals the sum modulo 2^256 computed with BigInt, through adds, removes and replaces in any order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('add', 'remove', 'replace'), fc.string(), fc.string()), { maxLength: 60 }), (steps) => {
        const d = new SetDigest();
        let ref = 0n;
        for (const [op, a, b] of steps) {
          const ha = big(createHash('sha256').update(a).digest('hex'));
          const hb = big(createHash('sha256').update(b).digest('hex'));
          if (op === 'add') {
            d.add(memberHash(a));
            ref += ha;
          } else if (op === 'remove') {
            d.remove(memberHash(a));
            ref -= ha;
          } else {
            d.replace(memberHash(a), memberHash(b));
            ref += hb - ha;
          }
        }
        expect(d.hex()).toBe((((ref % MOD) + MOD) % MOD).toString(16).padStart(64, '0'));
      }),
      { numRuns: 300 },
    );
  });

  it('stays exact across five million terms between reads (carries are propagated before the limbs lose precision)', () => {
    const d = new SetDigest();
    const h = memberHash('x');
    const max = memberHash('y');
    for (let i = 0; i < 5_000_000; i++) d.add(i % 2 === 0 ? h : max);
    const ref = (2_500_000n * big(createHash('sha256').update('x').digest('hex')) + 2_500_000n * big(createHash('sha256').update('y').digest('hex'))) % MOD;
    expect(d.hex()).toBe(ref.toString(16).padStart(64, '0'));
  });
});
