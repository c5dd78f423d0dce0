import { describe, expect, it } from 'vitest';
import { ClientView, compareViews, missingWithinRadius, outsideRadius } from '../../bench/arena/view.js';

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
