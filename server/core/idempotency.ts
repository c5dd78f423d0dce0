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

const key = (agentId: string, reqId: string): string => `${agentId}\u0000${reqId}`;

export class IdempotencyIndex {
  private readonly entries = new Map<string, IndexEntry>();

  get size(): number {
    return this.entries.size;
  }

  get(agentId: string, reqId: string): IndexEntry | undefined {
    return this.entries.get(key(agentId, reqId));
  }

  record(agentId: string, reqId: string, digest: string, outcome: IntentOutcome): void {
    if (outcome.status === 'cancelled') return;
    const stored: RecordedOutcome =
      outcome.status === 'committed'
        ? { status: 'committed', agent_id: agentId, req_id: reqId, global_seq: outcome.global_seq, uuid: outcome.uuid, sim_time: outcome.sim_time }
        : outcome;
    this.entries.set(key(agentId, reqId), { digest, outcome: stored });
  }

  /** Entries in insertion order (commit order), for snapshots. */
  toJSON(): IndexEntry[] {
    return [...this.entries.values()];
  }

  static fromJSON(list: readonly IndexEntry[]): IdempotencyIndex {
    const idx = new IdempotencyIndex();
    for (const e of list) idx.entries.set(key(e.outcome.agent_id, e.outcome.req_id), e);
    return idx;
  }
}
