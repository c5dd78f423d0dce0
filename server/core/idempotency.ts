/**
 * The idempotency index: for each (agent, req_id) that reached a final, recorded outcome (committed, or rejected by
 * a world rule at commit time), the outcome and the digest of the intent. It is rebuilt at start from the snapshot
 * and the log records after it, so a retry after a restart gets the same outcome, global_seq included. Intents
 * rejected before ordering (shape, staleness, quota, backpressure, deadline, cancellation) are never recorded: a
 * retry with the same req_id is evaluated afresh.
 */
import type { IntentOutcome } from './types.js';

/** The stored form of a final outcome (a committed outcome without its effect body). */
export type RecordedOutcome = Exclude<IntentOutcome, { status: 'cancelled' }>;

export interface IndexEntry {
  readonly digest: string;
  readonly outcome: RecordedOutcome;
}

/**
 * One recorded outcome, kept compact: an index entry lives as long as the world, one per committed intent, so the
 * outcome object is only built when a retry asks for it.
 */
class Entry {
  constructor(
    readonly digest: string,
    /** The committed outcome's fields (global_seq 0 for a rejection). */
    readonly globalSeq: number,
    readonly uuid: string,
    readonly simTime: number,
    readonly rejected: Extract<IntentOutcome, { status: 'rejected' }> | undefined,
  ) {}

  outcome(agentId: string, reqId: string): RecordedOutcome {
    return this.rejected ?? { status: 'committed', agent_id: agentId, req_id: reqId, global_seq: this.globalSeq, uuid: this.uuid, sim_time: this.simTime };
  }
}

export class IdempotencyIndex {
  /** agent id -> req_id -> entry (nested, so no key string is built per intent). */
  private readonly byAgent = new Map<string, Map<string, Entry>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(agentId: string, reqId: string): IndexEntry | undefined {
    const e = this.byAgent.get(agentId)?.get(reqId);
    return e === undefined ? undefined : { digest: e.digest, outcome: e.outcome(agentId, reqId) };
  }

  record(agentId: string, reqId: string, digest: string, outcome: IntentOutcome): void {
    if (outcome.status === 'cancelled') return;
    this.put(agentId, reqId, outcome.status === 'committed' ? new Entry(digest, outcome.global_seq, outcome.uuid, outcome.sim_time, undefined) : new Entry(digest, 0, '', 0, outcome));
  }

  /** record() of a committed outcome, from its fields (the commit path builds no outcome object for it). */
  recordCommitted(agentId: string, reqId: string, digest: string, globalSeq: number, uuid: string, simTime: number): void {
    this.put(agentId, reqId, new Entry(digest, globalSeq, uuid, simTime, undefined));
  }

  private put(agentId: string, reqId: string, e: Entry): void {
    let m = this.byAgent.get(agentId);
    if (m === undefined) this.byAgent.set(agentId, (m = new Map()));
    const size = m.size;
    m.set(reqId, e);
    this.count += m.size - size;
  }

  /** Entries per agent (agents in the order they first recorded), each agent's in commit order, for snapshots. */
  toJSON(): IndexEntry[] {
    const out: IndexEntry[] = [];
    for (const [agentId, m] of this.byAgent) for (const [reqId, e] of m) out.push({ digest: e.digest, outcome: e.outcome(agentId, reqId) });
    return out;
  }

  static fromJSON(list: readonly IndexEntry[]): IdempotencyIndex {
    const idx = new IdempotencyIndex();
    for (const e of list) idx.record(e.outcome.agent_id, e.outcome.req_id, e.digest, e.outcome);
    return idx;
  }
}
