/**
 * Per-agent intent queues with backpressure, and the weighted round-robin that picks each quantum's intents.
 * Within an agent's queue, higher priority first, then arrival order. Across agents, each round gives every agent
 * with work up to `weight` picks, starting where the previous quantum stopped, so a flooding agent cannot delay
 * another agent's intent by more than one round.
 */
import type { WorldlineError } from '../errors.js';
import type { EmitOutcome } from './runtime.js';
import type { AgentClassPolicy } from './world.js';
import type { Effect, EffectDraft, Intent, IntentOutcome, JsonValue } from './types.js';

/**
 * One draft of a quantum (engine tick, system draft, emitted effect, or an intent: see PendingIntent), with its place
 * in the quantum's order and how it ended there. Everything a candidate needs lives in this one object, which stays
 * alive until the quantum is durable.
 */
export class DraftCandidate {
  uuid = '';
  /** The uuid's counter: candidates are ordered by it where uuids would be compared (the same order). */
  counter = 0;
  /** How it ended in its quantum (0 until then; see runQuantum). */
  how = 0;
  /** The effect (committed), or the outcome (a rejected intent) or error (a rejected emit). */
  result: Effect | IntentOutcome | WorldlineError | undefined = undefined;
  /** The intent, when this candidate is one (itself). */
  pending: PendingIntent | undefined = undefined;

  constructor(
    readonly kind: string,
    readonly payload: JsonValue,
    readonly source_id: string,
    readonly priority: number,
    /** Told how an emitted effect ended. */
    readonly onDone: ((o: EmitOutcome) => void) | undefined,
  ) {}

  static of(draft: EffectDraft & { readonly priority: number }, onDone?: (o: EmitOutcome) => void): DraftCandidate {
    return new DraftCandidate(draft.kind, draft.payload, draft.source_id, draft.priority, onDone);
  }
}

/**
 * An admitted intent waiting for its quantum, and then its candidate there (source_id is the agent); its promise
 * settles once, through resolve().
 */
export class PendingIntent extends DraftCandidate {
  state: 'deferred' | 'queued' | 'ordering' | 'committing' | 'done' = 'queued';
  readonly reqId: string;
  readonly contextSeq: number;
  readonly promise: Promise<IntentOutcome>;
  private settle!: (o: IntentOutcome) => void;

  constructor(
    intent: Intent & { readonly priority: number },
    readonly digest: string,
    readonly tenant: string,
    readonly arrival: number,
    readonly deadlineAt: number | undefined,
    readonly cls: AgentClassPolicy,
    /** Called when the outcome is given (before the promise settles), e.g. to forget it as in flight. */
    private readonly forget: (p: PendingIntent) => void,
  ) {
    super(intent.kind, intent.payload, intent.agent_id, intent.priority, undefined);
    this.pending = this;
    this.reqId = intent.req_id;
    this.contextSeq = intent.context_seq;
    this.promise = new Promise<IntentOutcome>((r) => (this.settle = r));
  }

  /** The agent that submitted it. */
  get agentId(): string {
    return this.source_id;
  }

  resolve(o: IntentOutcome): void {
    this.state = 'done';
    this.forget(this);
    this.settle(o);
  }
}

class AgentQueue {
  readonly items: PendingIntent[] = [];
  readonly deferred: PendingIntent[] = [];
  inRing = false;
  constructor(
    readonly agentId: string,
    readonly cls: AgentClassPolicy,
  ) {}
}

export type EnqueueResult = { readonly ok: true; readonly shed?: PendingIntent } | { readonly ok: false };

function insertByPriority(list: PendingIntent[], p: PendingIntent): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] as PendingIntent).priority < p.priority) i--;
  // At the end (the usual case: equal priorities) push: splice would allocate an empty result array per intent.
  if (i === list.length) list.push(p);
  else list.splice(i, 0, p);
}

export class IntentScheduler {
  private readonly queues = new Map<string, AgentQueue>();
  private ring: AgentQueue[] = [];
  /** Where the next quantum resumes: the ring position, and the picks left in that agent's turn (0: a new turn). */
  private cursor = 0;
  private credit = 0;
  private queued = 0;
  private withDeadline = 0;

  get size(): number {
    return this.queued;
  }

  /** Adds an intent under the agent's backpressure policy. */
  enqueue(p: PendingIntent, cls: AgentClassPolicy): EnqueueResult {
    const agentId = p.source_id;
    let q = this.queues.get(agentId);
    if (!q) this.queues.set(agentId, (q = new AgentQueue(agentId, cls)));
    let shed: PendingIntent | undefined;
    if (q.items.length >= cls.queueLimit) {
      if (cls.backpressure === 'drop_newest') return { ok: false };
      if (cls.backpressure === 'defer') {
        if (q.deferred.length >= cls.queueLimit) return { ok: false };
        p.state = 'deferred';
        q.deferred.push(p);
        this.count(p, 1);
        return { ok: true };
      }
      // shed_oldest: the earliest arrival goes, whatever its priority.
      let oldest = 0;
      for (let i = 1; i < q.items.length; i++) if ((q.items[i] as PendingIntent).arrival < (q.items[oldest] as PendingIntent).arrival) oldest = i;
      shed = q.items.splice(oldest, 1)[0];
      if (shed) this.count(shed, -1);
    }
    p.state = 'queued';
    insertByPriority(q.items, p);
    this.count(p, 1);
    if (!q.inRing) {
      q.inRing = true;
      this.ring.push(q);
    }
    return shed ? { ok: true, shed } : { ok: true };
  }

  private count(p: PendingIntent, d: number): void {
    this.queued += d;
    if (p.deadlineAt !== undefined) this.withDeadline += d;
  }

  /** Removes a queued or deferred intent; false when it is no longer waiting. */
  remove(p: PendingIntent): boolean {
    const q = this.queues.get(p.source_id);
    if (!q) return false;
    for (const list of [q.items, q.deferred]) {
      const i = list.indexOf(p);
      if (i >= 0) {
        list.splice(i, 1);
        this.count(p, -1);
        this.refill(q);
        return true;
      }
    }
    return false;
  }

  private refill(q: AgentQueue): void {
    while (q.deferred.length > 0 && q.items.length < q.cls.queueLimit) {
      const d = q.deferred.shift() as PendingIntent;
      d.state = 'queued';
      insertByPriority(q.items, d);
    }
    if (q.items.length > 0 && !q.inRing) {
      q.inRing = true;
      this.ring.push(q);
    }
  }

  /**
   * Picks up to `budget` intents by weighted round-robin. Where the budget runs out, the next quantum resumes: at
   * the same agent with the picks of its turn it has left, or else at the agent after it (so where quantum
   * boundaries fall does not change the order intents are taken in).
   */
  take(budget: number): PendingIntent[] {
    const out: PendingIntent[] = [];
    const ring = this.ring;
    if (ring.length === 0) return out;
    let i = this.cursor < ring.length ? this.cursor : 0;
    let credit = this.cursor < ring.length ? this.credit : 0;
    let live = ring.length;
    while (out.length < budget && live > 0) {
      const q = ring[i] as AgentQueue;
      if (q.inRing) {
        if (credit === 0) credit = q.cls.weight;
        while (credit > 0 && q.items.length > 0 && out.length < budget) {
          const p = q.items.shift() as PendingIntent;
          this.count(p, -1);
          p.state = 'ordering';
          out.push(p);
          credit--;
        }
        this.refill(q);
        if (q.items.length === 0) {
          // Out of the ring (marked now, removed below): it rejoins at the end when it has work again.
          q.inRing = false;
          live--;
          credit = 0;
        } else if (credit > 0) {
          break; // the budget ran out inside this agent's turn: the next quantum finishes it
        }
      }
      i = i + 1 === ring.length ? 0 : i + 1;
    }
    if (live !== ring.length) {
      // Drop the agents that ran out; the resume point moves with the agent it names (or the next one still here).
      const kept: AgentQueue[] = [];
      let at = 0;
      for (let j = 0; j < ring.length; j++) {
        const q = ring[j] as AgentQueue;
        if (j === i) at = kept.length;
        if (q.inRing) kept.push(q);
      }
      if (!(ring[i] as AgentQueue).inRing) credit = 0;
      this.ring = kept;
      i = at < kept.length ? at : 0;
    }
    this.cursor = i;
    this.credit = credit;
    return out;
  }

  /** The earliest deadline among the waiting intents, if any has one. */
  nextDeadline(): number | undefined {
    if (this.withDeadline === 0) return undefined;
    let at: number | undefined;
    for (const q of this.queues.values()) {
      for (const list of [q.items, q.deferred]) for (const p of list) if (p.deadlineAt !== undefined && (at === undefined || p.deadlineAt < at)) at = p.deadlineAt;
    }
    return at;
  }

  /** Removes and returns every waiting intent whose deadline has passed. */
  sweepExpired(now: number): PendingIntent[] {
    if (this.withDeadline === 0) return [];
    const out: PendingIntent[] = [];
    for (const q of this.queues.values()) {
      for (const list of [q.items, q.deferred]) {
        for (let i = list.length - 1; i >= 0; i--) {
          const p = list[i] as PendingIntent;
          if (p.deadlineAt !== undefined && now > p.deadlineAt) {
            list.splice(i, 1);
            this.count(p, -1);
            out.push(p);
          }
        }
      }
      this.refill(q);
    }
    return out.reverse();
  }
}
