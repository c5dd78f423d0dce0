/**
 * The log records the core writes and reads back. Every payload is canonical JSON with schema_version and world_id.
 * - 'effect': a committed Effect (every field; see types.ts).
 * - 'outcome': an intent rejected by a world rule at commit time (its uuid, error and intent digest).
 * - 'agent': an agent joined the world (its class and tenant), so views and view_seqs replay exactly.
 * - 'state-hash': sha256 of the canonical world state after global_seq, every N effects.
 */
import { WorldlineError } from '../errors.js';
import { canonicalJson, parseJsonBytes } from './canonical.js';
import { SCHEMA_VERSION, type Effect, type IntentOutcome } from './types.js';

export const RecordKind = { EFFECT: 'effect', OUTCOME: 'outcome', AGENT: 'agent', STATE_HASH: 'state-hash' } as const;

export interface OutcomeRecord {
  readonly schema_version: string;
  readonly world_id: string;
  readonly uuid: string;
  readonly intent_digest: string;
  readonly outcome: Extract<IntentOutcome, { status: 'rejected' }>;
}

export interface AgentRecord {
  readonly schema_version: string;
  readonly world_id: string;
  readonly agent_id: string;
  readonly agent_class: string;
  readonly tenant: string;
}

export interface StateHashRecord {
  readonly schema_version: string;
  readonly world_id: string;
  readonly global_seq: number;
  readonly hash: string;
}

const MAJOR = SCHEMA_VERSION.split('.')[0];

/** Parses a record payload and checks its schema major version and world. */
export function decodeRecord<T extends { schema_version: string; world_id: string }>(bytes: Uint8Array, kind: string, worldId: string): T {
  const v = parseJsonBytes(bytes, kind) as Partial<T> | null;
  if (v === null || typeof v !== 'object' || typeof v.schema_version !== 'string') {
    throw new WorldlineError('LOG_CORRUPTION_DETECTED', `A ${kind} record has no schema_version.`, { kind });
  }
  if (v.schema_version.split('.')[0] !== MAJOR) {
    throw new WorldlineError('SCHEMA_VERSION_MISMATCH', `A ${kind} record has schema ${v.schema_version}; this server reads ${SCHEMA_VERSION}.`, { kind, found: v.schema_version });
  }
  if (v.world_id !== worldId) {
    throw new WorldlineError('LOG_WORLD_MISMATCH', `A ${kind} record belongs to world ${String(v.world_id)}, not ${worldId}.`, { kind });
  }
  return v as T;
}

export function encodeRecord(value: OutcomeRecord | AgentRecord | StateHashRecord): string {
  return canonicalJson(value);
}

export type { Effect };
