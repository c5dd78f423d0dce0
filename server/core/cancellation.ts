/**
 * Generations and their cancel tokens. An agent declares it is generating an intent (req_id) against a view
 * (context_seq); when a newly committed event it can see makes that context stale, the token is aborted with a
 * GENERATION_CANCELLED error whose details carry stale_due_to, subject to the agent's interrupt policy:
 * - always: any visible event after context_seq;
 * - only_conflict: a visible event after context_seq that changed the agent's own entity or one of the entities the
 *   generation declared it `touches`;
 * - { debounce_ms }: like always, but at most one interruption per agent per window. The window opens at an
 *   interruption; a trigger inside it is suppressed and re-evaluated when the window ends: if the generation is
 *   still open then, it is cancelled with every suppressed cause.
 */
import { WorldlineError } from '../errors.js';
import type { StaleCause } from './types.js';
import type { InterruptPolicy } from './world.js';

/**
 * The causes as an error's `details.stale_due_to` lists them (STALE_CONTEXT, GENERATION_CANCELLED): `global_seq`,
 * `view_seq` and `kind`, as the wire's Cancelled frame names them, plus `seq`, the same global_seq under the name
 * these details gave it first (kept for v1 clients that read it).
 */
export function staleCauses(causes: readonly StaleCause[]): Array<{ global_seq: number; view_seq: number; kind: string; seq: number }> {
  return causes.map((c) => ({ global_seq: c.global_seq, view_seq: c.view_seq, kind: c.kind, seq: c.global_seq }));
}

export interface GenerationToken {
  readonly agent_id: string;
  readonly req_id: string;
  readonly context_seq: number;
  /** Aborted with the cancel reason (a GENERATION_CANCELLED WorldlineError) when the generation is cancelled. */
  readonly signal: AbortSignal;
  /** The cancel reason once the generation is cancelled. */
  readonly reason: WorldlineError | undefined;
  /**
   * Calls `fn` once, synchronously, when the generation is cancelled (at once if it is already): what the signal's
   * abort event does, without an AbortController and an Event per cancel (one commit may cancel hundreds).
   */
  onCancel(fn: (reason: WorldlineError) => void): void;
}

/** A token whose AbortController is made only if someone asks for the signal. */
class Token implements GenerationToken {
  reason: WorldlineError | undefined;
  private controller: AbortController | undefined;
  private listeners: Array<(reason: WorldlineError) => void> | undefined;

  constructor(
    readonly agent_id: string,
    readonly req_id: string,
    readonly context_seq: number,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  onCancel(fn: (reason: WorldlineError) => void): void {
    if (this.reason) fn(this.reason);
    else (this.listeners ??= []).push(fn);
  }

  cancel(reason: WorldlineError): void {
    if (this.reason) return;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) {
      for (const fn of listeners) {
        try {
          fn(reason);
        } catch (err) {
          // As an abort listener's exception: reported, and the quantum that cancelled goes on.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
    this.controller?.abort(reason);
  }
}

interface Generation {
  readonly token: Token;
  readonly policy: InterruptPolicy;
  readonly touches: ReadonlySet<string>;
  suppressed: StaleCause[];
  reevalAt: number | undefined;
}

export interface GenerationOptions {
  readonly interrupt: InterruptPolicy;
  readonly touches?: readonly string[];
}

export class Generations {
  private readonly byAgent = new Map<string, Map<string, Generation>>();
  private readonly lastInterrupt = new Map<string, number>();
  private readonly due: Generation[] = [];
  /** When the armed re-evaluation timer is due (Infinity: none armed). */
  private timerAt = Infinity;

  constructor(
    private readonly now: () => number,
    /** Calls `fire` at `atMs` on the clock (a timer). */
    private readonly schedule: (atMs: number, fire: () => void) => void,
  ) {}

  /** True when any agent has an open generation. */
  active(): boolean {
    return this.byAgent.size > 0;
  }

  /** True when the agent has open generations (the observation hook is skipped otherwise). */
  watching(agentId: string): boolean {
    return (this.byAgent.get(agentId)?.size ?? 0) > 0;
  }

  /** Opens a generation. `already` lists visible events after context_seq: they are judged at once. */
  begin(agentId: string, reqId: string, contextSeq: number, opts: GenerationOptions, already: readonly StaleCause[], changedOf: (c: StaleCause) => readonly string[]): GenerationToken {
    let m = this.byAgent.get(agentId);
    const prev = m?.get(reqId);
    if (prev) this.abort(prev, 'superseded by a new generation for the same req_id', []);
    const token = new Token(agentId, reqId, contextSeq);
    const g: Generation = { token, policy: opts.interrupt, touches: new Set(opts.touches ?? []), suppressed: [], reevalAt: undefined };
    if (!m) this.byAgent.set(agentId, (m = new Map()));
    m.set(reqId, g);
    for (const c of already) {
      if (token.reason) break;
      this.judge(g, c, changedOf(c));
    }
    return token;
  }

  /** Closes a generation without cancelling it (its intent was submitted, or the agent gave up). */
  end(agentId: string, reqId: string): void {
    const m = this.byAgent.get(agentId);
    m?.delete(reqId);
    if (m?.size === 0) this.byAgent.delete(agentId);
  }

  /** True while `token`'s generation is the open one for its (agent, req_id): not cancelled, ended or superseded. */
  isOpen(token: GenerationToken): boolean {
    return this.byAgent.get(token.agent_id)?.get(token.req_id)?.token === token;
  }

  /** Closes `token`'s generation without cancelling it, if it is still the open one (its requester went away). */
  release(token: GenerationToken): void {
    if (this.isOpen(token)) this.end(token.agent_id, token.req_id);
  }

  /** Cancels a generation on request; false when none is open. */
  cancel(agentId: string, reqId: string, reason: string): boolean {
    const g = this.byAgent.get(agentId)?.get(reqId);
    if (!g) return false;
    this.abort(g, reason, []);
    return true;
  }

  /** A committed event the agent can see. */
  onVisible(agentId: string, cause: StaleCause, changed: readonly string[]): void {
    const m = this.byAgent.get(agentId);
    if (!m) return;
    for (const g of [...m.values()]) if (cause.view_seq > g.token.context_seq) this.judge(g, cause, changed);
  }

  private judge(g: Generation, cause: StaleCause, changed: readonly string[]): void {
    const p = g.policy;
    const agentId = g.token.agent_id;
    if (p === 'always') return this.interrupt(g, [cause]);
    if (p === 'only_conflict') {
      for (const id of changed) if (id === agentId || g.touches.has(id)) return this.interrupt(g, [cause]);
      return;
    }
    const now = this.now();
    const last = this.lastInterrupt.get(agentId);
    if (last === undefined || now - last >= p.debounce_ms) return this.interrupt(g, [...g.suppressed, cause]);
    g.suppressed.push(cause);
    if (g.reevalAt === undefined) {
      g.reevalAt = last + p.debounce_ms;
      this.due.push(g);
      this.arm(g.reevalAt);
    }
  }

  /** One timer, at the earliest window end: poll() arms the next one. */
  private arm(at: number): void {
    if (at >= this.timerAt) return;
    this.timerAt = at;
    this.schedule(at, () => {
      if (this.timerAt === at) this.timerAt = Infinity;
      this.poll();
    });
  }

  /** Re-evaluates suppressed interruptions whose window has ended. */
  poll(): void {
    if (this.due.length === 0) return;
    const now = this.now();
    for (let i = this.due.length - 1; i >= 0; i--) {
      const g = this.due[i] as Generation;
      if (g.reevalAt !== undefined && now < g.reevalAt) continue;
      this.due.splice(i, 1);
      g.reevalAt = undefined;
      const open = this.byAgent.get(g.token.agent_id)?.get(g.token.req_id) === g;
      if (open && !g.token.reason && g.suppressed.length > 0) this.interrupt(g, g.suppressed);
    }
    // A window that has not ended yet needs a timer: the one that called this may have fired before the clock read its
    // due time (Node times by a monotonic clock, and Date.now() can read a millisecond short), and left to the next
    // quantum, the suppressed cause would wait for one that may never come.
    let next = Infinity;
    for (const g of this.due) if (g.reevalAt !== undefined && g.reevalAt < next) next = g.reevalAt;
    if (next !== Infinity) this.arm(next);
  }

  private interrupt(g: Generation, causes: readonly StaleCause[]): void {
    this.lastInterrupt.set(g.token.agent_id, this.now());
    this.abort(g, 'the context became stale', causes);
  }

  private abort(g: Generation, why: string, causes: readonly StaleCause[]): void {
    this.end(g.token.agent_id, g.token.req_id);
    g.suppressed = [];
    // No stack trace: the reason is a message to the agent, not a fault, and one quantum may cancel hundreds of
    // generations (capturing a stack was the largest cost of each).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    let err: WorldlineError;
    try {
      err = new WorldlineError('GENERATION_CANCELLED', `Generation ${g.token.req_id} of agent ${g.token.agent_id} was cancelled: ${why}.`, {
        req_id: g.token.req_id,
        context_seq: g.token.context_seq,
        // What a Cancelled frame carries as its reason: the frame names the req_id, and the session the agent.
        reason: why,
        stale_due_to: staleCauses(causes),
      });
    } finally {
      Error.stackTraceLimit = limit;
    }
    g.token.cancel(err);
  }
}
