/**
 * Replay: rebuild a world from its log and check it. The result names the first divergent seq when the replayed
 * state does not match a recorded state hash, when two independent replays disagree (a non-deterministic apply
 * function), or when a snapshot does not match the state the records before it produce.
 */
import { canonicalRecord } from './canonical.js';
import type { Clock, EventLogPort } from './ports.js';
import { RecordApplier, firstStoredSeq, loadSnapshot, restoreRuntime, type Divergence } from './restore.js';
import { WorldRuntime } from './runtime.js';
import { decodeSnapshot } from './snapshot.js';
import { WorldStore } from './state.js';
import type { WorldDefinition } from './world.js';

export interface ReplayOptions {
  /** Stop after this log seq. */
  readonly toSeq?: number;
  /** Replay twice from the first record in lockstep and compare every effect, and check the snapshot. */
  readonly verifyDeterminism?: boolean;
  readonly clock?: Clock;
}

export interface ReplayResult {
  readonly ok: boolean;
  readonly worldId: string;
  /** Log records applied (from the snapshot used, or from the start). */
  readonly records: number;
  readonly globalSeq: number;
  readonly stateHash: string;
  /** Per agent: view_seq and the digest of its view. */
  readonly views: Readonly<Record<string, { readonly view_seq: number; readonly context_digest: string }>>;
  /** Log seq of the snapshot the replay started from (0: from the first record). */
  readonly snapshotSeq: number;
  readonly divergence?: Divergence;
  /** The rebuilt runtime (for inspection; do not submit to it while the log is live elsewhere). */
  readonly runtime: WorldRuntime;
}

const fixedClock: Clock = { now: () => 0 };

function viewsOf(rt: WorldRuntime): Record<string, { view_seq: number; context_digest: string }> {
  const out: Record<string, { view_seq: number; context_digest: string }> = {};
  for (const id of [...rt.agents.keys()].sort()) {
    const o = rt.observe(id);
    out[id] = { view_seq: o.view_seq, context_digest: o.context_digest };
  }
  return out;
}

const canonOf = (store: WorldStore, id: string): string => {
  const r = store.get(id);
  return r === undefined ? '' : canonicalRecord(r);
};

/** Rebuilds the world recorded in `log` and reports whether it replays deterministically. */
export async function replayWorld(world: WorldDefinition, log: EventLogPort, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const ropts = { world, log, clock: opts.clock ?? fixedClock };
  const make = (store: WorldStore): WorldRuntime => WorldRuntime.create(ropts, store);
  const main = await restoreRuntime(ropts, make, { verify: true, ...(opts.toSeq !== undefined ? { toSeq: opts.toSeq } : {}) });
  let divergence = main.applier.divergence;
  const rt = main.runtime;
  // After compaction the records before the older kept snapshot are gone: the two lockstep replays then both start
  // from it, and it can no longer be checked against a replay from the first record.
  const compacted = opts.verifyDeterminism === true && main.snapshotSeq > 0 && (firstStoredSeq(log) ?? 1) > 1;
  if (opts.verifyDeterminism && divergence === undefined) divergence = lockstep(ropts, make, opts.toSeq, compacted);
  if (opts.verifyDeterminism && divergence === undefined && main.snapshotSeq > 0 && !compacted) {
    // The replay that started from the snapshot and the one from genesis must end in the same place.
    const full = await restoreRuntime(ropts, make, { verify: false, ignoreSnapshot: true, ...(opts.toSeq !== undefined ? { toSeq: opts.toSeq } : {}) });
    const reason = 'replay from the snapshot differs from replay from the start';
    const d = { seq: main.snapshotSeq, global_seq: rt.lastGlobalSeq, matched_global_seq: 0 };
    if (full.runtime.stateHash() !== rt.stateHash()) divergence = { ...d, expected: full.runtime.stateHash(), actual: rt.stateHash(), reason };
    else {
      // The same state, other views: name the first agent whose view differs (the state hashes would say nothing).
      const a = viewsOf(full.runtime);
      const b = viewsOf(rt);
      const text = (v: { view_seq: number; context_digest: string } | undefined): string => (v ? `view_seq ${v.view_seq}, context_digest ${v.context_digest}` : 'no view');
      const id = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().find((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
      if (id !== undefined) divergence = { ...d, expected: text(a[id]), actual: text(b[id]), reason: `${reason} on agent ${id}'s view (the state is the same: an observation predicate or fields function that is not deterministic?)` };
    }
  }
  return {
    ok: divergence === undefined,
    worldId: log.meta.worldId,
    records: main.applier.records,
    globalSeq: rt.lastGlobalSeq,
    stateHash: rt.stateHash(),
    views: viewsOf(rt),
    snapshotSeq: main.snapshotSeq,
    runtime: rt,
    ...(divergence ? { divergence } : {}),
  };
}

/**
 * Two replays from the first record (when `fromSnapshot`, the log was compacted: from the oldest kept snapshot the
 * records still follow, at or before toSeq), compared after every effect on the entities it changed. Every other kept
 * snapshot up to toSeq is checked against the state the records before it produce.
 */
function lockstep(
  ropts: { world: WorldDefinition; log: EventLogPort; clock: Clock },
  make: (s: WorldStore) => WorldRuntime,
  toSeq: number | undefined,
  fromSnapshot: boolean,
): Divergence | undefined {
  const to = toSeq ?? Infinity;
  const kept = ropts.log.snapshots();
  const first = firstStoredSeq(ropts.log) ?? 1;
  const start = fromSnapshot ? [...kept].reverse().find((s) => s.anchorSeq >= first - 1 && s.anchorSeq <= to) : undefined;
  const checks = new Map(kept.filter((s) => s.anchorSeq > (start?.anchorSeq ?? 0) && s.anchorSeq <= to).map((s) => [s.anchorSeq, s]));
  const doc = start ? decodeSnapshot(start.state, ropts.log.meta.worldId) : undefined;
  const build = (): WorldRuntime => {
    const rt = make(new WorldStore(doc ? doc.state : ropts.world.initialState));
    if (doc) loadSnapshot(rt, doc);
    return rt;
  };
  const a = new RecordApplier(build(), true);
  const b = new RecordApplier(build(), false);
  for (const rec of ropts.log.records(start ? start.anchorSeq + 1 : undefined, toSeq)) {
    if (toSeq !== undefined && rec.seq > toSeq) break;
    const ra = a.apply(rec);
    const rb = b.apply(rec);
    if (a.divergence) return a.divergence;
    if (ra && rb) {
      const ids = new Set([...ra.changes.entities.map((c) => c.id), ...rb.changes.entities.map((c) => c.id)]);
      for (const id of ids) {
        const x = canonOf(a.rt.store, id);
        const y = canonOf(b.rt.store, id);
        if (x !== y) return { seq: rec.seq, global_seq: ra.effect.global_seq, matched_global_seq: ra.effect.global_seq - 1, expected: x, actual: y, reason: `two replays disagree on entity ${id}` };
      }
      if (a.rt.store.tick !== b.rt.store.tick) return { seq: rec.seq, global_seq: ra.effect.global_seq, matched_global_seq: ra.effect.global_seq - 1, expected: String(a.rt.store.tick), actual: String(b.rt.store.tick), reason: 'two replays disagree on the tick' };
      // Relationships, metadata and generator states are not entities: compare the whole state when either replay
      // changed one of them (the hash recomputes only the entities that changed).
      if (ra.changes.relationshipsChanged || rb.changes.relationshipsChanged || ra.changes.restChanged || rb.changes.restChanged) {
        const x = a.rt.store.hash();
        const y = b.rt.store.hash();
        if (x !== y) return { seq: rec.seq, global_seq: ra.effect.global_seq, matched_global_seq: ra.effect.global_seq - 1, expected: x, actual: y, reason: 'two replays disagree on relationships, metadata or a generator state' };
      }
    }
    const snap = checks.get(rec.seq);
    if (snap) {
      const doc = decodeSnapshot(snap.state, ropts.log.meta.worldId);
      const expected = new WorldStore(doc.state).hash();
      const actual = a.rt.store.hash();
      if (expected !== actual || doc.global_seq !== a.rt.lastGlobalSeq) {
        return { seq: rec.seq, global_seq: a.rt.lastGlobalSeq, matched_global_seq: a.matched, expected, actual, reason: 'the snapshot does not match the state its records produce' };
      }
      a.matched = a.rt.lastGlobalSeq;
    }
  }
  return undefined;
}
