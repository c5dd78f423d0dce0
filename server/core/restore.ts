/**
 * Rebuilding a runtime from its log: load the newest snapshot (when usable), then apply every record after it
 * through the same apply and observation path the live runtime uses, so state, global_seq order, view_seqs and
 * the idempotency index come back exactly. Also writes snapshots.
 */
import { WorldlineError, isWorldlineError } from '../errors.js';
import type { EventLogPort, LogRecord } from './ports.js';
import { decodeRecord, RecordKind, type AgentRecord, type OutcomeRecord, type StateHashRecord } from './records.js';
import type { RuntimeOptions, WorldRuntime } from './runtime.js';
import { decodeSnapshot, encodeSnapshot, type SnapshotDoc } from './snapshot.js';
import { WorldStore, type ChangeSet } from './state.js';
import { SCHEMA_VERSION, type Effect } from './types.js';

/** A state-hash record that does not match the replayed state. */
export interface Divergence {
  /** Log seq of the record where the divergence was detected. */
  readonly seq: number;
  /** The first global_seq whose state differs (as far as the evidence at hand can tell). */
  readonly global_seq: number;
  readonly expected: string;
  readonly actual: string;
  readonly reason: string;
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
}

/** Applies log records one at a time to a runtime that was built from a snapshot or the initial state. */
export class RecordApplier {
  divergence: Divergence | undefined;
  records = 0;
  constructor(
    readonly rt: WorldRuntime,
    private readonly verify: boolean,
  ) {}

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
        if (!rt.agents.has(r.agent_id)) rt.addAgent({ agent_id: r.agent_id, agent_class: r.agent_class, tenant: r.tenant }, 0);
        return undefined;
      }
      case RecordKind.STATE_HASH: {
        const r = decodeRecord<StateHashRecord>(rec.payload, rec.kind, rt.worldId);
        rt.effectsSinceHash = 0;
        if (this.verify && this.divergence === undefined && r.global_seq === rt.globalSeq) {
          const actual = rt.store.hash();
          if (actual !== r.hash) this.divergence = { seq: rec.seq, global_seq: r.global_seq, expected: r.hash, actual, reason: 'state hash differs' };
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
export function loadSnapshot(rt: WorldRuntime, doc: SnapshotDoc): void {
  rt.globalSeq = doc.global_seq;
  rt.uuids.counter = doc.uuid_counter;
  rt.effectsSinceHash = doc.effects_since_hash;
  for (const a of doc.agents) rt.addAgent({ agent_id: a.agent_id, agent_class: a.agent_class, tenant: a.tenant }, a.view_seq);
  for (const e of doc.idempotency) rt.index.record(e.outcome.agent_id, e.outcome.req_id, e.digest, e.outcome);
  if (doc.causes) rt.obs.importCauses(doc.causes);
}

/** The seq of the first record the log still stores (1 unless compaction removed the ones before a snapshot). */
export function firstStoredSeq(log: EventLogPort): number | undefined {
  for (const rec of log.records()) return rec.seq;
  return undefined;
}

/** A replay from the initial state needs the log from its first record: after compaction, say so plainly. */
function checkFromGenesis(firstSeq: number): void {
  if (firstSeq !== 1) {
    throw new WorldlineError('LOG_RANGE_UNAVAILABLE', `Replaying from the initial state needs the records from seq 1, but compaction removed those before seq ${firstSeq}; replay from a snapshot (to a seq at or after its anchor).`, { firstSeq });
  }
}

/** Builds a runtime from the log. */
export async function restoreRuntime(
  opts: RuntimeOptions,
  make: (store: WorldStore) => WorldRuntime,
  o: RestoreOptions,
): Promise<{ runtime: WorldRuntime; applier: RecordApplier; snapshotSeq: number }> {
  const log = opts.log;
  let snap = o.ignoreSnapshot ? undefined : log.latestSnapshot();
  if (snap && o.toSeq !== undefined && snap.anchorSeq > o.toSeq) snap = undefined;
  const doc: SnapshotDoc | undefined = snap ? decodeSnapshot(snap.state, log.meta.worldId) : undefined;
  const rt = make(new WorldStore(doc ? doc.state : opts.world.initialState));
  if (doc) loadSnapshot(rt, doc);
  const applier = new RecordApplier(rt, o.verify);
  const from = snap ? snap.anchorSeq + 1 : undefined;
  for (const rec of log.records(from, o.toSeq)) {
    if (o.toSeq !== undefined && rec.seq > o.toSeq) break;
    if (applier.records === 0 && from === undefined) checkFromGenesis(rec.seq);
    applier.apply(rec);
    // Flush now and then so per-quantum bookkeeping stays small on long logs.
    if (applier.records % 4096 === 0) rt.obs.flush(rt.globalSeq, 0, 0);
  }
  rt.obs.flush(rt.globalSeq, 0, 0);
  rt.effectsSinceSnapshot = 0;
  if (o.throwOnDivergence && applier.divergence) {
    const d = applier.divergence;
    throw new WorldlineError('WORLD_STATE_CORRUPTED', `Replaying the log diverges at global_seq ${d.global_seq} (log seq ${d.seq}): ${d.reason}.`, { ...d });
  }
  return { runtime: rt, applier, snapshotSeq: snap?.anchorSeq ?? 0 };
}

/** Serialises the runtime's state now; the caller writes it once everything before it is durable. */
export function snapshotDoc(rt: WorldRuntime): SnapshotDoc {
  return {
    schema_version: SCHEMA_VERSION,
    world_id: rt.worldId,
    global_seq: rt.globalSeq,
    uuid_counter: rt.uuids.counter,
    effects_since_hash: rt.effectsSinceHash,
    state: rt.store.toJSON(),
    agents: [...rt.agents.values()].map((a) => ({ ...a, view_seq: rt.obs.viewSeq(a.agent_id) })),
    idempotency: rt.index.toJSON(),
    causes: rt.obs.exportCauses(),
  };
}

/** Snapshots the state as of now and writes it after the records it covers are durable. */
export async function writeSnapshotAfter(rt: WorldRuntime): Promise<void> {
  const bytes = encodeSnapshot(snapshotDoc(rt));
  const anchor = rt.log.lastSeq;
  rt.effectsSinceSnapshot = 0;
  const write = rt.delivery.then(async () => {
    if (rt.failed) throw rt.failed;
    if (anchor > 0) await rt.log.writeSnapshot(bytes, anchor);
  });
  rt.delivery = write.catch(() => undefined);
  try {
    await write;
  } catch (err) {
    throw isWorldlineError(err) ? err : new WorldlineError('DATABASE_ERROR', `Writing the snapshot failed: ${(err as Error).message}`, {}, { cause: err });
  }
}
