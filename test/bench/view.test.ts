import { describe, expect, it } from 'vitest';
import { ClientView, compareViews, missingWithinRadius, outsideRadius } from '../../bench/arena/view.js';
import { PathTable, SUBPROTOCOLS, WireSession, createWorldCodecs, type WireOp } from '../../server/protocol/index.js';

const snap = { entities: { e000000: { x: 100, y: 100, hp: 100 }, e000001: { x: 200, y: 100, hp: 100 } } };

describe('ClientView: strictly patched views', () => {
  it('applies add, replace and remove of entities and fields', () => {
    const v = new ClientView();
    expect(v.reset(snap, 3)).toBeUndefined();
    expect(v.apply(3, 5, [
      { op: 'replace', path: '/entities/e000000/x', value: 101.5 },
      { op: 'add', path: '/entities/e000002', value: { x: 150, y: 150, hp: 100 } },
      { op: 'remove', path: '/entities/e000001' },
      { op: 'add', path: '/entities/e000000/said', value: 'hi' },
    ], 17)).toBeUndefined();
    expect(v.viewSeq).toBe(5);
    expect(v.tick).toBe(17);
    expect(Object.fromEntries(v.entities)).toEqual({ e000000: { x: 101.5, y: 100, hp: 100, said: 'hi' }, e000002: { x: 150, y: 150, hp: 100 } });
  });

  it('refuses a gap or a replayed delta', () => {
    const v = new ClientView();
    v.reset(snap, 3);
    expect(v.apply(4, 5, [], 1)).toBe('gap');
    expect(v.apply(2, 3, [], 1)).toBe('gap');
    expect(v.viewSeq).toBe(3);
  });

  it('refuses ops RFC 6902 would tolerate but a correct stream never sends', () => {
    const v = new ClientView();
    v.reset(snap, 0);
    expect(v.apply(0, 1, [{ op: 'add', path: '/entities/e000000', value: { x: 1, y: 1 } }], 1)).toBe('bad-op'); // add over a present entity
    expect(v.apply(0, 1, [{ op: 'remove', path: '/entities/e000009' }], 1)).toBe('bad-op');
    expect(v.apply(0, 1, [{ op: 'replace', path: '/entities/e000000/mana', value: 1 }], 1)).toBe('bad-op');
    expect(v.apply(0, 1, [{ op: 'replace', path: '/metadata/x', value: 1 }], 1)).toBe('bad-path');
    expect(v.apply(0, 1, [{ op: 'move', from: '/entities/e000000', path: '/entities/e000003' }], 1)).toBe('bad-op');
    // A field every object inherits is still absent from the record: replacing or removing it is refused, adding it is not.
    expect(v.apply(0, 1, [{ op: 'replace', path: '/entities/e000000/constructor', value: 1 }], 1)).toBe('bad-op');
    expect(v.apply(0, 1, [{ op: 'remove', path: '/entities/e000000/toString' }], 1)).toBe('bad-op');
    expect(v.apply(0, 1, [{ op: 'add', path: '/entities/e000000/toString', value: 'x' }], 1)).toBeUndefined();
  });

  it('unescapes JSON pointer tokens', () => {
    const v = new ClientView();
    v.reset({ entities: {} }, 0);
    expect(v.apply(0, 1, [{ op: 'add', path: '/entities/a~1b~0c', value: { x: 0, y: 0 } }], 1)).toBeUndefined();
    expect(v.entities.has('a/b~c')).toBe(true);
  });

  it('copies are independent of later deltas', () => {
    const v = new ClientView();
    v.reset(snap, 0);
    const c = v.copy();
    v.apply(0, 1, [{ op: 'replace', path: '/entities/e000000/x', value: 1 }], 1);
    expect(c.get('e000000')!['x']).toBe(100);
  });
});

describe('ClientView as the decoder\'s visitor (ops applied as they are decoded)', () => {
  const deltas: Array<[number, number, WireOp[]]> = [
    [3, 5, [
      { op: 'replace', path: '/entities/e000000/x', value: 101.5 },
      { op: 'add', path: '/entities/e000002', value: { x: 150, y: 150, hp: 100 } },
      { op: 'remove', path: '/entities/e000001' },
      { op: 'add', path: '/entities/e000000/said', value: 'hi' },
    ]],
    [5, 6, [{ op: 'replace', path: '/entities/e000002/y', value: -3 }, { op: 'remove', path: '/entities/e000000/said' }]],
  ];

  for (const sub of SUBPROTOCOLS) {
    it(`${sub}: ends in the view apply() reaches, and refuses the same gap and bad op`, () => {
      // Two worlds with their own path tables: a path id means different paths in each, and the views of one process
      // share their parsed paths by id.
      const shifted = new PathTable();
      shifted.intern('/entities/e000009/pad');
      for (const table of [new PathTable(), shifted]) {
        const codec = createWorldCodecs(table)[sub];
        const server = new WireSession();
        const client = new WireSession();
        const visited = new ClientView();
        const applied = new ClientView();
        visited.reset(snap, 3);
        applied.reset(snap, 3);
        for (const [from, to, ops] of deltas) {
          const frame = codec.assembleDelta(server, { view_seq: to, from_seq: from, context_digest: '', sim_time: to * 10 }, [codec.encodeFragment(ops)]);
          const msg = codec.decodeServer(frame, client, visited);
          expect(msg.type === 'observation_delta' && msg.ops).toEqual([]);
          expect(visited.endDelta(to * 10)).toBeUndefined();
          expect(applied.apply(from, to, ops, to * 10)).toBeUndefined();
          expect([visited.viewSeq, visited.tick]).toEqual([applied.viewSeq, applied.tick]);
          expect(Object.fromEntries(visited.entities)).toEqual(Object.fromEntries(applied.entities));
        }
        expect(Object.fromEntries(visited.entities)).toEqual({ e000000: { x: 101.5, y: 100, hp: 100 }, e000002: { x: 150, y: -3, hp: 100 } });
        const frameAt = (from: number, ops: WireOp[]): string | Uint8Array => codec.assembleDelta(server, { view_seq: from + 1, from_seq: from, context_digest: '' }, [codec.encodeFragment(ops)]);
        // A gap: nothing applied, the view stays at 6.
        codec.decodeServer(frameAt(7, [{ op: 'replace', path: '/entities/e000002/x', value: 1 }]), client, visited);
        expect(visited.endDelta(0)).toBe('gap');
        expect([visited.viewSeq, visited.entities.get('e000002')!['x']]).toEqual([6, 150]);
        // An op a correct stream never sends stops the delta there.
        codec.decodeServer(frameAt(6, [{ op: 'remove', path: '/entities/e000009' }, { op: 'replace', path: '/entities/e000002/x', value: 1 }]), client, visited);
        expect(visited.endDelta(0)).toBe('bad-op');
        expect([visited.viewSeq, visited.entities.get('e000002')!['x']]).toEqual([6, 150]);
      }
    });
  }

  it('after a frame that failed to decode, abandonDelta says whether its ops were being applied', () => {
    const v = new ClientView();
    v.reset(snap, 0);
    expect(v.abandonDelta()).toBe(false);
    v.delta(0, 1);
    v.op(3, -1, '/entities/e000000/x', 7);
    expect(v.abandonDelta()).toBe(true);
    expect(v.abandonDelta()).toBe(false);
  });
});

describe('correctness checks', () => {
  it('flags entities outside the radius, and a view without its own entity', () => {
    const v = new ClientView();
    v.reset({ entities: { e000000: { x: 0, y: 0 }, e000001: { x: 90, y: 120 }, e000002: { x: 90, y: 121 } } }, 0);
    // 90^2 + 120^2 = 150^2 exactly: on the boundary is inside.
    expect(outsideRadius(v.entities, 'e000000', 150)).toEqual(['e000002']);
    expect(outsideRadius(v.entities, 'e000009', 150)).toEqual(['e000009']);
  });

  it('finds entities within the radius the view lacks, from positions known elsewhere', () => {
    const mine = new Map([['e000000', { x: 0, y: 0 }]]);
    const known = new Map([['e000000', { x: 0, y: 0 }], ['e000001', { x: 100, y: 0 }], ['e000002', { x: 151, y: 0 }]]);
    expect(missingWithinRadius(mine, known, 'e000000', 150)).toEqual(['e000001']);
  });

  it('compares a client view with the server truth field by field', () => {
    const client = new Map([['e000000', { x: 1, y: 2, hp: 100 }], ['e000001', { x: 5, y: 5, hp: 99 }], ['e000003', { x: 0, y: 0, hp: 1 }]]);
    const truth = { entities: { e000000: { x: 1, y: 2, hp: 100 }, e000001: { x: 5, y: 5, hp: 100 }, e000002: { x: 9, y: 9, hp: 100 } } };
    expect(compareViews(client, truth)).toEqual({ equal: false, missing: ['e000002'], extra: ['e000003'], differing: ['e000001'] });
    expect(compareViews(new Map([['e000000', { x: 1, y: 2, hp: 100 }]]), { entities: { e000000: { hp: 100, y: 2, x: 1 } } }).equal).toBe(true);
    expect(compareViews(new Map([['e000000', { x: 1, y: 2 }]]), { entities: { e000000: { x: 1, y: 2, hp: 1 } } }).equal).toBe(false);
  });
});
