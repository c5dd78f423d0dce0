/**
 * The snapshot document: everything needed to resume a world at a log position without reading the records
 * before it (state, agents with their view_seq, the idempotency index, counters).
 */
import { WorldlineError } from '../errors.js';
import { canonicalJson, parseJsonBytes, utf8 } from './canonical.js';
import type { IndexEntry } from './idempotency.js';
import { SCHEMA_VERSION, type WorldState } from './types.js';

export interface SnapshotAgent {
  readonly agent_id: string;
  readonly agent_class: string;
  readonly tenant: string;
  readonly view_seq: number;
}

/**
 * The agents' recent visible events (what stale_due_to and interrupt policies name), so a restart from a snapshot
 * knows them: each distinct event once, and per agent the event behind each of its last view_seqs.
 */
export interface SnapshotCauses {
  /** [global_seq, kind, changed entity ids]. */
  readonly events: ReadonlyArray<readonly [number, string, readonly string[]]>;
  /** Per agent: the view_seq of refs[0], and for each view_seq from it the index of its event (-1: unknown). */
  readonly rings: ReadonlyArray<{ readonly agent_id: string; readonly from: number; readonly refs: readonly number[] }>;
}

export interface SnapshotDoc {
  readonly schema_version: string;
  readonly world_id: string;
  readonly global_seq: number;
  readonly uuid_counter: number;
  readonly effects_since_hash: number;
  readonly state: WorldState;
  readonly agents: readonly SnapshotAgent[];
  readonly idempotency: readonly IndexEntry[];
  /** Absent in snapshots written before it existed (their restarts know no event before the snapshot). */
  readonly causes?: SnapshotCauses;
}

export function encodeSnapshot(doc: SnapshotDoc): Uint8Array {
  return utf8(canonicalJson(doc));
}

export function decodeSnapshot(bytes: Uint8Array, worldId: string): SnapshotDoc {
  const v = parseJsonBytes(bytes, 'snapshot') as Partial<SnapshotDoc> | null;
  if (v === null || typeof v !== 'object' || typeof v.schema_version !== 'string') throw new WorldlineError('SNAPSHOT_CORRUPTED', 'The snapshot has no schema_version.');
  if (v.schema_version.split('.')[0] !== SCHEMA_VERSION.split('.')[0]) {
    throw new WorldlineError('SCHEMA_VERSION_MISMATCH', `The snapshot has schema ${v.schema_version}; this server reads ${SCHEMA_VERSION}.`, { found: v.schema_version });
  }
  if (v.world_id !== worldId) throw new WorldlineError('LOG_WORLD_MISMATCH', `The snapshot belongs to world ${String(v.world_id)}, not ${worldId}.`);
  if (!Number.isSafeInteger(v.global_seq) || !v.state || !Array.isArray(v.agents) || !Array.isArray(v.idempotency)) {
    throw new WorldlineError('SNAPSHOT_CORRUPTED', 'The snapshot is missing fields.');
  }
  const c = v.causes;
  if (c !== undefined && (c === null || typeof c !== 'object' || !Array.isArray(c.events) || !Array.isArray(c.rings))) {
    throw new WorldlineError('SNAPSHOT_CORRUPTED', 'The snapshot\'s causes are malformed.');
  }
  return v as SnapshotDoc;
}
