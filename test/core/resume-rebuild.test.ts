/**
 * Rebuilding the deltas of a log's tail (restoreRuntime with `rebuild`, what a host uses to serve clients that resume
 * across a restart): for a log written by a live runtime, the rebuilt deltas are the ones the live quanta delivered,
 * quantum by quantum, for every quantum in the rebuilt tail: the same headers and snapshots, the same ops (compared
 * per entity where the replay started elsewhere than the live run, in the same order where it started at the same
 * point), and the restored runtime ends where the live one did.
 */
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { restoreRuntime } from '../../server/core/restore.js';
import { WorldRuntime, type RuntimeOptions } from '../../server/core/runtime.js';
import type { ObservationDelta } from '../../server/core/types.js';
import type { ObservationPolicy, WorldSpec, WorldSystem } from '../../server/core/world.js';
import { MemoryLog, ManualClock } from './helpers/memory-log.js';
import { planeWorld } from './helpers/worlds.js';

const drift: WorldSystem = {
  name: 'drift',
  run: ({ rng, state }) => (state.has('npc') ? [{ kind: 'Move', payload: { entity_id: 'npc', dx: rng.int(-30, 30), dy: rng.int(-30, 30) }, source_id: 'drift' }] : []),
};

const spec = (observation: ObservationPolicy): Partial<WorldSpec> => ({
  systems: [drift],
  initialState: {
    entities: { a0: { x: 10, y: 10, hp: 1 }, a1: { x: 40, y: 40, hp: 2 }, a2: { x: 80, y: 80, hp: 3 }, a3: { x: 60, y: 20, hp: 4 }, npc: { x: 50, y: 50, hp: 5 }, rock: { x: 90, y: 10 } },
    metadata: { bounds: { min_x: 0, min_y: 0, max_x: 200, max_y: 200 } },
  },
  validators: [{ rule: 'no_big_steps', kinds: ['Move'], check: (d) => (d.agent_id !== undefined && Math.abs((d.payload as { dx?: number }).dx ?? 0) > 8 ? 'too far' : undefined) }],
  // Few ops per delta before it becomes a snapshot, so rebuilt snapshots are covered too.
  policies: { observation, stateHashEvery: 3, maxPatchOps: 3, agentClasses: { default: { stalenessThreshold: 1000 } } },
});

/** The pure-distance fast path, and the general path (fields projected per observer). */
const worlds = {
  distance: planeWorld([], spec({ distance: { radius: 50, cellSize: 100 } })),
  fields: planeWorld([], spec({ distance: { radius: 60 }, fields: (o, t) => (o.id === t.id ? undefined : ['x', 'y']) })),
};

type Op =
  | { t: 'moves'; moves: Array<{ a: number; dx: number; dy: number }> }
  | { t: 'bad'; a: number }
  | { t: 'emit'; a: number }
  | { t: 'rock'; k: number; x: number; y: number }
  | { t: 'tick' }
  | { t: 'flush' }
  | { t: 'join'; a: number }
  | { t: 'snapshot' };

const step = fc.integer({ min: -8, max: 8 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('moves' as const), moves: fc.array(fc.record({ a: fc.nat(3), dx: step, dy: step }), { minLength: 1, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('bad' as const), a: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('emit' as const), a: fc.nat(3) }) },
  // Rocks appear, move and vanish (Despawn when x < 0): entities enter and leave views and the grid's cells.
  { weight: 2, arbitrary: fc.record({ t: fc.constant('rock' as const), k: fc.nat(2), x: fc.integer({ min: -40, max: 120 }), y: fc.integer({ min: 0, max: 120 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('tick' as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('flush' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('join' as const), a: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('snapshot' as const) }) },
);

/** What a client receives of a delta: its header and its ops (the ops array is assembled from the fragments). */
function wire(d: ObservationDelta) {
  return { agent_id: d.agent_id, from_seq: d.from_seq, view_seq: d.view_seq, global_seq: d.global_seq, sim_time: d.sim_time, wall_time: d.wall_time, snapshot: d.snapshot, context_digest: d.context_digest, ops: d.ops };
}

/**
 * A delta with its ops grouped by entity, the groups in id order. Which order ops on different entities come in
 * follows the engine's grid and view layout, which depends on the history since the process (or replay) started:
 * a replay that starts from another point may list them in another order. They commute (each entity's ops are one
 * group), so the view and its digest are the same.
 */
/** A quantum's deltas in agent order, each with its ops grouped by entity in id order. */
function byAgent(q: ReturnType<typeof wire>[]): ReturnType<typeof wire>[] {
  return q.map(byEntity).sort((a, b) => (a.agent_id < b.agent_id ? -1 : a.agent_id > b.agent_id ? 1 : 0));
}

function byEntity(d: ReturnType<typeof wire>): ReturnType<typeof wire> {
  const entity = (path: string): string => path.split('/')[2] ?? '';
  const groups: Array<{ id: string; ops: typeof d.ops[number][] }> = [];
  for (const op of d.ops) {
    const id = entity(op.path);
    const g = groups[groups.length - 1];
    if (g && g.id === id) g.ops.push(op);
    else groups.push({ id, ops: [op] });
  }
  groups.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { ...d, ops: groups.flatMap((g) => g.ops) };
}

interface Quantum {
  /** The log records it appended: (before, after]. */
  readonly before: number;
  readonly after: number;
  deltas: ReturnType<typeof wire>[];
}

/** The log seq of a quantum's first effect (its deltas are rebuilt when that is in the tail), or Infinity. */
function firstEffect(log: MemoryLog, q: Quantum): number {
  for (const r of log.records(q.before + 1, q.after)) if (r.kind === 'effect') return r.seq;
  return Infinity;
}

/** Runs the ops live (each quantum at its own clock time), recording each quantum's records and delivered deltas. */
async function live(world: (typeof worlds)[keyof typeof worlds], ops: readonly Op[]) {
  const log = new MemoryLog('w-resume', world.seed);
  const clock = new ManualClock();
  const rt = await WorldRuntime.open({ world, log, clock });
  const quanta: Quantum[] = [];
  let delivered = 0;
  rt.onDelivery((d) => void ((quanta[delivered++] as Quantum).deltas = d.deltas.map(wire)));
  const quantum = async (advance: boolean): Promise<void> => {
    clock.advance(10);
    const before = log.lastSeq;
    const p = advance ? rt.tick() : rt.flush();
    quanta.push({ before, after: log.lastSeq, deltas: [] });
    await p;
  };
  await rt.registerAgent('a0');
  let n = 0;
  for (const op of ops) {
    const agents = [...rt.agents.keys()].sort();
    const agentOf = (k: number): string => agents[k % agents.length] as string;
    switch (op.t) {
      case 'moves': {
        const ps = op.moves.map((m) => {
          const a = agentOf(m.a);
          return rt.submit({ req_id: `r${++n}`, agent_id: a, kind: 'Move', payload: { dx: m.dx, dy: m.dy }, context_seq: rt.viewSeq(a) });
        });
        await quantum(false);
        await Promise.all(ps);
        break;
      }
      case 'rock': {
        const id = `rock${op.k}`;
        const draft = op.x < 0
          ? { kind: 'Despawn', payload: { entity_id: id } }
          : rt.entity(id) ? { kind: 'Move', payload: { entity_id: id, x: op.x, y: op.y } } : { kind: 'Spawn', payload: { entity_id: id, fields: { x: op.x, y: op.y } } };
        const p = rt.emit({ ...draft, source_id: 'geology' });
        await quantum(false);
        await p;
        break;
      }
      case 'bad': {
        // Rejected at commit: an outcome record inside the quantum, no effect.
        const a = agentOf(op.a);
        const p = rt.submit({ req_id: `r${++n}`, agent_id: a, kind: 'Move', payload: { dx: 9, dy: 0 }, context_seq: rt.viewSeq(a) });
        await quantum(false);
        await p;
        break;
      }
      case 'emit': {
        const p = rt.emit({ kind: 'Speak', payload: { entity_id: agentOf(op.a), text: `m${n++}` }, source_id: 'narrator' });
        await quantum(false);
        await p;
        break;
      }
      case 'tick':
        await quantum(true);
        break;
      case 'flush':
        await quantum(false);
        break;
      case 'join':
        await rt.registerAgent(`a${op.a}`);
        break;
      case 'snapshot':
        await rt.snapshot();
        break;
    }
  }
  await rt.drain();
  const views = Object.fromEntries([...rt.agents.keys()].sort().map((a) => [a, rt.observe(a)]));
  return { log, clock, quanta, views, globalSeq: rt.lastGlobalSeq };
}

async function rebuild(world: (typeof worlds)[keyof typeof worlds], log: MemoryLog, clock: ManualClock, resumeTail: number) {
  const rebuilt: ReturnType<typeof wire>[][] = [];
  const ropts: RuntimeOptions = { world, log: log.reopen(), clock };
  const r = await restoreRuntime(ropts, (store) => WorldRuntime.create(ropts, store), { verify: true, throwOnDivergence: true, rebuild: { tail: resumeTail, onDeltas: (ds) => void rebuilt.push(ds.map(wire)) } });
  const views = Object.fromEntries([...r.runtime.agents.keys()].sort().map((a) => [a, r.runtime.observe(a)]));
  return { rebuilt, snapshotSeq: r.snapshotSeq, views, globalSeq: r.runtime.lastGlobalSeq };
}

describe('rebuilding the deltas of the log tail', () => {
  for (const [name, world] of Object.entries(worlds)) {
    it(`gives exactly the live quanta's deltas for every quantum in the tail (${name} policy)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 8, maxLength: 80 }), fc.double({ min: 0.05, max: 1.2, noNaN: true }), async (ops, frac) => {
          const run = await live(world, ops);
          const resumeTail = Math.max(1, Math.round(frac * run.log.lastSeq));
          const r = await rebuild(world, run.log, run.clock, resumeTail);
          // The tail is the records after both the start point and lastSeq - resumeTail; a quantum whose effects are
          // all in it comes back (records of other kinds, such as a rejection's outcome, carry no view change).
          const from = Math.max(run.log.lastSeq - resumeTail, r.snapshotSeq);
          const expected = run.quanta.filter((q) => firstEffect(run.log, q) > from && q.deltas.length > 0).map((q) => q.deltas);
          // A quantum's deltas for different agents may come in another order too (the order the engine reached the
          // agents in, a layout a restart rebuilds): each agent's delta is what is compared.
          expect(r.rebuilt.map(byAgent)).toEqual(expected.map(byAgent));
          // Replayed from where the live run started, quantum by quantum: the very same ops in the same order.
          if (from === 0) expect(r.rebuilt).toEqual(expected);
          expect(r.globalSeq).toBe(run.globalSeq);
          expect(r.views).toEqual(run.views);
        }),
        { numRuns: 150 },
      );
    });
  }

  it('starts from an older snapshot when the newest leaves too short a tail (a graceful restart), within the replay budget', async () => {
    const world = worlds.distance;
    const ops: Op[] = [];
    for (let i = 0; i < 30; i++) ops.push({ t: 'join', a: i % 4 }, { t: 'moves', moves: [{ a: i, dx: (i % 5) - 2, dy: 1 }] }, { t: 'tick' });
    ops.splice(30, 0, { t: 'snapshot' });
    ops.push({ t: 'snapshot' });
    const run = await live(world, ops);
    const [newest, older] = run.log.snapshots();
    expect(newest!.anchorSeq).toBe(run.log.lastSeq);
    const withDeltas = run.quanta.filter((q) => q.deltas.length > 0);
    // A tail the older snapshot covers: replayed from it, every quantum after the tail's start rebuilt.
    const tail = run.log.lastSeq - older!.anchorSeq - 5;
    const a = await rebuild(world, run.log, run.clock, tail);
    expect(a.snapshotSeq).toBe(older!.anchorSeq);
    expect(a.rebuilt.map((q) => q.map(byEntity))).toEqual(withDeltas.filter((q) => firstEffect(run.log, q) > run.log.lastSeq - tail).map((q) => q.deltas.map(byEntity)));
    expect(a.rebuilt.length).toBeGreaterThan(3);
    // A tail longer than everything after the older snapshot: from the first record (the log still holds it).
    const b = await rebuild(world, run.log, run.clock, run.log.lastSeq - older!.anchorSeq + 20);
    expect(b.snapshotSeq).toBe(0);
    expect(b.rebuilt.map((q) => q.map(byEntity))).toEqual(withDeltas.filter((q) => firstEffect(run.log, q) > older!.anchorSeq - 20).map((q) => q.deltas.map(byEntity)));
    // A start point more than 4 tails back is too slow to replay: the newest snapshot, as without a tail.
    const c = await rebuild(world, run.log, run.clock, 3);
    expect(c.snapshotSeq).toBe(newest!.anchorSeq);
    expect(c.rebuilt).toEqual([]);
    for (const r of [a, b, c]) expect(r.views).toEqual(run.views);
  });

  it('after a start from a snapshot, lists ops on different entities perhaps in another order: the same ops, the same view', async () => {
    // a1 leaves the cell it shares with a2 and comes back behind it; the snapshot knows nothing of that order.
    const world = planeWorld([[10, 10], [20, 20], [30, 30]], { policies: { observation: { distance: { radius: 100, cellSize: 100 } } } });
    const log = new MemoryLog('w-order', world.seed);
    const clock = new ManualClock();
    const rt = await WorldRuntime.open({ world, log, clock });
    await rt.registerAgent('a0');
    const delivered: ObservationDelta[] = [];
    rt.onDelivery((d) => void delivered.push(...d.deltas));
    const moves = async (to: Array<[string, number, number]>): Promise<void> => {
      clock.advance(10);
      const ps = to.map(([id, x, y]) => rt.emit({ kind: 'Move', payload: { entity_id: id, x, y }, source_id: 'mover' }));
      await rt.flush();
      await Promise.all(ps);
    };
    await moves([['a1', 150, 20]]);
    await moves([['a1', 20, 20]]);
    await rt.snapshot();
    const before = structuredClone(rt.observe('a0').view);
    await moves([['a0', 11, 11], ['a1', 21, 21], ['a2', 31, 31]]);
    const r = await rebuild(world, log, clock, 3);
    expect(r.snapshotSeq).toBe(log.snapshots()[0]!.anchorSeq);
    const live = wire(delivered.at(-1)!);
    const again = r.rebuilt.at(-1)!.at(-1)!;
    expect(byEntity(again)).toEqual(byEntity(live));
    const apply = (ops: readonly unknown[]) => fastJsonPatch.applyPatch(structuredClone(before), structuredClone(ops) as never, true, false).newDocument;
    expect(apply(again.ops)).toEqual(apply(live.ops));
    expect(apply(again.ops)).toEqual(rt.observe('a0').view);
  });
});
