/**
 * One scheduling quantum: gather drafts (engine tick, world systems, emitted effects, intents picked by weighted
 * round-robin), give each a uuid, order them by (sim_time, priority desc, source_id, uuid), then for each in turn
 * validate, apply and number it (global_seq), append it to the log and observe it. Appends are issued in order and
 * not awaited one by one; outcomes and deltas are delivered once all of the quantum's records are durable.
 */
import { WorldlineError, isWorldlineError } from '../errors.js';
import { effectBytes } from './canonical-bytes.js';
import { encodeEffect, utf8, utf8Scratch } from './canonical.js';
import { checkDraft } from './intake.js';
import { RecordKind, encodeRecord } from './records.js';
import { seededStream } from './rng.js';
import { DraftCandidate } from './scheduler.js';
import { writeSnapshotAfter } from './restore.js';
import { rejectedOutcome, type WorldRuntime } from './runtime.js';
import { SCHEMA_VERSION, type Effect, type EffectDraft, type IntentOutcome, type JsonObject, type JsonValue, type StaleCause } from './types.js';
import type { RuleViolation } from './world.js';

/** How a candidate ended in its quantum (DraftCandidate.how, 0 until then), settled once its records are durable. */
const COMMITTED = 1;
const REJECTED = 2;

export interface QuantumReport {
  readonly committed: number;
  readonly rejected: number;
  readonly global_seq: number;
  readonly sim_time: number;
  readonly deltas: number;
}

const ENGINE_PRIORITY = 1001;

/** (priority descending, source_id, uuid): uuids of one quantum sort as their counters do (fixed-width hex first). */
function byOrder(a: DraftCandidate, b: DraftCandidate): number {
  const p = b.priority - a.priority;
  if (p !== 0) return p;
  const sa = a.source_id;
  const sb = b.source_id;
  if (sa !== sb) return sa < sb ? -1 : 1;
  return a.counter - b.counter;
}

/** A world system that threw or drafted an invalid effect: the world's own code is at fault, not the log or a client. */
function systemFailed(name: string, tick: number, err: unknown): WorldlineError {
  const cause = err instanceof Error ? err.message : String(err);
  return new WorldlineError('WORLD_SYSTEM_FAILED', `World system ${name} failed at tick ${tick}: ${cause}. Nothing of this tick was taken or changed.`, { system: name, tick, ...(isWorldlineError(err) ? { error: err.codeName } : {}) }, { cause: err });
}

function systemDrafts(rt: WorldRuntime, tick: number): DraftCandidate[] {
  const out: DraftCandidate[] = [];
  const store = rt.store;
  const rngStates: JsonObject = {};
  let ids: string[] | undefined;
  for (const sys of rt.world.systems) {
    const rng = seededStream(sys.seed ?? `${rt.world.seed}/${sys.name}`, store.rngState(sys.name));
    try {
      const ran: unknown = sys.run({ state: store, tick, rng, entityIds: () => (ids ??= [...store.entities.keys()].sort()) });
      // A list, or any iterable (a generator function's `*run`), taken whole before the generator's state is saved: a
      // generator draws its numbers as it is iterated.
      const iterable = typeof ran === 'object' && ran !== null && typeof (ran as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
      if (!iterable) throw new Error(`run returned ${ran === null ? 'null' : typeof ran}, not a list of effect drafts`);
      const drafts = Array.isArray(ran) ? ran : Array.from(ran as Iterable<unknown>);
      rngStates[sys.name] = rng.save();
      for (const d of drafts as EffectDraft[]) {
        const draft = checkDraft({ ...d, priority: d?.priority ?? sys.priority ?? 0 }, rt.world.handlers);
        out.push(DraftCandidate.of(draft));
      }
    } catch (err) {
      throw systemFailed(sys.name, tick, err);
    }
  }
  const payload: JsonObject = { tick };
  if (rt.world.systems.length > 0) payload['rng'] = rngStates;
  out.unshift(new DraftCandidate('TimeTick', payload, 'engine', ENGINE_PRIORITY, undefined));
  return out;
}

/** Tells a submitter or emitter how its candidate ended, or the log's error when the quantum did not become durable. */
function settle(c: DraftCandidate, failure: WorldlineError | undefined): void {
  const p = c.pending;
  const how = c.how;
  const result = c.result;
  if (p) {
    const source = c.source_id;
    if (failure) p.resolve(rejectedOutcome(source, p.reqId, failure));
    else if (how === REJECTED) p.resolve(result as IntentOutcome);
    else {
      const e = result as Effect;
      p.resolve({ status: 'committed', agent_id: source, req_id: p.reqId, global_seq: e.global_seq, uuid: e.uuid, sim_time: e.sim_time, effect: e });
    }
  } else if (c.onDone) {
    if (failure) c.onDone({ status: 'rejected', error: failure.toJSON() });
    else if (how === REJECTED) c.onDone({ status: 'rejected', error: (result as WorldlineError).toJSON() });
    else c.onDone({ status: 'committed', effect: result as Effect });
  }
}

function nothing(): void {}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A validator that threw instead of answering: a violation of its rule, so only its candidate is rejected. */
function thrown(err: unknown, rule: string): RuleViolation {
  return { rule, message: `the check threw: ${errorMessage(err)}` };
}

/** Runs one quantum; resolves when its records are durable and its outcomes and deltas delivered. */
export function runQuantum(rt: WorldRuntime, advanceTick: boolean): Promise<QuantumReport> {
  if (rt.failed) return Promise.reject(rt.failed);
  const now = rt.clock.now();
  const world = rt.world;
  const store = rt.store;
  rt.generations.poll();
  rt.expireDeadlines();
  const tick = advanceTick ? store.tick + 1 : store.tick;
  let cands: DraftCandidate[];
  try {
    cands = advanceTick ? systemDrafts(rt, tick) : [];
  } catch (err) {
    // A world system threw (or drafted a malformed effect) before anything was taken or changed: the tick fails as a
    // rejected promise, not a synchronous throw out of tick() (a timer calling it would crash the process), and the
    // waiting intents stay queued for the next quantum.
    return Promise.reject(err);
  }
  const simTime = rt.simTimeAt(tick, now);
  for (const e of rt.emitted.splice(0)) cands.push(e);
  for (const p of rt.scheduler.take(world.policies.maxIntentsPerQuantum)) {
    if (p.deadlineAt !== undefined && now > p.deadlineAt) {
      p.resolve(rejectedOutcome(p.agentId, p.reqId, new WorldlineError('OPERATION_TIMEOUT', `Intent ${p.reqId} passed its deadline_ms before it could commit.`, { req_id: p.reqId })));
      continue;
    }
    const stale = rt.staleness(p.agentId, p.contextSeq, p.cls.stalenessThreshold);
    if (stale) {
      p.resolve(rejectedOutcome(p.agentId, p.reqId, stale));
      continue;
    }
    cands.push(p);
  }
  const uuids = rt.uuids;
  for (const c of cands) {
    c.counter = uuids.counter;
    c.uuid = uuids.next();
  }
  cands.sort(byOrder);

  const appends: Promise<unknown>[] = [];
  /** Candidates whose submitter or emitter is told how they ended (no closure per intent). */
  const settled: DraftCandidate[] = [];
  const effects: Effect[] = [];
  const visibleEffects = new Map<string, Effect[]>();
  const genEvents: Array<[string, StaleCause, readonly string[]]> = [];
  let current: Effect | undefined;
  // The hook costs an object per (observer, effect): install it only when someone listens.
  if (rt.effectSubscribers.size > 0 || rt.generations.active()) {
    rt.obs.onVisible = (agentId, cause, changed) => {
      if (rt.effectSubscribers.has(agentId) && current) {
        const l = visibleEffects.get(agentId);
        if (l) l.push(current);
        else visibleEffects.set(agentId, [current]);
      }
      if (rt.generations.watching(agentId)) genEvents.push([agentId, cause, changed]);
    };
  }
  let rejected = 0;
  const hashEvery = world.policies.stateHashEvery;
  const validators = world.validators;
  for (const c of cands) {
    const { kind, payload, source_id } = c;
    const p = c.pending;
    const agentId = p ? source_id : undefined;
    const draft = { kind, payload, source_id, agent_id: agentId };
    const handler = world.handlers[kind];
    // World code may throw anywhere here: that rejects this candidate only. Escaping the loop would leave the quantum
    // half-committed (state changed, records appended, no deltas) and every submitter in it waiting forever.
    let violation: RuleViolation | undefined;
    try {
      violation = handler?.validate?.(payload, store, draft);
    } catch (err) {
      violation = thrown(err, 'validate');
    }
    if (!violation) {
      for (const v of validators) {
        if (v.kinds && !v.kinds.includes(kind)) continue;
        let msg: string | undefined;
        try {
          msg = v.check(draft, store);
        } catch (err) {
          violation = thrown(err, v.rule);
          break;
        }
        if (msg !== undefined) {
          violation = { rule: v.rule, message: msg };
          break;
        }
      }
    }
    let effect: Effect | undefined;
    let bytes: Uint8Array | undefined;
    /** The effect cannot be recorded (its payload has no canonical JSON form): the draft itself is malformed. */
    let unencodable: WorldlineError | undefined;
    if (!violation && handler) {
      const seq = rt.globalSeq + 1;
      const priority = c.priority;
      effect = p
        ? { schema_version: SCHEMA_VERSION, world_id: rt.worldId, uuid: c.uuid, kind, payload, global_seq: seq, sim_time: simTime, wall_time: now, source_id, priority, req_id: p.reqId, agent_id: source_id, intent_digest: p.digest }
        : { schema_version: SCHEMA_VERSION, world_id: rt.worldId, uuid: c.uuid, kind, payload, global_seq: seq, sim_time: simTime, wall_time: now, source_id, priority };
      store.begin();
      try {
        handler.apply(payload, store, { kind, source_id, agent_id: agentId, effect });
      } catch (err) {
        store.rollback();
        const rule = isWorldlineError(err) && typeof err.details['rule'] === 'string' ? err.details['rule'] : 'apply';
        violation = { rule, message: errorMessage(err) };
        effect = undefined;
      }
      if (effect) {
        // Encoded before it is numbered and observed, so a payload that cannot be logged is undone like a failed
        // apply. The bytes may live in canonical-bytes' one reused buffer, which intentDigestBytes and memberHashBytes
        // (member hashes) also write: none of them may run between here and the append below.
        try {
          bytes = effectBytes(effect) ?? utf8Scratch(encodeEffect(effect));
        } catch (err) {
          store.rollback();
          unencodable = isWorldlineError(err) ? err : new WorldlineError('INVALID_INTENT', `The ${kind} effect cannot be encoded: ${errorMessage(err)}`);
          effect = undefined;
        }
      }
    }
    if (!effect || !bytes) {
      rejected++;
      const v = violation ?? { rule: 'kind', message: `Unknown kind ${kind}.` };
      const err = unencodable
        ? new WorldlineError(unencodable.codeName, unencodable.message, { ...unencodable.details, ...(p ? { req_id: p.reqId } : {}) })
        : new WorldlineError('INTENT_VALIDATION_FAILED', `Rule ${v.rule} rejected ${kind}: ${v.message}`, { rule: v.rule, ...(p ? { req_id: p.reqId } : {}) });
      if (p) {
        const outcome = rejectedOutcome(source_id, p.reqId, err) as Extract<ReturnType<typeof rejectedOutcome>, { status: 'rejected' }>;
        appends.push(rt.log.append(RecordKind.OUTCOME, utf8(encodeRecord({ schema_version: SCHEMA_VERSION, world_id: rt.worldId, uuid: c.uuid, intent_digest: p.digest, outcome }))));
        rt.index.record(source_id, p.reqId, p.digest, outcome);
        p.state = 'committing';
        c.how = REJECTED;
        c.result = outcome;
        settled.push(c);
      } else if (c.onDone) {
        c.how = REJECTED;
        c.result = err;
        settled.push(c);
      }
      continue;
    }
    const changes = store.end();
    rt.globalSeq = effect.global_seq;
    appends.push(rt.log.append(RecordKind.EFFECT, bytes));
    effects.push(effect);
    current = effect;
    rt.obs.onEffect(effect.global_seq, kind, changes);
    if (p) {
      rt.index.recordCommitted(source_id, p.reqId, p.digest, effect.global_seq, effect.uuid, simTime);
      p.state = 'committing';
    }
    if (p || c.onDone) {
      c.how = COMMITTED;
      c.result = effect;
      settled.push(c);
    }
    rt.effectsSinceSnapshot++;
    if (hashEvery > 0 && ++rt.effectsSinceHash >= hashEvery) {
      rt.effectsSinceHash = 0;
      const rec = { schema_version: SCHEMA_VERSION, world_id: rt.worldId, global_seq: rt.globalSeq, hash: store.hash() };
      appends.push(rt.log.append(RecordKind.STATE_HASH, utf8(encodeRecord(rec))));
    }
  }
  rt.obs.onVisible = undefined;
  // Generations made stale by this quantum are cancelled now, at commit, before its deltas are built and long before
  // durability and fan-out: a cancel only tells an agent to stop generating, and every millisecond it keeps going is
  // wasted (the causes' view_seqs are known from the hits; building 1,000 deltas takes milliseconds). Its Cancelled
  // frame therefore reaches the client before the deltas that caused it (stale_due_to names their view_seqs).
  for (const [a, c, ch] of genEvents) rt.generations.onVisible(a, c, ch);
  if (genEvents.length > 0) rt.afterCancels?.();
  // The quantum's records go to the log's writer before its deltas are built: their write and sync (on the writer's
  // thread) then overlap the flush below instead of starting after it, and the deltas wait for durability less.
  rt.log.startWrite?.();
  const deltas = rt.obs.flush(rt.globalSeq, simTime, now);
  const report: QuantumReport = { committed: effects.length, rejected, global_seq: rt.globalSeq, sim_time: simTime, deltas: deltas.length };
  // Resolved with nothing: the appends' results die as soon as they are counted, not when the quantum is delivered.
  const durable: Promise<unknown> = appends.length > 0 ? Promise.all(appends).then(nothing) : Promise.resolve();
  // Its failure is acted on once the earlier quanta are delivered, which may be after the next macrotask (a log
  // refuses appends at once while a failed write behind an earlier quantum is being cut back): mark it handled now,
  // or Node reports an unhandled rejection and, by default, ends the process.
  durable.catch(nothing);
  const result = rt.delivery.then(async () => {
    await durable;
  }).then(
    () => {
      // Listeners first: settling only queues the submitters' callbacks, which run after this one either way, and the
      // outcome objects it makes are then consumed before the next allocation-heavy step (young garbage, not copied).
      // A listener that throws does not keep the others from this delivery (each transport, subscription and facade
      // is one); the quantum stays committed and its submitters are told, and the first error then rejects this
      // quantum's promise so the fault is seen.
      let fault: { err: unknown } | undefined;
      const delivery = { deltas, effects, visibleEffects };
      for (const l of rt.listeners) {
        try {
          l(delivery);
        } catch (err) {
          fault ??= { err };
        }
      }
      for (let i = 0; i < settled.length; i++) settle(settled[i] as DraftCandidate, undefined);
      if (fault) throw fault.err;
      return report;
    },
    (err: unknown) => {
      const e = rt.fail(err);
      for (let i = 0; i < settled.length; i++) settle(settled[i] as DraftCandidate, e);
      throw e;
    },
  );
  rt.delivery = result.catch(() => undefined);
  const every = world.policies.snapshotEvery;
  // One at a time: a world that commits faster than a snapshot is encoded and written gets the next one when it is done.
  // A snapshot that cannot be written (a full disk) does not stop the world: the log has every record.
  if (every > 0 && rt.effectsSinceSnapshot >= every && rt.snapshotsInFlight === 0) {
    void writeSnapshotAfter(rt).catch((err: WorldlineError) => {
      if (!rt.failed) rt.onSnapshotError?.(err);
    });
  }
  return result;
}

export type { JsonValue };
