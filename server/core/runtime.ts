/**
 * The world runtime (orchestrator): admits intents through the pipeline stages, runs quanta (order, validate,
 * commit, log, observe), and delivers outcomes and deltas once the quantum's records are durable. Restart and
 * replay rebuild it from the log through the same apply path (see restore.ts).
 */
import { WorldlineError, isWorldlineError } from '../errors.js';
import { intentDigestBytes } from './canonical-bytes.js';
import { intentDigest } from './canonical.js';
import { Generations, staleCauses, type GenerationToken } from './cancellation.js';
import { IdempotencyIndex } from './idempotency.js';
import { checkDraft, checkIntent } from './intake.js';
import { ObservationEngine } from './observation.js';
import type { Clock, EventLogPort } from './ports.js';
import { Quotas } from './quotas.js';
import { restoreRuntime, writeSnapshotAfter } from './restore.js';
import { UuidSequence } from './rng.js';
import { DraftCandidate, IntentScheduler, PendingIntent } from './scheduler.js';
import type { WorldStore } from './state.js';
import { runQuantum, type QuantumReport } from './quantum.js';
import type { Effect, EffectDraft, EntityRecord, Intent, IntentOutcome, ObservationDelta, StaleCause, View } from './types.js';
import { interruptProblem, type AgentClassPolicy, type InterruptPolicy, type WorldDefinition } from './world.js';
import { RecordKind, encodeRecord } from './records.js';
import { utf8 } from './canonical.js';
import { SCHEMA_VERSION } from './types.js';

export interface RuntimeOptions {
  readonly world: WorldDefinition;
  readonly log: EventLogPort;
  readonly clock: Clock;
  /** Run quanta automatically (on the microtask queue) after intents or emits arrive, until none wait. Default false: call tick()/flush(). */
  readonly autoQuantum?: boolean;
  /** Timer used to re-evaluate debounced interruptions at their window end and to fail intents past deadline_ms (default: setTimeout, unref'd). */
  readonly setTimer?: (fn: () => void, ms: number) => void;
  /**
   * open() rebuilds the deltas of the quanta in the last `resumeTail` log records (default 0: none) as they were
   * delivered, and hands each quantum's to onRestoredDeltas in order: a host keeps them to serve clients that resume
   * across a restart. See restore.ts (RecordApplier, startPoint) for what is exact and where the restore starts.
   */
  readonly resumeTail?: number;
  readonly onRestoredDeltas?: (deltas: readonly ObservationDelta[]) => void;
  /**
   * A periodic snapshot (policy snapshotEvery) that could not be written, e.g. on a full disk. The world goes on: the
   * log holds every record, a restart replays from the previous snapshot, and the next one is tried after
   * snapshotEvery more effects. Default: ignored.
   */
  readonly onSnapshotError?: (err: WorldlineError) => void;
}

export interface AgentInfo {
  readonly agent_id: string;
  readonly agent_class: string;
  readonly tenant: string;
}

export type CancelResult =
  | { readonly status: 'cancelled' }
  | { readonly status: 'already_completed'; readonly outcome: IntentOutcome | undefined }
  | { readonly status: 'unknown' };

export type EmitOutcome = { readonly status: 'committed'; readonly effect: Effect } | { readonly status: 'rejected'; readonly error: ReturnType<WorldlineError['toJSON']> };

/** What a quantum delivers to listeners: one delta per agent whose view changed, and the effects committed. */
export interface QuantumDelivery {
  readonly deltas: readonly ObservationDelta[];
  readonly effects: readonly Effect[];
  /** Effects each agent could see, for agents with a visible-effect subscription. */
  readonly visibleEffects: ReadonlyMap<string, readonly Effect[]>;
}

export type DeliveryListener = (d: QuantumDelivery) => void;

export function rejectedOutcome(agentId: string, reqId: string, err: WorldlineError): IntentOutcome {
  return { status: 'rejected', agent_id: agentId, req_id: reqId, error: { code: err.code, name: err.codeName, message: err.message, details: err.details } };
}

const reqOf = (input: unknown): string => String((input as { req_id?: unknown } | null)?.req_id ?? '');
const agentOf = (input: unknown): string => String((input as { agent_id?: unknown } | null)?.agent_id ?? '');

function reject(agentId: string, reqId: string, name: ConstructorParameters<typeof WorldlineError>[0], message: string, details: Record<string, unknown> = {}): Promise<IntentOutcome> {
  return Promise.resolve(rejectedOutcome(agentId, reqId, new WorldlineError(name, message, { req_id: reqId, ...details })));
}

function asWorldlineError(err: unknown): WorldlineError {
  return isWorldlineError(err) ? err : new WorldlineError('DATABASE_ERROR', `The log failed: ${(err as Error)?.message ?? String(err)}`, {}, { cause: err });
}

/** The longest the deadline timer waits before it looks again (see armDeadline): bounds the timers one world holds. */
const DEADLINE_TIMER_STEP_MS = 1000;

/** Emitted effects that may wait for the next quantum at once; one more is answered QUEUE_FULL. */
export const MAX_EMITS_WAITING = 65_536;

export class WorldRuntime {
  readonly worldId: string;
  readonly world: WorldDefinition;
  readonly log: EventLogPort;
  readonly clock: Clock;
  /** @internal */ readonly store: WorldStore;
  /** @internal */ readonly obs: ObservationEngine;
  /** @internal */ readonly index: IdempotencyIndex;
  /** @internal */ readonly uuids: UuidSequence;
  /** @internal */ readonly agents = new Map<string, AgentInfo>();
  /** @internal */ readonly scheduler = new IntentScheduler();
  /** @internal agent id -> req_id -> intent waiting or committing. */ readonly inflight = new Map<string, Map<string, PendingIntent>>();
  /** @internal */ readonly emitted: DraftCandidate[] = [];
  /** @internal */ readonly generations: Generations;
  /**
   * Called right after a quantum has cancelled the generations it made stale, before it builds its deltas: a
   * transport that batches writes sends the Cancelled frames now rather than after the deltas are built.
   */
  afterCancels: (() => void) | undefined = undefined;
  /** @internal */ readonly quotas: Quotas;
  /** @internal */ readonly effectSubscribers = new Map<string, number>();
  /** @internal */ globalSeq = 0;
  /** @internal */ effectsSinceHash = 0;
  /** @internal */ effectsSinceSnapshot = 0;
  /** @internal */ delivery: Promise<unknown> = Promise.resolve();
  /** @internal The snapshot writes under way (writeSnapshotAfter), settled; drain() waits for them too. */
  snapshotting: Promise<unknown> = Promise.resolve();
  /** @internal Snapshots being written: a periodic one is not started while one is. */
  snapshotsInFlight = 0;
  /** @internal RuntimeOptions.onSnapshotError. */
  readonly onSnapshotError: ((err: WorldlineError) => void) | undefined;
  /** @internal */ failed: WorldlineError | undefined;
  /** @internal */ readonly listeners = new Set<DeliveryListener>();
  private readonly failureListeners = new Set<(err: WorldlineError) => void>();
  private arrival = 0;
  private quantumScheduled = false;
  private readonly autoQuantum: boolean;
  private readonly setTimer: (fn: () => void, ms: number) => void;
  /** The deadline the deadline timer is armed for (Infinity: none). */
  private deadlineTimerAt = Infinity;

  private constructor(opts: RuntimeOptions, store: WorldStore) {
    this.world = opts.world;
    this.log = opts.log;
    this.clock = opts.clock;
    this.worldId = opts.log.meta.worldId;
    this.store = store;
    this.obs = new ObservationEngine(opts.world.policies.observation, store, opts.world.policies.maxPatchOps);
    this.uuids = new UuidSequence(opts.world.seed);
    this.index = new IdempotencyIndex({ perAgent: opts.world.policies.idempotencyWindow });
    this.quotas = new Quotas(opts.world.policies.tenantQuota);
    this.autoQuantum = opts.autoQuantum ?? false;
    this.onSnapshotError = opts.onSnapshotError;
    const setTimer = opts.setTimer ?? ((fn: () => void, ms: number) => void (setTimeout(fn, ms) as { unref?: () => void }).unref?.());
    this.setTimer = setTimer;
    this.generations = new Generations(
      () => this.clock.now(),
      (at, fire) => setTimer(fire, Math.max(0, at - this.clock.now())),
    );
  }

  /** Opens a world on a log: resumes from the newest snapshot and the records after it, or starts fresh. */
  static async open(opts: RuntimeOptions): Promise<WorldRuntime> {
    if (opts.log.meta.worldSeed !== opts.world.seed) {
      throw new WorldlineError('LOG_WORLD_MISMATCH', `The log was created with seed ${opts.log.meta.worldSeed}, but world ${opts.world.name} has seed ${opts.world.seed}.`);
    }
    const rebuild = opts.resumeTail && opts.onRestoredDeltas ? { rebuild: { tail: opts.resumeTail, onDeltas: opts.onRestoredDeltas } } : {};
    const rt = await restoreRuntime(opts, (store) => new WorldRuntime(opts, store), { verify: true, throwOnDivergence: true, ...rebuild });
    return rt.runtime;
  }

  /** @internal Used by restore and replay. */
  static create(opts: RuntimeOptions, store: WorldStore): WorldRuntime {
    return new WorldRuntime(opts, store);
  }

  /** Adds an agent (an observer, and the author of intents). Its entity is the entity with the same id. */
  async registerAgent(agentId: string, opts: { agentClass?: string; tenant?: string } = {}): Promise<AgentInfo> {
    this.assertLive();
    const known = this.agents.get(agentId);
    if (known) return known;
    const tenant = opts.tenant ?? 'default';
    const agentClass = opts.agentClass ?? this.newAgentClass(agentId, tenant);
    if (!this.world.policies.agentClasses[agentClass]) throw new WorldlineError('CONFIG_INVALID', `Unknown agent class ${agentClass}.`, { agent_class: agentClass });
    const info: AgentInfo = { agent_id: agentId, agent_class: agentClass, tenant };
    // The agent observes from now on; if its record is not written the runtime stops, as for a quantum's records:
    // otherwise its intents would commit against an agent that a restart from the log would not know.
    const p = this.log.append(RecordKind.AGENT, utf8(encodeRecord({ schema_version: SCHEMA_VERSION, world_id: this.worldId, ...info }))).catch((err: unknown) => {
      throw this.fail(err);
    });
    this.addAgent(info, 0);
    await this.afterDelivery(p);
    return info;
  }

  /** The class the world's agentClassOf gives a new agent ('default' without one); a wrong answer is the world's bug. */
  private newAgentClass(agentId: string, tenant: string): string {
    const of = this.world.policies.agentClassOf;
    if (of === undefined) return 'default';
    let c: unknown;
    try {
      c = of(agentId, tenant);
    } catch (err) {
      throw new WorldlineError('CONFIG_INVALID', `World ${this.world.name}: policies.agentClassOf threw for agent ${agentId}: ${err instanceof Error ? err.message : String(err)}.`, { agent_id: agentId });
    }
    if (c === undefined) return 'default';
    if (typeof c !== 'string' || !Object.hasOwn(this.world.policies.agentClasses, c)) {
      throw new WorldlineError('CONFIG_INVALID', `World ${this.world.name}: policies.agentClassOf gave agent ${agentId} the class ${JSON.stringify(c)}, which its agentClasses do not define (${Object.keys(this.world.policies.agentClasses).join(', ')}).`, { agent_id: agentId, agent_class: String(c) });
    }
    return c;
  }

  /** @internal */
  addAgent(info: AgentInfo, viewSeq: number): void {
    this.agents.set(info.agent_id, info);
    this.obs.addObserver(info.agent_id, viewSeq);
  }

  private async afterDelivery(p: Promise<unknown>): Promise<void> {
    // p may fail before the earlier quanta are delivered: handled now, so that is no unhandled rejection meanwhile.
    p.catch(() => undefined);
    const chained = this.delivery.then(() => p);
    this.delivery = chained.catch(() => undefined);
    await chained;
  }

  private assertLive(): void {
    if (this.failed) throw this.failed;
  }

  /** @internal */
  classOf(agentId: string): AgentClassPolicy {
    const info = this.agents.get(agentId);
    return this.world.policies.agentClasses[info?.agent_class ?? 'default'] as AgentClassPolicy;
  }

  /** Runs an intent through the pipeline. Resolves (never rejects) once the outcome is final and durable. */
  submit(input: unknown): Promise<IntentOutcome> {
    if (this.failed) return Promise.resolve(rejectedOutcome(agentOf(input), reqOf(input), this.failed));
    // 1. shape
    let intent: Intent & { priority: number };
    let digest: string;
    try {
      intent = checkIntent(input, this.world.handlers);
      digest = intentDigestBytes(intent.kind, intent.payload) ?? intentDigest(intent.kind, intent.payload);
    } catch (err) {
      return Promise.resolve(rejectedOutcome(agentOf(input), reqOf(input), asWorldlineError(err)));
    }
    const { agent_id: agentId, req_id: reqId } = intent;
    const info = this.agents.get(agentId);
    if (!info) return reject(agentId, reqId, 'INVALID_AGENT_ID', `Agent ${agentId} is not registered in world ${this.worldId}.`);
    // 2. idempotency: an in-flight or recorded (agent, req_id) gets the same outcome.
    let live = this.inflight.get(agentId);
    const same = live?.get(reqId);
    if (same) return same.digest === digest ? same.promise : reject(agentId, reqId, 'DUPLICATE_REQ_ID', `req_id ${reqId} is in flight with a different intent.`);
    const done = this.index.get(agentId, reqId);
    if (done) return done.digest === digest ? Promise.resolve(done.outcome) : reject(agentId, reqId, 'DUPLICATE_REQ_ID', `req_id ${reqId} was already used for a different intent.`);
    const cls = this.world.policies.agentClasses[info.agent_class] as AgentClassPolicy;
    // The submit ends the generation announced for this req_id, whatever the stages below decide: kept open past a
    // rejection, it would stay in the map for good and cancel an intent that is already answered.
    this.generations.end(agentId, reqId);
    // 3. staleness, counting only events this agent could see.
    const stale = this.staleness(agentId, intent.context_seq, cls.stalenessThreshold);
    if (stale) return Promise.resolve(rejectedOutcome(agentId, reqId, stale));
    // 4. quotas
    const now = this.clock.now();
    const denial = this.quotas.charge(agentId, cls.quota, info.tenant, now);
    if (denial) return reject(agentId, reqId, 'QUOTA_EXCEEDED', `The ${denial.scope} quota is exhausted; retry in ${denial.retry_after_ms} ms.`, { ...denial });
    // 5. backpressure
    const deadlineAt = intent.deadline_ms === undefined ? undefined : now + intent.deadline_ms;
    const p = new PendingIntent(intent, digest, info.tenant, this.arrival++, deadlineAt, cls, this.forget);
    const r = this.scheduler.enqueue(p, cls);
    if (!r.ok) {
      // Refused, so not charged: a flooding agent's refused intents would otherwise drain its tenant's bucket and get
      // the tenant's other agents QUOTA_EXCEEDED for intents that never ran.
      this.quotas.refund(agentId, info.tenant);
      return reject(agentId, reqId, 'QUEUE_FULL', `Agent ${agentId}'s queue is full (${cls.queueLimit}, policy ${cls.backpressure}).`, { queue_limit: cls.queueLimit });
    }
    if (r.shed) {
      // The shed intent never runs either: it gives back what it was charged, as one refused above does.
      this.quotas.refund(r.shed.agentId, r.shed.tenant);
      r.shed.resolve(rejectedOutcome(agentId, r.shed.reqId, new WorldlineError('QUEUE_FULL', `Shed: agent ${agentId}'s queue is full and the oldest intent was dropped.`, { req_id: r.shed.reqId, shed: true, queue_limit: cls.queueLimit })));
    }
    if (!live) this.inflight.set(agentId, (live = new Map()));
    live.set(reqId, p);
    if (deadlineAt !== undefined) this.armDeadline(deadlineAt);
    this.scheduleQuantum();
    return p.promise;
  }

  /**
   * deadline_ms holds when no quantum runs (a world paused for its engine, or an engine that ticks slowly): a timer at
   * the earliest waiting deadline fails what has passed it, as the next quantum would.
   */
  private armDeadline(at: number): void {
    if (at >= this.deadlineTimerAt) return;
    this.deadlineTimerAt = at;
    // The timer holds the runtime weakly: it stays armed after its intent commits, and would otherwise keep a runtime
    // nobody uses any more (its world deleted or reopened) in memory until then.
    const self = new WeakRef(this);
    // Waits at most DEADLINE_TIMER_STEP_MS, then re-arms for the earliest deadline still waiting (deadlineTimerFired).
    // A timer superseded by an earlier one is not cancelled: armed for the whole deadline_ms (up to a day), one was
    // kept per intent whose deadline came before all others' (100 a second at an agent's default quota, ~0.5 KB
    // each, and an unref'd timer's wait leaves Node's timer list for it behind even when cleared).
    this.setTimer(() => self.deref()?.deadlineTimerFired(at), Math.min(Math.max(0, at - this.clock.now()) + 1, DEADLINE_TIMER_STEP_MS));
  }

  private deadlineTimerFired(at: number): void {
    if (this.deadlineTimerAt === at) this.deadlineTimerAt = Infinity;
    if (this.failed) return;
    this.expireDeadlines();
    const next = this.scheduler.nextDeadline();
    if (next !== undefined) this.armDeadline(next);
  }

  /** @internal Fails every waiting intent whose deadline_ms has passed with OPERATION_TIMEOUT (also done by every quantum). */
  expireDeadlines(): void {
    for (const p of this.scheduler.sweepExpired(this.clock.now())) {
      p.resolve(rejectedOutcome(p.agentId, p.reqId, new WorldlineError('OPERATION_TIMEOUT', `Intent ${p.reqId} passed its deadline_ms before it could commit.`, { req_id: p.reqId })));
    }
  }

  /** Forgets a settled intent as in flight (shared by every PendingIntent, so none needs its own closure). */
  private readonly forget = (p: PendingIntent): void => {
    const m = this.inflight.get(p.agentId);
    if (m?.get(p.reqId) === p) m.delete(p.reqId);
  };

  /** @internal The waiting or committing intent with this (agent, req_id), if any. */
  inflightIntent(agentId: string, reqId: string): PendingIntent | undefined {
    return this.inflight.get(agentId)?.get(reqId);
  }

  /** @internal STALE_CONTEXT when the agent has seen more than `threshold` events since context_seq. */
  staleness(agentId: string, contextSeq: number, threshold: number): WorldlineError | undefined {
    const vs = this.obs.viewSeq(agentId);
    if (contextSeq > vs) return new WorldlineError('INVALID_VIEW_SEQ', `context_seq ${contextSeq} is ahead of agent ${agentId}'s view_seq ${vs}.`, { context_seq: contextSeq, view_seq: vs });
    if (vs <= contextSeq + threshold) return undefined;
    const causes = this.obs.causesSince(agentId, contextSeq);
    return new WorldlineError('STALE_CONTEXT', `The view moved on by ${vs - contextSeq} events since context_seq ${contextSeq}.`, {
      context_seq: contextSeq,
      view_seq: vs,
      stale_due_to: staleCauses(causes),
    });
  }

  /** Injects an effect from outside any agent (environment, NPC, narrator); it is ordered, logged and observed like any other. */
  emit(draft: EffectDraft): Promise<EmitOutcome> {
    this.assertLive();
    const d = checkDraft(draft, this.world.handlers);
    // Emits wait for the next quantum, all of them in it: bounded, as intents are by their queues (a world paused for
    // its engine runs no quantum, and trusted emitters could otherwise pile them up without limit).
    if (this.emitted.length >= MAX_EMITS_WAITING) {
      return Promise.resolve({ status: 'rejected', error: new WorldlineError('QUEUE_FULL', `${MAX_EMITS_WAITING} emitted effects already wait for the next quantum: retry once they have committed`, { max_waiting: MAX_EMITS_WAITING, retry_after_ms: 100 }).toJSON() });
    }
    let resolve!: (o: EmitOutcome) => void;
    const promise = new Promise<EmitOutcome>((r) => (resolve = r));
    this.emitted.push(DraftCandidate.of(d, resolve));
    this.scheduleQuantum();
    return promise;
  }

  /** Declares that an agent is generating `reqId` against `contextSeq`; the token is aborted when the context goes stale. */
  beginGeneration(agentId: string, reqId: string, contextSeq: number, opts: { interrupt?: InterruptPolicy; touches?: readonly string[] } = {}): GenerationToken {
    this.assertLive();
    if (!this.agents.has(agentId)) throw new WorldlineError('INVALID_AGENT_ID', `Agent ${agentId} is not registered.`);
    if (!Number.isSafeInteger(contextSeq) || contextSeq < 0) throw new WorldlineError('INVALID_VIEW_SEQ', 'context_seq must be a non-negative integer.');
    const interrupt = opts.interrupt ?? this.classOf(agentId).interrupt;
    const problem = interruptProblem(interrupt);
    if (problem !== undefined) throw new WorldlineError('INVALID_INTENT', problem, { field: 'interrupt' });
    if (opts.touches !== undefined && !(Array.isArray(opts.touches) && opts.touches.every((id) => typeof id === 'string'))) {
      throw new WorldlineError('INVALID_INTENT', 'touches must be a list of entity ids.', { field: 'touches' });
    }
    const already: StaleCause[] = this.obs.causesSince(agentId, contextSeq);
    const g = { interrupt, ...(opts.touches ? { touches: opts.touches } : {}) };
    const token = this.generations.begin(agentId, reqId, contextSeq, g, already, (c) => this.obs.changedAt(agentId, c.view_seq));
    // A context ahead of the view (a global_seq taken for a view_seq, a view of a world since re-created) names no view
    // this agent had: no event could interrupt the generation until the view caught up, and its intent would be refused
    // (INVALID_VIEW_SEQ). Cancelled at once, so the agent regenerates against the view it has.
    if (contextSeq > this.obs.viewSeq(agentId)) this.generations.cancel(agentId, reqId, `context_seq ${contextSeq} is ahead of the view (view_seq ${this.obs.viewSeq(agentId)})`);
    return token;
  }

  /** True while a generation token is open (not cancelled, ended by its submit, or superseded). */
  generationOpen(token: GenerationToken): boolean {
    return this.generations.isOpen(token);
  }

  /** Forgets an open generation without cancelling it (the connection that asked for it is gone). */
  releaseGeneration(token: GenerationToken): void {
    this.generations.release(token);
  }

  /**
   * Cancels a generation and/or a waiting intent. A committed intent answers already_completed. Throws the runtime's
   * failure once it has stopped: its index may then hold commits a failed log write took back.
   */
  cancel(agentId: string, reqId: string): CancelResult {
    this.assertLive();
    const gen = this.generations.cancel(agentId, reqId, 'cancelled on request');
    const p = this.inflightIntent(agentId, reqId);
    if (p && (p.state === 'queued' || p.state === 'deferred') && this.scheduler.remove(p)) {
      p.resolve({ status: 'cancelled', agent_id: agentId, req_id: reqId, reason: 'cancelled on request' });
      return { status: 'cancelled' };
    }
    const done = this.index.get(agentId, reqId);
    if (done || p) return { status: 'already_completed', outcome: done?.outcome };
    return gen ? { status: 'cancelled' } : { status: 'unknown' };
  }

  /**
   * cancel(), answered as a client may be told: an intent already committing has its outcome in the index at commit,
   * before its records are durable, and a log write that then fails takes it back. So its outcome is given once it
   * settles, as its submitter gets it (committed once durable, or the log's error), never before.
   */
  async cancelSettled(agentId: string, reqId: string): Promise<CancelResult> {
    const r = this.cancel(agentId, reqId);
    const p = this.inflightIntent(agentId, reqId);
    if (r.status === 'already_completed' && p !== undefined) return { status: 'already_completed', outcome: await p.promise };
    return r;
  }

  private scheduleQuantum(): void {
    if (!this.autoQuantum || this.quantumScheduled) return;
    this.quantumScheduled = true;
    queueMicrotask(() => {
      this.quantumScheduled = false;
      if (this.failed) return;
      void this.flush();
      // A quantum takes at most maxIntentsPerQuantum: the rest need another one, or they would wait for an arrival
      // that may never come. Each quantum takes some, so this ends when the queues are empty.
      if (this.scheduler.size > 0 || this.emitted.length > 0) this.scheduleQuantum();
    });
  }

  /** Advances one engine tick: runs world systems, then commits them with the waiting intents as one quantum. */
  tick(): Promise<QuantumReport> {
    return runQuantum(this, true);
  }

  /** Commits the waiting intents and emitted effects as one quantum without advancing the tick. */
  flush(): Promise<QuantumReport> {
    return runQuantum(this, false);
  }

  /** Calls fn once when the runtime stops on a failure (at once if it already has); returns an unsubscribe. */
  onFailure(fn: (err: WorldlineError) => void): () => void {
    if (this.failed) {
      fn(this.failed);
      return () => {};
    }
    this.failureListeners.add(fn);
    return () => this.failureListeners.delete(fn);
  }

  /** Calls `fn` with every quantum's deltas and effects, after they are durable; returns an unsubscribe. */
  onDelivery(fn: DeliveryListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Collects the effects `agentId` can see into QuantumDelivery.visibleEffects until the returned function is called. */
  watchEffects(agentId: string): () => void {
    this.effectSubscribers.set(agentId, (this.effectSubscribers.get(agentId) ?? 0) + 1);
    return () => {
      const n = (this.effectSubscribers.get(agentId) ?? 1) - 1;
      if (n <= 0) this.effectSubscribers.delete(agentId);
      else this.effectSubscribers.set(agentId, n);
    };
  }

  /** The agent's view as of its last delta, with that view_seq and digest. Records are frozen: clone to mutate. */
  observe(agentId: string): { view: View; view_seq: number; context_digest: string } {
    const view = this.obs.view(agentId);
    if (!view) throw new WorldlineError('INVALID_AGENT_ID', `Agent ${agentId} is not registered.`);
    return { view, view_seq: this.obs.flushedSeq(agentId), context_digest: this.obs.digest(agentId) as string };
  }

  /** The agent's latest view_seq (the number of events it could see), what context_seq is checked against. */
  viewSeq(agentId: string): number {
    return this.obs.viewSeq(agentId);
  }

  /** The current world state (a JSON document). */
  state(): ReturnType<WorldStore['toJSON']> {
    return this.store.toJSON();
  }

  stateHash(): string {
    return this.store.hash();
  }

  get lastGlobalSeq(): number {
    return this.globalSeq;
  }

  /** The world tick (sim_time on a ticks timebase), without serialising the state. */
  get currentTick(): number {
    return this.store.tick;
  }

  /**
   * The world's sim_time now, on the scale its effects and deltas carry: the tick on a 'ticks' timebase, the clock's
   * whole milliseconds on 'wall' (what a quantum starting now would stamp).
   */
  get simTime(): number {
    return this.simTimeAt(this.store.tick, Math.floor(this.clock.now()));
  }

  /** @internal sim_time at `tick` and clock reading `now`: the tick on a 'ticks' timebase, the clock on 'wall'. */
  simTimeAt(tick: number, now: number): number {
    return this.world.policies.timebase === 'ticks' ? tick : now;
  }

  /** One entity's current record (read-only), or undefined. */
  entity(id: string): EntityRecord | undefined {
    return this.store.get(id);
  }

  /** Intents waiting for a quantum (for queue-depth metrics). */
  get pendingIntents(): number {
    return this.scheduler.size;
  }

  /** Re-evaluates debounced interruptions whose window has ended (also done at every quantum). */
  pollInterrupts(): void {
    this.generations.poll();
  }

  /** Writes a snapshot of the state as of the last quantum, once its records are durable. */
  async snapshot(): Promise<void> {
    this.assertLive();
    await writeSnapshotAfter(this);
  }

  /** Waits for every quantum so far to be delivered. */
  async drain(): Promise<void> {
    await this.delivery;
    await this.snapshotting;
  }

  /**
   * Waits until no committed quantum is left undelivered: unlike drain(), also for quanta committed while it waits
   * (up to `rounds` of them in a row, so a runtime that never stops committing cannot keep it waiting for ever).
   */
  async settle(rounds = 8): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      const d = this.delivery;
      await d;
      if (d === this.delivery) return;
    }
  }

  /** @internal Marks the runtime failed (a log write failed): every waiting intent is rejected. */
  fail(err: unknown): WorldlineError {
    const e = asWorldlineError(err);
    if (this.failed) return this.failed;
    this.failed = e;
    for (const fn of [...this.failureListeners]) fn(e);
    this.failureListeners.clear();
    for (const m of this.inflight.values()) for (const p of [...m.values()]) if (p.state === 'queued' || p.state === 'deferred') p.resolve(rejectedOutcome(p.agentId, p.reqId, e));
    // Effects emitted for a quantum that will never run: their emitters are told too.
    for (const c of this.emitted.splice(0)) c.onDone?.({ status: 'rejected', error: e.toJSON() });
    return e;
  }
}

