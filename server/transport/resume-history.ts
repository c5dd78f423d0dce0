/**
 * Each agent's recent deltas, held to serve clients that resume: the deltas they missed, or a snapshot when those are
 * no longer held or would cost more than the view. The live fan-out and the deltas a restart rebuilds from the log's
 * tail go through the same record(), so both obey the same limits.
 */
import { detachFragments, type DeltaFragment, type ObservationDelta, type PatchOp, type View } from '../core/index.js';

/**
 * A delta as the resume history uses it: the header and the fragments (which carry the ops). The history holds the
 * core's delta objects themselves, whose ops array is built only if read (the transport never reads it), so it keeps
 * only objects shared with other agents plus each delta's small header.
 */
export type DeltaBody = Pick<ObservationDelta, 'view_seq' | 'from_seq' | 'global_seq' | 'sim_time' | 'wall_time' | 'context_digest' | 'snapshot' | 'fragments'>;
export type HeldDelta = DeltaBody;

/** How a resuming client catches up: the deltas it missed, or a snapshot when they are no longer held. */
export type ResumePlan = { readonly kind: 'deltas'; readonly deltas: readonly HeldDelta[] } | { readonly kind: 'snapshot' };

/** Ops bytes (as JSON text, estimated: DeltaFragment.size) held per agent for resume, beyond the newest delta. */
const HISTORY_BYTES = 16 * 1024;

/** An agent's deltas, each one's ops size as JSON text (estimated), and their sum. */
interface History {
  readonly deltas: HeldDelta[];
  readonly sizes: number[];
  bytes: number;
  /** The quantum (ResumeHistory.quanta) of its newest delta. */
  last: number;
  /** Its deltas have been detached from the core's shared fragment blocks (see endQuantum). */
  detached: boolean;
}

/** Quanta after which an agent that got no delta has its held deltas detached from the shared blocks; also how often that is checked. */
const IDLE_QUANTA = 64;

function textBytes(fragments: readonly DeltaFragment[]): number {
  let n = 0;
  for (let i = 0; i < fragments.length; i++) n += (fragments[i] as DeltaFragment).size;
  return n;
}

/** The RFC 6902 ops of a held delta, from its fragments. */
export function heldOps(d: HeldDelta): PatchOp[] {
  const out: PatchOp[] = [];
  for (const f of d.fragments) for (const op of f.ops) out.push(op);
  return out;
}

/** Removes a's first n items in place (splice would make an array of them, for every delta of every agent). */
function dropFront<T>(a: T[], n: number): void {
  const len = a.length - n;
  for (let i = 0; i < len; i++) a[i] = a[i + n] as T;
  a.length = len;
}

export class ResumeHistory {
  private readonly byAgent = new Map<string, History>();

  /** Quanta ended so far (endQuantum). */
  private quanta = 0;

  /** `window`: deltas kept per agent at most. */
  constructor(private readonly window: number) {}

  /**
   * Marks the end of a quantum's deltas. Every IDLE_QUANTA quanta, the deltas of agents that got none for that long
   * are detached from the core's shared fragment blocks (detachFragments): an active agent's deltas leave the history
   * within a few quanta, an idle agent's stay until it gets more, and must not keep whole blocks alive meanwhile.
   */
  endQuantum(): void {
    if (++this.quanta % IDLE_QUANTA !== 0) return;
    const idle = this.quanta - IDLE_QUANTA;
    for (const h of this.byAgent.values()) {
      if (h.detached || h.last > idle) continue;
      for (const d of h.deltas) detachFragments(d);
      h.detached = true;
    }
  }

  /** Holds an agent's next delta (deltas come in view_seq order), forgetting the oldest ones past the limits. */
  record(d: ObservationDelta): void {
    let h = this.byAgent.get(d.agent_id);
    if (!h) this.byAgent.set(d.agent_id, (h = { deltas: [], sizes: [], bytes: 0, last: 0, detached: false }));
    h.last = this.quanta;
    h.detached = false;
    const size = d.opsSize ?? textBytes(d.fragments);
    h.deltas.push(d);
    h.sizes.push(size);
    h.bytes += size;
    // Keep at most `window` deltas and, past the newest one, HISTORY_BYTES of ops: a longer catch-up would be
    // answered with a snapshot anyway (plan), unless the view itself is larger still.
    let drop = Math.max(0, h.deltas.length - this.window);
    let bytes = h.bytes;
    for (let i = 0; i < drop; i++) bytes -= h.sizes[i] as number;
    while (bytes > HISTORY_BYTES && drop < h.deltas.length - 1) bytes -= h.sizes[drop++] as number;
    if (drop > 0) {
      dropFront(h.deltas, drop);
      dropFront(h.sizes, drop);
      h.bytes = bytes;
    }
  }

  /**
   * The held deltas taking an agent's view from `viewSeq` to the newest one held, or a snapshot when they do not chain
   * exactly from there or weigh more than the view. `observe` gives the agent's delivered view (read only when needed).
   */
  plan(agentId: string, viewSeq: number, observe: () => { readonly view: View; readonly view_seq: number }): ResumePlan {
    const hist = this.byAgent.get(agentId);
    const h = hist?.deltas ?? [];
    const current = h.length ? h[h.length - 1]!.view_seq : observe().view_seq;
    if (viewSeq === current) return { kind: 'deltas', deltas: [] };
    if (viewSeq > current) return { kind: 'snapshot' };
    const start = h.findIndex((d) => d.from_seq === viewSeq);
    if (start < 0) return { kind: 'snapshot' };
    const out = h.slice(start);
    // The held deltas must chain exactly from viewSeq to the current view_seq: no gap, no overlap.
    for (let i = 1; i < out.length; i++) if (out[i]!.from_seq !== out[i - 1]!.view_seq) return { kind: 'snapshot' };
    if (out[out.length - 1]!.view_seq !== current || out.some((d) => d.snapshot)) return { kind: 'snapshot' };
    // Replaying more bytes than the view itself holds is never worth it (and could overrun the socket's buffer
    // limit again): a snapshot is then the cheaper catch-up.
    let deltaBytes = 0;
    for (let i = start; i < h.length; i++) deltaBytes += hist?.sizes[i] ?? 0;
    if (deltaBytes > HISTORY_BYTES && deltaBytes > 2 * JSON.stringify(observe().view).length) return { kind: 'snapshot' };
    return { kind: 'deltas', deltas: out };
  }
}
