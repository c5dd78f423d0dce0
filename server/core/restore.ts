/**
 * Rebuilding a runtime from its log: load a snapshot (the newest, or an older one when the deltas of the log's tail
 * are to be rebuilt), then apply every record after it through the same apply and observation path the live runtime
 * uses, so state, global_seq order, view_seqs and the idempotency index come back exactly, and, for the tail, the
 * very deltas the live quanta delivered. Also writes snapshots.
 */
import { WorldlineError, isWorldlineError } from '../errors.js';
import type { EventLogPort, LogRecord, SnapshotRecord } from './ports.js';
import { decodeRecord, RecordKind, type AgentRecord, type OutcomeRecord, type StateHashRecord } from './records.js';
import type { RuntimeOptions, WorldRuntime } from './runtime.js';
import { decodeSnapshot, encodeSnapshotAsync, forEachIndexRow, type DecodedSnapshot, type SnapshotDoc } from './snapshot.js';
import { WorldStore, type ChangeSet } from './state.js';
import { SCHEMA_VERSION, type Effect, type ObservationDelta } from './types.js';

/** A state-hash record that does not match the replayed state. */
export interface Divergence {
  /** Log seq of the record where the divergence was detected. */
  readonly seq: number;
  /** The first global_seq whose state differs (as far as the evidence at hand can tell). */
  readonly global_seq: number;
  /**
   * The newest global_seq at which the replayed state was checked and matched (a state-hash record, the snapshot the
   * replay started from, or 0, the initial state): the first divergent effect is one of matched_global_seq + 1 ..
   * global_seq. State hashes recorded every N effects narrow it to N effects; two replays that disagree, to one.
   */
  readonly matched_global_seq: number;
  readonly expected: string;
  readonly actual: string;
  readonly reason: string;
}

/** A divergence in words: where it was found, why, and which effects may hold its first differing one. */
export function describeDivergence(d: Divergence): string {
  const range = d.matched_global_seq < d.global_seq - 1 ? `; the state last matched at global_seq ${d.matched_global_seq}, so the first divergent effect is one of global_seq ${d.matched_global_seq + 1}..${d.global_seq}` : '';
  return `diverges at global_seq ${d.global_seq} (log seq ${d.seq}): ${d.reason}${range}`;
}

export interface RestoreOptions {
  /** Check state-hash records (first mismatch reported, and open() refuses to start). */
  readonly verify: boolean;
  /** Stop after this log seq. */
  readonly toSeq?: number;
  /** Replay from the first record even when a snapshot exists. */
  readonly ignoreSnapshot?: boolean;
  /** Refuse to return a runtime whose replay diverged (WORLD_STATE_CORRUPTED); open() sets it. */
  readonly throwOnDivergence?: boolean;
  /**
   * Rebuild the deltas of the quanta in the last `tail` records (fewer when no start point is that far back, see
   * startPoint) and hand them to `onDeltas`, each quantum's as it is rebuilt, in order.
   */
  readonly rebuild?: { readonly tail: number; readonly onDeltas: (deltas: readonly ObservationDelta[]) => void };
}

/**
 * How far back a restore that rebuilds a tail of T records may start, in multiples of T: an older start point would
 * make startup slower than the tail is worth, so the restore then starts from the newest snapshot as it would without.
 */
const REPLAY_BUDGET = 4;

/**
 * Applies log records one at a time to a runtime that was built from a snapshot or the initial state.
 *
 * Once rebuildDeltas is called it also flushes the observation engine where the live runtime did: at the end of each
 * quantum. The records show where quanta end: every effect of a quantum carries the quantum's sim_time and wall_time,
 * an agent joins between quanta, and a quantum that committed no effect built no delta. view_seqs do not depend on
 * where flushes fall, so the views before the first rebuilt quantum are the live ones, and from there each quantum's
 * deltas are the ones live delivery built: the same header (from_seq, view_seq, global_seq, sim_time, wall_time,
 * context_digest, snapshot or not) and the same ops. Only the order of ops on different entities may differ: it
 * follows the engine's grid and view layout, which depends on the history since the process or replay started (a
 * replay from the point the live process started gives the very same order). Each entity's ops are one run, so they
 * commute: the view they produce is the same. Two consecutive quanta with the same sim_time and wall_time (not seen
 * with a millisecond clock and a tick per quantum) come back as one delta spanning both: a client between them then
 * gets a snapshot, never a gap.
 */
export class RecordApplier {
  divergence: Divergence | undefined;
  records = 0;
  /** Where rebuilt deltas go; undefined until rebuildDeltas. */
  private onDeltas: ((deltas: readonly ObservationDelta[]) => void) | undefined;
  /** The last effect of the quantum being applied; undefined between quanta (after a join). */
  private last: Effect | undefined;
  /** Effects were applied since the observation engine was last flushed. */
  private unflushed = false;
  /** The quantum being applied began after rebuildDeltas, so its deltas are whole. */
  private whole = false;
  /** The newest global_seq at which the state was checked and matched (Divergence.matched_global_seq). */
  matched: number;
  constructor(
    readonly rt: WorldRuntime,
    private readonly verify: boolean,
  ) {
    // Built on a snapshot or the initial state: the state as it was then.
    this.matched = rt.globalSeq;
  }

  /** From the next quantum that begins on, flushes at quantum ends and hands each quantum's deltas to `fn`. */
  rebuildDeltas(fn: (deltas: readonly ObservationDelta[]) => void): void {
    this.onDeltas = fn;
  }

  /**
   * Ends the quantum being applied: flushes the observation engine with the quantum's header, as the live quantum did.
   * The deltas of a quantum applied whole since rebuildDeltas are handed on; others (a quantum that began before it,
   * or any flush before it) would not match what was delivered, and only bring the views up to date.
   */
  flush(): void {
    if (!this.unflushed) return;
    this.unflushed = false;
    const rt = this.rt;
    const l = this.last;
    const deltas = rt.obs.flush(rt.globalSeq, l?.sim_time ?? 0, l?.wall_time ?? 0);
    if (this.whole && this.onDeltas && deltas.length > 0) this.onDeltas(deltas);
  }

  /** Applies one record; returns the changes when it was an effect. */
  apply(rec: LogRecord): { effect: Effect; changes: ChangeSet } | undefined {
    const rt = this.rt;
    this.records++;
    switch (rec.kind) {
      case RecordKind.EFFECT: {
        const e = decodeRecord<Effect>(rec.payload, rec.kind, rt.worldId);
        if (e.global_seq !== rt.globalSeq + 1) {
          throw new WorldlineError('LOG_CORRUPTION_DETECTED', `Effect at log seq ${rec.seq} has global_seq ${e.global_seq}; expected ${rt.globalSeq + 1}.`, { seq: rec.seq, global_seq: e.global_seq });
        }
        const handler = rt.world.handlers[e.kind];
        if (!handler) throw new WorldlineError('WORLD_STATE_CORRUPTED', `Effect ${e.global_seq} has kind ${e.kind}, which world ${rt.world.name} does not define.`, { seq: rec.seq, global_seq: e.global_seq });
        const l = this.last;
        if (this.onDeltas && (l === undefined || l.sim_time !== e.sim_time || l.wall_time !== e.wall_time)) {
          // e begins a quantum: the previous one ended here.
          this.flush();
          this.whole = true;
        }
        rt.store.begin();
        try {
          handler.apply(e.payload, rt.store, { kind: e.kind, source_id: e.source_id, agent_id: e.agent_id, effect: e });
        } catch (err) {
          rt.store.rollback();
          throw new WorldlineError('WORLD_STATE_CORRUPTED', `Effect ${e.global_seq} no longer applies: ${(err as Error).message}`, { seq: rec.seq, global_seq: e.global_seq }, { cause: err });
        }
        const changes = rt.store.end();
        rt.globalSeq = e.global_seq;
        rt.obs.onEffect(e.global_seq, e.kind, changes);
        this.last = e;
        this.unflushed = true;
        rt.uuids.observe(e.uuid);
        if (e.req_id !== undefined && e.agent_id !== undefined && e.intent_digest !== undefined) {
          rt.index.record(e.agent_id, e.req_id, e.intent_digest, { status: 'committed', agent_id: e.agent_id, req_id: e.req_id, global_seq: e.global_seq, uuid: e.uuid, sim_time: e.sim_time });
        }
        rt.effectsSinceHash++;
        rt.effectsSinceSnapshot++;
        return { effect: e, changes };
      }
      case RecordKind.OUTCOME: {
        const r = decodeRecord<OutcomeRecord>(rec.payload, rec.kind, rt.worldId);
        rt.index.record(r.outcome.agent_id, r.outcome.req_id, r.intent_digest, r.outcome);
        rt.uuids.observe(r.uuid);
        return undefined;
      }
      case RecordKind.AGENT: {
        const r = decodeRecord<AgentRecord>(rec.payload, rec.kind, rt.worldId);
        // An agent joins between quanta: the live runtime had flushed the quantum before (its view starts after it),
        // and a new view is made from the state as it is between quanta (the observation engine requires it).
        this.flush();
        this.last = undefined;
        if (!rt.agents.has(r.agent_id)) rt.addAgent({ agent_id: r.agent_id, agent_class: r.agent_class, tenant: r.tenant }, 0);
        return undefined;
      }
      case RecordKind.STATE_HASH: {
        const r = decodeRecord<StateHashRecord>(rec.payload, rec.kind, rt.worldId);
        rt.effectsSinceHash = 0;
        if (this.verify && this.divergence === undefined && r.global_seq === rt.globalSeq) {
          const actual = rt.store.hash();
          if (actual !== r.hash) this.divergence = { seq: rec.seq, global_seq: r.global_seq, matched_global_seq: this.matched, expected: r.hash, actual, reason: 'state hash differs' };
          else this.matched = r.global_seq;
        }
        return undefined;
      }
      default:
        // Records of other modules (checkpoints, ...) carry no world state.
        return undefined;
    }
  }
}

/** Puts a snapshot's counters, agents (with their view_seqs) and idempotency index into a runtime built on its state. */
export function loadSnapshot(rt: WorldRuntime, doc: DecodedSnapshot): void {
  rt.globalSeq = doc.global_seq;
  rt.uuids.counter = doc.uuid_counter;
  rt.effectsSinceHash = doc.effects_since_hash;
  for (const a of doc.agents) rt.addAgent({ agent_id: a.agent_id, agent_class: a.agent_class, tenant: a.tenant }, a.view_seq);
  const index = rt.index;
  forEachIndexRow(doc, {
    committed: (agent, req, digest, globalSeq, uuid, simTime) => index.recordCommitted(agent, req, digest, globalSeq, uuid, simTime),
    rejected: (agent, req, digest, outcome) => index.record(agent, req, digest, outcome),
  });
  if (doc.causes) rt.obs.importCauses(doc.causes);
}

/** The seq of the first record the log still stores (1 unless compaction removed the ones before a snapshot). */
export function firstStoredSeq(log: EventLogPort): number | undefined {
  for (const rec of log.records()) return rec.seq;
  return undefined;
}

/**
 * A replay from the initial state needs the log from its first record: after compaction, say so plainly, and from
 * which seq on a replay can start (the oldest kept snapshot). Checked before any record is read: a log whose first
 * stored record is past toSeq would otherwise give the initial state as the state at toSeq.
 */
function checkFromGenesis(log: EventLogPort, toSeq: number | undefined): void {
  const firstSeq = firstStoredSeq(log);
  if (firstSeq === undefined || firstSeq === 1) return;
  const oldest = log.snapshots().at(-1);
  const to = toSeq === undefined ? '' : ` to seq ${toSeq}`;
  const from = oldest ? `replay to seq ${oldest.anchorSeq} (the oldest kept snapshot) or later` : 'replay from a snapshot';
  throw new WorldlineError('LOG_RANGE_UNAVAILABLE', `Replaying${to} needs the records from seq 1 (no kept snapshot is at or before it), but compaction removed those before seq ${firstSeq}; ${from}.`, { firstSeq, ...(toSeq === undefined ? {} : { toSeq }), ...(oldest ? { oldestSnapshotSeq: oldest.anchorSeq } : {}) });
}

/**
 * The snapshot a restore starts from (undefined: the initial state). Without a resume tail: the newest anchored at or
 * before toSeq (an older kept snapshot serves a replay to a seq before the newest; after compaction it is the only
 * way there). With a tail of T records, the state from before the tail is needed, and the log's start points are its
 * kept snapshots and, while it still holds its first record, the initial state: the newest of them anchored at or
 * before the tail, among those within REPLAY_BUDGET x T records of the end. When every one in budget is inside the
 * tail (after a graceful shutdown the newest snapshot is the log's end), the oldest in budget: a shorter tail, empty
 * when that is the newest snapshot. When none is in budget, the newest snapshot, as without a tail (the records after
 * it are then more than T anyway).
 */
function startPoint(log: EventLogPort, o: RestoreOptions): { snap: SnapshotRecord | undefined } {
  if (o.ignoreSnapshot) return { snap: undefined };
  const tail = o.rebuild?.tail ?? 0;
  if (tail <= 0) {
    const to = o.toSeq;
    return { snap: to === undefined ? log.latestSnapshot() : log.snapshots().find((s) => s.anchorSeq <= to) };
  }
  const end = Math.min(o.toSeq ?? log.lastSeq, log.lastSeq);
  const first = firstStoredSeq(log) ?? 1;
  const starts: Array<{ anchorSeq: number; snap: SnapshotRecord | undefined }> = [];
  for (const snap of log.snapshots()) if (snap.anchorSeq <= end && snap.anchorSeq >= first - 1) starts.push({ anchorSeq: snap.anchorSeq, snap });
  if (first === 1) starts.push({ anchorSeq: 0, snap: undefined });
  const inBudget = starts.filter((s) => s.anchorSeq >= end - REPLAY_BUDGET * tail);
  const pick = inBudget.find((s) => s.anchorSeq <= end - tail) ?? inBudget[inBudget.length - 1] ?? starts[0];
  return { snap: pick?.snap };
}

/** Builds a runtime from the log. */
export async function restoreRuntime(
  opts: RuntimeOptions,
  make: (store: WorldStore) => WorldRuntime,
  o: RestoreOptions,
): Promise<{ runtime: WorldRuntime; applier: RecordApplier; snapshotSeq: number }> {
  const log = opts.log;
  const { snap } = startPoint(log, o);
  const doc: SnapshotDoc | undefined = snap ? decodeSnapshot(snap.state, log.meta.worldId) : undefined;
  const rt = make(new WorldStore(doc ? doc.state : opts.world.initialState));
  if (doc) loadSnapshot(rt, doc);
  const applier = new RecordApplier(rt, o.verify);
  const from = snap ? snap.anchorSeq + 1 : undefined;
  // Records from this seq on are applied quantum by quantum, their deltas rebuilt.
  const tailFrom = o.rebuild && o.rebuild.tail > 0 ? Math.min(o.toSeq ?? log.lastSeq, log.lastSeq) - o.rebuild.tail + 1 : Infinity;
  let rebuilding = false;
  if (from === undefined) checkFromGenesis(log, o.toSeq);
  for (const rec of log.records(from, o.toSeq)) {
    if (o.toSeq !== undefined && rec.seq > o.toSeq) break;
    if (!rebuilding && rec.seq >= tailFrom && o.rebuild) {
      rebuilding = true;
      applier.rebuildDeltas(o.rebuild.onDeltas);
    }
    applier.apply(rec);
    // Before the tail, flush now and then so per-quantum bookkeeping stays small on long logs.
    if (!rebuilding && applier.records % 4096 === 0) applier.flush();
  }
  applier.flush();
  rt.effectsSinceSnapshot = 0;
  if (o.throwOnDivergence && applier.divergence) {
    const d = applier.divergence;
    throw new WorldlineError('WORLD_STATE_CORRUPTED', `Replaying the log ${describeDivergence(d)}.`, { ...d });
  }
  return { runtime: rt, applier, snapshotSeq: snap?.anchorSeq ?? 0 };
}

/**
 * The snapshot document of the runtime as it is now, without the state's entities and the idempotency index: they are
 * written as lines after it (WorldStore.captureEntities, IdempotencyIndex.capture).
 */
export function snapshotDoc(rt: WorldRuntime): SnapshotDoc {
  return {
    schema_version: SCHEMA_VERSION,
    world_id: rt.worldId,
    global_seq: rt.globalSeq,
    uuid_counter: rt.uuids.counter,
    effects_since_hash: rt.effectsSinceHash,
    state: rt.store.toJSON(false),
    agents: [...rt.agents.values()].map((a) => ({ ...a, view_seq: rt.obs.viewSeq(a.agent_id) })),
    idempotency: [],
    causes: rt.obs.exportCauses(),
  };
}

/**
 * Snapshots the state as of now (a quantum boundary) and writes it once the records it covers are durable. The
 * document and a copy of the idempotency index are taken at once; the encoding then runs in slices and the file is
 * written asynchronously, so neither holds up the event loop, nor the delivery of the quanta that commit meanwhile
 * (the snapshot is not in the delivery chain: it waits for the deliveries up to its anchor, and later ones do not
 * wait for it). Snapshot writes are serialized; drain() waits for them.
 */
export async function writeSnapshotAfter(rt: WorldRuntime): Promise<void> {
  const doc = snapshotDoc(rt);
  const entities = rt.store.captureEntities();
  const index = rt.index.capture();
  const anchor = rt.log.lastSeq;
  rt.effectsSinceSnapshot = 0;
  const durable = rt.delivery;
  const previous = rt.snapshotting;
  const write = (async () => {
    const bytes = await encodeSnapshotAsync(doc, index, entities);
    await Promise.all([durable, previous]);
    if (rt.failed) throw rt.failed;
    if (anchor > 0) await rt.log.writeSnapshot(bytes, anchor);
  })();
  rt.snapshotting = write.catch(() => undefined);
  rt.snapshotsInFlight++;
  try {
    await write;
  } catch (err) {
    throw isWorldlineError(err) ? err : new WorldlineError('DATABASE_ERROR', `Writing the snapshot failed: ${(err as Error).message}`, {}, { cause: err });
  } finally {
    rt.snapshotsInFlight--;
  }
}
