import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { ObservationDelta } from '../../server/core/types.js';
import { fragmentRange, newFragmentRange } from '../../server/core/delta-fragments.js';
import { move, oneQuantumOfMoves, openWorld, planeWorld } from './helpers/worlds.js';

describe('observation', () => {
  it('adds an entity entering range, replaces its fields while in range, removes it on leaving', async () => {
    const { rt } = await openWorld(planeWorld([[0, 0], [300, 0]]), { agents: ['a0', 'a1'] });
    const seen: ObservationDelta[] = [];
    rt.onDelivery((d) => seen.push(...d.deltas.filter((x) => x.agent_id === 'a0')));
    const step = async (x: number): Promise<ObservationDelta | undefined> => {
      seen.length = 0;
      const p = rt.emit({ kind: 'Move', payload: { entity_id: 'a1', x, y: 0 }, source_id: 'gm' });
      await rt.flush();
      await p;
      return seen[0];
    };
    expect(await step(250)).toBeUndefined();
    const enter = await step(90);
    expect(enter?.ops).toEqual([{ op: 'add', path: '/entities/a1', value: { x: 90, y: 0, hp: 100 } }]);
    const change = await step(50);
    expect(change?.ops).toEqual([{ op: 'replace', path: '/entities/a1/x', value: 50 }]);
    const leave = await step(500);
    expect(leave?.ops).toEqual([{ op: 'remove', path: '/entities/a1' }]);
    expect(leave && leave.view_seq - leave.from_seq).toBe(1);
  });

  it('a predicate or fields function that throws hides what it was asked about (fail closed); the quantum commits and is delivered, and a restart sees the same', async () => {
    // World code reading a field some records lack (`t.record.team.toString()` on an entity spawned without a team), or
    // taking a field for a string when it is not.
    const team = (r: unknown): string => (r as { team: string }).team;
    const world = planeWorld([[0, 0], [10, 0]], {
      policies: {
        observation: {
          distance: { radius: 100 },
          predicates: [(_o, t) => !team(t.record).toString().includes('ghost')],
          fields: (_o, t) => (team(t.record).startsWith('r') ? undefined : ['x', 'y']),
        },
      },
      initialState: { entities: { a0: { x: 0, y: 0, team: 'red' }, a1: { x: 10, y: 0, team: 'red' }, a2: { x: 20, y: 0 } }, metadata: {} },
    });
    const { rt, log, clock } = await openWorld(world, { agents: ['a0'] });
    expect(Object.keys(rt.observe('a0').view.entities).sort()).toEqual(['a0', 'a1']);
    const seen: ObservationDelta[] = [];
    rt.onDelivery((d) => seen.push(...d.deltas));
    const spawned = rt.emit({ kind: 'Spawn', payload: { entity_id: 'n', fields: { x: 5, y: 5 } }, source_id: 'gm' });
    const moved = rt.emit({ kind: 'SetAttributes', payload: { entity_id: 'a1', set: { team: 7 } }, source_id: 'gm' });
    await rt.flush();
    expect((await spawned).status).toBe('committed');
    expect((await moved).status).toBe('committed');
    // a1's team is now a number: the predicate passes (no throw), fields throws (startsWith), so no field is shown.
    expect(rt.observe('a0').view.entities).toEqual({ a0: { x: 0, y: 0, team: 'red' }, a1: {} });
    expect(seen.map((d) => d.agent_id)).toEqual(['a0']);
    const next = rt.submit(move('a0', 1, 0, rt.viewSeq('a0')));
    await rt.flush();
    expect((await next).status).toBe('committed');
    const again = await openWorld(world, { log: log.reopen(), clock });
    expect(again.rt.observe('a0')).toEqual(rt.observe('a0'));
  });

  it('a fields function that names a field the record lacks, or answers something other than a list, shows no such field', async () => {
    const world = planeWorld([[0, 0], [10, 0], [20, 0]], {
      policies: { observation: { distance: { radius: 100 }, fields: (_o, t) => (t.id === 'a1' ? ['x', 'toString', 'constructor'] : t.id === 'a2' ? (null as never) : undefined) } },
    });
    const { rt } = await openWorld(world, { agents: ['a0'] });
    const view = rt.observe('a0').view.entities;
    expect(view).toEqual({ a0: { x: 0, y: 0, hp: 100 }, a1: { x: 10 }, a2: {} });
    expect(Object.keys(view['a1'] ?? {})).toEqual(['x']);
  });

  it('escapes entity ids in paths per RFC 6901', async () => {
    const { rt } = await openWorld(planeWorld([[0, 0]]), { agents: ['a0'] });
    const got: ObservationDelta[] = [];
    rt.onDelivery((d) => got.push(...d.deltas));
    const p = rt.emit({ kind: 'Spawn', payload: { entity_id: 'x/y~z', fields: { x: 1, y: 1 } }, source_id: 'gm' });
    await rt.flush();
    await p;
    expect(got[0]?.ops[0]?.path).toBe('/entities/x~1y~0z');
  });

  it('sends a snapshot (one root replace that still applies strictly) when a delta exceeds max_patch_ops', async () => {
    const world = planeWorld([[0, 0]], { policies: { observation: { distance: { radius: 100 } }, maxPatchOps: 3 } });
    const { rt } = await openWorld(world, { agents: ['a0'] });
    const before = structuredClone(rt.observe('a0').view);
    const got: ObservationDelta[] = [];
    rt.onDelivery((d) => got.push(...d.deltas));
    const ps = [1, 2, 3, 4].map((i) => rt.emit({ kind: 'Spawn', payload: { entity_id: `n${i}`, fields: { x: i, y: i } }, source_id: 'gm' }));
    await rt.flush();
    await Promise.all(ps);
    const d = got[0] as ObservationDelta;
    expect(d.snapshot).toBe(true);
    expect(d.ops).toHaveLength(1);
    const applied = jsonpatch.applyPatch(before, structuredClone(d.ops) as jsonpatch.Operation[], true, false).newDocument;
    expect(applied).toEqual(rt.observe('a0').view);
    expect(Object.keys(applied.entities)).toHaveLength(5);
  });

  it('shares op objects and encoded fragments between agents that see the same change', async () => {
    const { rt } = await openWorld(planeWorld([[0, 0], [10, 0], [20, 0]]), { agents: ['a0', 'a1'] });
    const got: ObservationDelta[] = [];
    rt.onDelivery((d) => got.push(...d.deltas));
    const p = rt.emit({ kind: 'Move', payload: { entity_id: 'a2', dx: 1, dy: 0 }, source_id: 'gm' });
    await rt.flush();
    await p;
    expect(got).toHaveLength(2);
    expect(got[0]?.ops[0]).toBe(got[1]?.ops[0]);
    expect(got[0]?.fragments[0]).toBe(got[1]?.fragments[0]);
  });

  it('gives a delta\'s fragments in place (fragmentRange) as the same pieces as its fragments array', async () => {
    const { deltas: got } = await oneQuantumOfMoves();
    expect(got.length).toBeGreaterThan(1);
    const tables = new Set<unknown>();
    for (const d of got) {
      const r = fragmentRange(d, newFragmentRange());
      // Listed by number in the flush's table, one table for the whole flush.
      expect(r.table).toBeDefined();
      tables.add(r.table);
      expect(r.count).toBe(d.fragments.length);
      for (let i = 0; i < r.count; i++) expect(r.table!.frags[r.idx![r.start + i]!]).toBe(d.fragments[i]);
    }
    expect(tables.size).toBe(1);
    const plain = { fragments: got[0]!.fragments };
    expect(fragmentRange(plain, newFragmentRange())).toEqual({ table: undefined, idx: undefined, store: plain.fragments, start: 0, count: plain.fragments.length });
  });
});
