/**
 * The SDK's view state and digest, without a server: a delta shares the entities it does not touch with the previous
 * view and never changes a view handed out earlier; applying ops entity by entity gives exactly what fast-json-patch
 * gives on a whole copy (the same result, or an error and the view unchanged), for random op sequences; and the
 * incremental set digest equals the digest of the whole view after every step.
 */
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { ViewDigester, canonicalText, defaultDigest, nodeDigest, viewDigest, webCryptoDigest } from '../../adapters/client/digest.js';
import { ViewState, entitiesOf, type View } from '../../adapters/client/view.js';
import type { JsonValue, ObservationDelta, WireOp } from '../../server/protocol/index.js';

const { applyPatch, deepClone } = fastJsonPatch;

function stateWith(entities: Record<string, Record<string, JsonValue>>): ViewState {
  const s = new ViewState();
  s.snapshot({ view_seq: 0, view: { entities } as unknown as JsonValue, context_digest: '' }, 'welcome');
  return s;
}

function delta(s: ViewState, ops: readonly WireOp[]): ObservationDelta {
  return { type: 'observation_delta', view_seq: s.viewSeq + 1, from_seq: s.viewSeq, context_digest: '', ops, global_seq: s.viewSeq + 1, sim_time: 0, server_time: 0 };
}

/** fast-json-patch on a whole copy: the reference the SDK used to apply every delta with. */
function reference(view: View, ops: readonly WireOp[]): View | 'error' {
  try {
    return applyPatch(deepClone(view), deepClone(ops) as never, true, false).newDocument as unknown as View;
  } catch {
    return 'error';
  }
}

describe('ViewState', () => {
  it('shares untouched entities with the previous view and leaves that view as it was', () => {
    const s = stateWith({ a: { x: 1, tags: ['p'] }, b: { x: 2 }, c: { x: 3 } });
    const before = s.view;
    const copy = deepClone(before) as View;
    s.delta(delta(s, [{ op: 'replace', path: '/entities/a/x', value: 10 }, { op: 'add', path: '/entities/a/tags/-', value: 'q' }, { op: 'remove', path: '/entities/c' }]));
    expect(before).toEqual(copy);
    expect(s.view.entities).toEqual({ a: { x: 10, tags: ['p', 'q'] }, b: { x: 2 } });
    expect(s.view.entities['b']).toBe(before.entities['b']);
    expect(s.view.entities['a']).not.toBe(before.entities['a']);
    expect([...(s.touched ?? [])].sort()).toEqual(['a', 'c']);
  });

  it('copies only the containers on an op\'s path: the other members of a touched entity stay shared', () => {
    const s = stateWith({ a: { deep: { x: 1, keep: { k: 1 } }, list: [{ n: 1 }, { n: 2 }], other: { o: 1 } } });
    const before = s.view;
    const copy = deepClone(before) as View;
    s.delta(delta(s, [{ op: 'replace', path: '/entities/a/deep/x', value: 2 }, { op: 'add', path: '/entities/a/list/1/m', value: 3 }]));
    expect(before).toEqual(copy);
    const a = s.view.entities['a'] as Record<string, Record<string, JsonValue>>;
    const was = before.entities['a'] as Record<string, Record<string, JsonValue>>;
    expect(a).toEqual({ deep: { x: 2, keep: { k: 1 } }, list: [{ n: 1 }, { n: 2, m: 3 }], other: { o: 1 } });
    expect(a['other']).toBe(was['other']);
    expect(a['deep']!['keep']).toBe(was['deep']!['keep']);
    expect((a['list'] as unknown as JsonValue[])[0]).toBe((was['list'] as unknown as JsonValue[])[0]);
  });

  it('keeps values as JSON would (fast-json-patch on a whole copy), whatever the ops carry', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (v, w) => {
        const s = stateWith({ a: { x: 1 } });
        const ops: WireOp[] = [{ op: 'add', path: '/entities/a/v', value: v as JsonValue }, { op: 'add', path: '/entities/b', value: { w: w as JsonValue } }];
        const want = reference(s.view, ops);
        s.delta(delta(s, ops));
        expect(s.view).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it('adds, replaces and removes whole entities, with ~0 and ~1 in their ids', () => {
    const s = stateWith({ 'a/b': { x: 1 } });
    s.delta(delta(s, [{ op: 'add', path: '/entities/c~0d', value: { y: 1 } }, { op: 'replace', path: '/entities/a~1b', value: { x: 2 } }, { op: 'add', path: '/entities/c~0d/z', value: true }]));
    expect(s.view.entities).toEqual({ 'a/b': { x: 2 }, 'c~d': { y: 1, z: true } });
    s.delta(delta(s, [{ op: 'remove', path: '/entities/a~1b' }]));
    expect(s.view.entities).toEqual({ 'c~d': { y: 1, z: true } });
  });

  it('throws on an op that does not apply, and keeps the view and its view_seq', () => {
    for (const bad of [
      [{ op: 'replace', path: '/entities/a/x', value: 2 }, { op: 'replace', path: '/entities/a/nope', value: 1 }],
      [{ op: 'add', path: '/entities/ghost/x', value: 1 }],
      [{ op: 'remove', path: '/entities/ghost' }],
      [{ op: 'replace', path: '/entities/ghost', value: {} }],
      [{ op: 'test', path: '/entities/a/x', value: 99 }],
    ] as WireOp[][]) {
      const s = stateWith({ a: { x: 1 } });
      const before = s.view;
      expect(() => s.delta(delta(s, bad))).toThrow();
      expect(s.view).toBe(before);
      expect(s.view.entities).toEqual({ a: { x: 1 } });
      expect(s.viewSeq).toBe(0);
    }
  });

  it('applies move, copy and ops outside /entities/ID on a whole copy, as before', () => {
    const s = stateWith({ a: { x: 1 }, b: { y: 2 } });
    s.delta(delta(s, [{ op: 'move', from: '/entities/a/x', path: '/entities/b/x' }, { op: 'copy', from: '/entities/b', path: '/entities/c' }]));
    expect(s.view.entities).toEqual({ a: {}, b: { y: 2, x: 1 }, c: { y: 2, x: 1 } });
    expect(s.touched).toBeUndefined();
  });

  const ids = ['a', 'b', 'c/d', 'e~f'];
  const esc = (id: string): string => id.replace(/~/g, '~0').replace(/\//g, '~1');
  const value = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('s', 't'), fc.constant(null), fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 3 }));
  const record = fc.dictionary(fc.constantFrom('x', 'y', 'list'), value, { maxKeys: 3 });
  const path = fc.tuple(fc.constantFrom(...ids), fc.constantFrom('', '/x', '/y', '/list', '/list/0', '/list/-', '/z')).map(([id, rest]) => `/entities/${esc(id)}${rest}`);
  const op: fc.Arbitrary<WireOp> = fc.oneof(
    fc.record({ op: fc.constantFrom('add' as const, 'replace' as const, 'test' as const), path, value: fc.oneof(value, record as fc.Arbitrary<JsonValue>) }),
    fc.record({ op: fc.constant('remove' as const), path }),
    fc.record({ op: fc.constantFrom('move' as const, 'copy' as const), from: path, path }),
  );

  it('gives what fast-json-patch gives on a whole copy, for random op sequences, and its digest stays the whole view\'s', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom(...ids), record, { maxKeys: 4 }), fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }), async (initial, deltas) => {
        const s = stateWith(initial as Record<string, Record<string, JsonValue>>);
        const digester = new ViewDigester();
        await digester.apply(digester.changes(s.view.entities, s.touched));
        for (const ops of deltas) {
          const before = s.view;
          const frozen = deepClone(before) as View;
          const want = reference(before, ops);
          if (want === 'error') {
            expect(() => s.delta(delta(s, ops))).toThrow();
            expect(s.view).toBe(before);
          } else {
            s.delta(delta(s, ops));
            expect(s.view).toEqual(want);
          }
          expect(before).toEqual(frozen);
          expect(await digester.apply(digester.changes(s.view.entities, s.touched))).toBe(await viewDigest(s.view));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('ViewState without reading the views in between', () => {
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const rec = fc.dictionary(fc.constantFrom('x', 'y'), fc.integer({ min: 0, max: 3 }), { maxKeys: 2 });
  const op: fc.Arbitrary<WireOp> = fc.oneof(
    fc.record({ op: fc.constantFrom('add' as const, 'replace' as const), path: fc.constantFrom(...ids).map((id) => `/entities/${id}`), value: rec as fc.Arbitrary<JsonValue> }),
    fc.record({ op: fc.constant('remove' as const), path: fc.constantFrom(...ids).map((id) => `/entities/${id}`) }),
    fc.record({ op: fc.constantFrom('add' as const, 'replace' as const), path: fc.tuple(fc.constantFrom(...ids), fc.constantFrom('x', 'y')).map(([id, k]) => `/entities/${id}/${k}`), value: fc.integer({ min: 0, max: 3 }) }),
  );

  it('gives every view, read late, exactly (key order too) what fast-json-patch gives step by step, and the same digest', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom(...ids), rec, { maxKeys: 3 }), fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 90 }), async (initial, deltas) => {
        const s = stateWith(initial as Record<string, Record<string, JsonValue>>);
        const digester = new ViewDigester();
        await digester.apply(digester.changes(s.view.entities));
        let want = deepClone(s.view) as View;
        const views: Array<[View, string]> = [];
        for (const ops of deltas) {
          const next = reference(want, ops);
          if (next === 'error') {
            expect(() => s.delta(delta(s, ops))).toThrow();
            continue;
          }
          s.delta(delta(s, ops));
          want = next;
          views.push([s.view, JSON.stringify(want)]);
          expect(await digester.apply(digester.changes(entitiesOf(s.view, s.touched!), s.touched))).toBe(await viewDigest(want as { entities: Record<string, unknown> }));
        }
        // Read only now, newest first, then oldest first: each is the view of its own step.
        for (const [v, json] of [...views].reverse()) expect(JSON.stringify(v)).toBe(json);
        for (const [v, json] of views) expect(JSON.stringify({ ...v })).toBe(json);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps views right past the pending changes a view holds before its parent\'s table is built', () => {
    const s = stateWith({ a: { x: 0 } });
    let want: Record<string, JsonValue> = { a: { x: 0 } };
    const views: Array<[View, string]> = [];
    for (let i = 0; i < 150; i++) {
      const ops: WireOp[] = [{ op: 'add', path: `/entities/n${i}`, value: { i } }, { op: 'replace', path: '/entities/a/x', value: i }];
      if (i % 7 === 3) ops.push({ op: 'remove', path: `/entities/n${i - 3}` });
      s.delta(delta(s, ops));
      want = { ...want, [`n${i}`]: { i }, a: { x: i } };
      if (i % 7 === 3) delete want[`n${i - 3}`];
      views.push([s.view, JSON.stringify({ entities: want })]);
    }
    for (const [v, json] of [...views].reverse()) expect(JSON.stringify(v)).toBe(json);
  });
});

describe('ViewDigester', () => {
  it('canonicalises as canonicalize does (RFC 8785), including escapes, non-ASCII text and lone surrogates', () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constantFrom('"', '\\', '\n', '\u007f', '\ud800', '__proto__', 'toJSON'));
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.jsonValue(), text, fc.array(tie('v')), fc.dictionary(text, tie('v'))),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        let want: string | Error;
        try {
          want = canonicalize(v) as string;
        } catch (err) {
          want = err as Error;
        }
        if (want instanceof Error) expect(() => canonicalText(v)).toThrow();
        else expect(canonicalText(v)).toBe(want);
      }),
      { numRuns: 500 },
    );
  });

  it('finds changed entities by identity when no touched set is given', async () => {
    const d = new ViewDigester();
    const a = { x: 1 };
    const v1 = { a, b: { y: 2 } };
    await d.apply(d.changes(v1));
    const ch = d.changes({ a, c: { z: 3 } });
    expect(ch.set.map(([id]) => id)).toEqual(['c']);
    expect(ch.removed).toEqual(['b']);
    expect(await d.apply(ch)).toBe(await viewDigest({ entities: { a, c: { z: 3 } } }));
  });

  it('hashes the same with node:crypto (the default in Node) as with WebCrypto', async () => {
    const node = nodeDigest();
    const web = webCryptoDigest();
    expect(node).toBeDefined();
    expect(defaultDigest()).toBeDefined();
    for (const text of ['', '"a":{"x":1}', '"é":"ü — 😀"']) expect(node!(text)).toBe(await web!(text));
    const view = { entities: { a: { x: 1 }, 'b/c': { y: [1, 'two', null] } } };
    expect(await viewDigest(view, node)).toBe(await viewDigest(view, web));
  });

  it('digest(texts) forgets entities absent from the texts', async () => {
    const d = new ViewDigester();
    await d.digest(ViewDigester.texts({ a: { x: 1 }, b: { y: 2 } }));
    expect(await d.digest(ViewDigester.texts({ b: { y: 2 } }))).toBe(await viewDigest({ entities: { b: { y: 2 } } }));
  });
});
