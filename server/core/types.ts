/**
 * The core's data model. Every document that leaves the core (effects, deltas, snapshots, log records) carries
 * `schema_version`; a reader refuses an incompatible major version (SCHEMA_VERSION_MISMATCH).
 */

export const SCHEMA_VERSION = '1.0.0';

/** A JSON value as the core stores it: no undefined, no functions, finite numbers only. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** One entity: a flat record of fields. `x` and `y` (finite numbers) are its position when it has one. */
export type EntityRecord = Readonly<Record<string, JsonValue>>;

/** The full world state as a JSON document (what snapshots and state hashes are computed over). */
export interface WorldState {
  readonly schema_version: string;
  /** Engine tick (advanced by TimeTick). */
  readonly tick: number;
  readonly entities: Readonly<Record<string, EntityRecord>>;
  /** Directed relationship edges: from entity id to the sorted ids it relates to. */
  readonly relationships: Readonly<Record<string, readonly string[]>>;
  readonly metadata: Readonly<Record<string, JsonValue>>;
  /** Saved states of the per-system seeded generators, so a restart resumes their streams exactly. */
  readonly rng: Readonly<Record<string, JsonValue>>;
}

/** What an agent can see: the entities its observation policy admits, each projected to its visible fields. */
export interface View {
  entities: Record<string, Record<string, JsonValue>>;
}

/** An agent's request to change the world. */
export interface Intent {
  readonly schema_version?: string;
  readonly req_id: string;
  readonly agent_id: string;
  readonly kind: string;
  readonly payload: JsonValue;
  /** The view_seq the intent was generated against. */
  readonly context_seq: number;
  /** Higher runs first within a quantum. Integer in [-1000, 1000]; default 0. */
  readonly priority?: number;
  /** Milliseconds after submission by which the intent must commit, or it fails with OPERATION_TIMEOUT. */
  readonly deadline_ms?: number;
}

/** A proposed effect before ordering and numbering (from a world system, emit(), or a validated intent). */
export interface EffectDraft {
  readonly kind: string;
  readonly payload: JsonValue;
  readonly source_id: string;
  readonly priority?: number;
}

/** A committed, numbered change to the world. This is what the log stores (kind 'effect'). */
export interface Effect {
  readonly schema_version: string;
  readonly world_id: string;
  readonly uuid: string;
  readonly kind: string;
  readonly payload: JsonValue;
  readonly global_seq: number;
  readonly sim_time: number;
  readonly wall_time: number;
  readonly source_id: string;
  readonly priority: number;
  readonly req_id?: string;
  readonly agent_id?: string;
  /** Digest of the intent's kind and payload, so a retry with different content is told DUPLICATE_REQ_ID. */
  readonly intent_digest?: string;
}

/** One RFC 6902 operation as the core emits it (only add, remove and replace). */
export type PatchOp =
  | { readonly op: 'add'; readonly path: string; readonly value: JsonValue }
  | { readonly op: 'replace'; readonly path: string; readonly value: JsonValue }
  | { readonly op: 'remove'; readonly path: string };

/** The change to one agent's view produced by one quantum. */
export interface ObservationDelta {
  readonly schema_version: string;
  readonly agent_id: string;
  /** The agent's view sequence after this delta: the number of events it has been able to see. */
  readonly view_seq: number;
  /** The view_seq this delta applies to. */
  readonly from_seq: number;
  /** The last global_seq included. */
  readonly global_seq: number;
  readonly sim_time: number;
  readonly wall_time: number;
  /** RFC 6902 operations; when `snapshot` is true this is one root `replace` carrying the whole view. */
  readonly ops: readonly PatchOp[];
  readonly snapshot: boolean;
  /**
   * Digest of the view at view_seq (64 hex digits): the sum modulo 2^256 of SHA-256(`"<id>":<canonical record>`)
   * over the view's entities; viewDigest(view) computes it on the client's side.
   */
  readonly context_digest: string;
  /**
   * The same ops in pieces, in order. Pieces are shared between agents that receive the same change in a quantum,
   * so a transport can encode each change once and assemble frames from them.
   */
  readonly fragments: readonly DeltaFragment[];
  /** About the ops' length as JSON text (the fragments' sizes summed), when the producer counted it as it built them. */
  readonly opsSize?: number;
}

/** A piece of a delta's ops, one object shared by every agent that receives the same change in a quantum. */
export interface DeltaFragment {
  readonly ops: readonly PatchOp[];
  /** The ops as JSON text: RFC 6902 objects joined by commas. */
  readonly text: string;
  /** About text.length (exact once the text exists), without building the text: for sizing buffers and histories. */
  readonly size: number;
  /** Slots where a transport caches its encodings of the piece (the core creates it empty). */
  readonly wire: unknown[];
}

/** A committed or rejected intent, as the submitter learns it. */
export type IntentOutcome =
  | {
      readonly status: 'committed';
      readonly agent_id: string;
      readonly req_id: string;
      readonly global_seq: number;
      readonly uuid: string;
      readonly sim_time: number;
      /** The committed effect; present for the submission that committed it, absent on an idempotent replay. */
      readonly effect?: Effect;
    }
  | {
      readonly status: 'rejected';
      readonly agent_id: string;
      readonly req_id: string;
      readonly error: { readonly code: number; readonly name: string; readonly message: string; readonly details: Readonly<Record<string, unknown>> };
    }
  | { readonly status: 'cancelled'; readonly agent_id: string; readonly req_id: string; readonly reason: string };

/** One event an agent could see that advanced its view_seq. */
export interface StaleCause {
  readonly view_seq: number;
  readonly global_seq: number;
  readonly kind: string;
}
