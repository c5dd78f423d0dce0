/**
 * In-process facades over one runtime: an RL-style environment (observe / step) and a message-style one
 * (emit / subscribe). Both use the same orchestrator and log as the network server. Everything they hand out is a
 * copy, so a caller that mutates a view or applies a patch in place cannot touch the server's state.
 */
import { randomUUID } from 'node:crypto';
import { WorldlineError, isWorldlineError, type ErrorName } from '../errors.js';
import type { LogRecord } from './ports.js';
import { RecordKind, decodeRecord } from './records.js';
import type { EmitOutcome, QuantumDelivery, WorldRuntime } from './runtime.js';
import { SCHEMA_VERSION, type Effect, type EffectDraft, type Intent, type ObservationDelta, type View } from './types.js';

export type StepIntent = Omit<Intent, 'agent_id' | 'req_id' | 'context_seq'> & { readonly req_id?: string; readonly context_seq?: number };

/** RL style: observe an agent's view, step it with one intent, get back its committed effect and its delta. */
export class RlEnv {
  /** With drive (default), step() runs a quantum itself; turn it off when the runtime ticks on its own. */
  constructor(
    private readonly rt: WorldRuntime,
    private readonly opts: { readonly drive?: boolean } = {},
  ) {}

  observe(agentId: string): { view: View; view_seq: number; context_digest: string } {
    return structuredClone(this.rt.observe(agentId));
  }

  /** Submits the intent and resolves with [the committed effect, the agent's delta for that quantum]; throws the rejection. */
  async step(agentId: string, intent: StepIntent): Promise<[Effect, ObservationDelta]> {
    const rt = this.rt;
    // A default req_id must be new to the world, not just to this env: another env, or one made after a restart,
    // counts from 1 again, and a simulated clock may read the same; a reused one gets the old outcome or
    // DUPLICATE_REQ_ID. (Only the log remembers it: replay reads it back, it never draws it again.)
    const req = intent.req_id ?? `rl-${randomUUID()}`;
    const full = { ...intent, agent_id: agentId, req_id: req, context_seq: intent.context_seq ?? rt.observe(agentId).view_seq };
    let delta: ObservationDelta | undefined;
    let target = -1;
    const seen: QuantumDelivery[] = [];
    const off = rt.onDelivery((d) => {
      if (target < 0) seen.push(d);
      else if (delta === undefined && d.effects.some((e) => e.global_seq === target)) delta = d.deltas.find((x) => x.agent_id === agentId) ?? emptyDelta(rt, agentId, d);
    });
    try {
      const outcome = rt.submit(full);
      if (this.opts.drive ?? true) void drive(rt, agentId, req).catch(() => undefined);
      const o = await outcome;
      if (o.status === 'rejected') throw new WorldlineError(o.error.name as ErrorName, o.error.message, { ...o.error.details });
      if (o.status === 'cancelled') throw new WorldlineError('GENERATION_CANCELLED', `Intent ${req} was cancelled: ${o.reason}.`, { req_id: req });
      // A retry of a step already committed (its outcome comes from the idempotency index, which keeps no effect): the
      // same effect, read back from the log, and no change to the view, whose delta was delivered the first time.
      if (!o.effect) return [structuredClone(recordedEffect(rt, o.global_seq, req)), emptyDelta(rt, agentId, undefined)];
      target = o.global_seq;
      for (const d of seen) if (d.effects.some((e) => e.global_seq === target)) delta = d.deltas.find((x) => x.agent_id === agentId) ?? emptyDelta(rt, agentId, d);
      return structuredClone([o.effect, delta ?? emptyDelta(rt, agentId, undefined)]);
    } finally {
      off();
    }
  }
}

/**
 * Runs quanta until the intent (agent, req) has been taken into one: a single quantum may not take it (older intents
 * of the agent, maxIntentsPerQuantum, the round-robin), and with nobody else driving, step() would wait forever.
 */
async function drive(rt: WorldRuntime, agentId: string, req: string): Promise<void> {
  for (;;) {
    const p = rt.inflightIntent(agentId, req);
    if (!p || (p.state !== 'queued' && p.state !== 'deferred')) return;
    await rt.flush();
  }
}

/** The committed effect numbered `globalSeq` (of req_id `req`), from the log: its record is at log seq >= globalSeq. */
function recordedEffect(rt: WorldRuntime, globalSeq: number, req: string): Effect {
  let records: Iterable<LogRecord>;
  try {
    records = rt.log.records(globalSeq);
  } catch (err) {
    // The log was compacted past that seq: the effect may still be after where it now starts.
    if (!isWorldlineError(err, 'LOG_RANGE_UNAVAILABLE')) throw err;
    records = rt.log.records();
  }
  for (const r of records) {
    if (r.kind !== RecordKind.EFFECT) continue;
    const e = decodeRecord<Effect>(r.payload, r.kind, rt.worldId);
    if (e.global_seq === globalSeq && e.req_id === req) return e;
    if (e.global_seq >= globalSeq) break;
  }
  throw new WorldlineError('LOG_RANGE_UNAVAILABLE', `Intent ${req} was committed as global_seq ${globalSeq}, but its effect is no longer in the log (compacted); its outcome stands.`, { req_id: req, global_seq: globalSeq });
}

function emptyDelta(rt: WorldRuntime, agentId: string, d: QuantumDelivery | undefined): ObservationDelta {
  const o = rt.observe(agentId);
  const last = d?.effects.at(-1);
  return {
    schema_version: SCHEMA_VERSION,
    agent_id: agentId,
    view_seq: o.view_seq,
    from_seq: o.view_seq,
    global_seq: last?.global_seq ?? rt.lastGlobalSeq,
    sim_time: last?.sim_time ?? rt.store.tick,
    wall_time: last?.wall_time ?? rt.clock.now(),
    ops: [],
    snapshot: false,
    context_digest: o.context_digest,
    fragments: [],
  };
}

export type AgentMessage = { readonly type: 'delta'; readonly delta: ObservationDelta } | { readonly type: 'effect'; readonly effect: Effect };

export interface Subscription extends AsyncIterable<AgentMessage> {
  close(): void;
}

/** Message style: emit events into the world; subscribe to everything an agent may see. */
export class MessageEnv {
  constructor(private readonly rt: WorldRuntime) {}

  emit(event: EffectDraft): Promise<EmitOutcome> {
    return this.rt.emit(event);
  }

  /**
   * Yields, per quantum, each effect the agent could see (in global_seq order) and then its delta. `after`: the
   * view_seq of a view the caller holds (from observe); a delta it already includes is not yielded (observe may give a
   * view whose quantum is still being delivered, and applying that delta again would apply it twice).
   */
  subscribe(agentId: string, opts: { readonly after?: number } = {}): Subscription {
    if (!this.rt.agents.has(agentId)) throw new WorldlineError('INVALID_AGENT_ID', `Agent ${agentId} is not registered.`);
    const after = opts.after ?? -1;
    if (opts.after !== undefined && !(Number.isSafeInteger(opts.after) && opts.after >= 0)) throw new WorldlineError('INVALID_VIEW_SEQ', `after must be the view_seq of a view you hold (an integer >= 0), got ${String(opts.after)}.`);
    const queue: AgentMessage[] = [];
    // Every loop waiting on the subscription (two `for await` over it share its messages): each is woken.
    const waiting = new Set<() => void>();
    const wake = (): void => {
      for (const w of [...waiting]) w();
      waiting.clear();
    };
    let closed = false;
    const unwatch = this.rt.watchEffects(agentId);
    const off = this.rt.onDelivery((d) => {
      for (const e of d.visibleEffects.get(agentId) ?? []) queue.push({ type: 'effect', effect: structuredClone(e) });
      const delta = d.deltas.find((x) => x.agent_id === agentId);
      if (delta && delta.view_seq > after) queue.push({ type: 'delta', delta: structuredClone(delta) });
      wake();
    });
    // A runtime that stops on a failure delivers nothing more: the iteration ends with its error, not a wait forever.
    let failure: WorldlineError | undefined;
    const offFailure = this.rt.onFailure((e) => {
      failure = e;
      wake();
    });
    const close = (): void => {
      closed = true;
      off();
      offFailure();
      unwatch();
      wake();
    };
    return {
      close,
      async *[Symbol.asyncIterator]() {
        try {
          while (true) {
            const m = queue.shift();
            if (m) {
              yield m;
              continue;
            }
            if (closed) return;
            if (failure) throw failure;
            await new Promise<void>((r) => waiting.add(r));
          }
        } finally {
          close();
        }
      },
    };
  }
}
