/**
 * The one message model of wire protocol v1, shared by the json, msgpack and proto codecs. Field names are the
 * wire names (snake_case, as in proto/worldline.proto), so the JSON subprotocol is this model serialised as is.
 * Fields the proto has without presence (strings, numbers, bools) are always present here, defaulted like proto3
 * defaults them; fields with presence (optional, messages, enums whose zero is *_UNSPECIFIED) are optional.
 * Every decoder yields exactly this shape, whatever the codec.
 */

/** The protocol version this code speaks; a peer with a different major version is refused. */
export const PROTOCOL_VERSION = '1.0.0';
export const PROTOCOL_MAJOR = 1;

/** A JSON value: finite numbers, string keys, no undefined. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** One RFC 6902 operation. The core emits add, remove and replace; the codecs carry all six exactly. */
export type WireOp =
  | { readonly op: 'add' | 'replace' | 'test'; readonly path: string; readonly value: JsonValue }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'move' | 'copy'; readonly from: string; readonly path: string };

export const Role = { AGENT: 'agent', ENGINE: 'engine', VIEWER: 'viewer', ADMIN: 'admin' } as const;
export type Role = (typeof Role)[keyof typeof Role];

export const IntentStatus = { ACCEPTED: 'accepted', REJECTED: 'rejected', DUPLICATE: 'duplicate', CANCELLED: 'cancelled' } as const;
export type IntentStatus = (typeof IntentStatus)[keyof typeof IntentStatus];

export interface Vec3 {
  readonly x: number;
  readonly y: number;
  readonly z: number;
}

export interface StaleCause {
  readonly view_seq: number;
  readonly global_seq: number;
  readonly kind: string;
}

// ----- client to server -----

export const ClientMessageType = {
  HELLO: 'hello',
  SUBMIT_INTENT: 'submit_intent',
  BEGIN_GENERATION: 'begin_generation',
  CANCEL_INTENT: 'cancel_intent',
  EMIT: 'emit',
  PING: 'ping',
  TIME_TICK: 'time_tick',
  COLLISION_EVENT: 'collision_event',
  POSITION_REPORT: 'position_report',
  CLOSE: 'close',
} as const;
export type ClientMessageType = (typeof ClientMessageType)[keyof typeof ClientMessageType];

export interface Hello {
  readonly type: 'hello';
  /** Empty when the token came in the query string. */
  readonly token: string;
  readonly agent_id: string;
  readonly role?: Role;
  readonly client_version: string;
  readonly schema_version: string;
  /** The last view_seq applied, and the world incarnation it belongs to (Welcome.incarnation) when known. */
  readonly resume?: { readonly view_seq: number; readonly incarnation?: string };
}

export interface WireIntent {
  readonly req_id: string;
  readonly kind: string;
  readonly payload: JsonValue;
  readonly context_seq: number;
  readonly priority: number;
  readonly deadline_ms?: number;
}

export interface SubmitIntent {
  readonly type: 'submit_intent';
  readonly intent: WireIntent;
}

export interface BeginGeneration {
  readonly type: 'begin_generation';
  readonly req_id: string;
  readonly context_seq: number;
}

export interface CancelIntent {
  readonly type: 'cancel_intent';
  readonly req_id: string;
}

export interface Emit {
  readonly type: 'emit';
  readonly kind: string;
  readonly payload: JsonValue;
  readonly priority: number;
  /** Empty for no acknowledgement. */
  readonly req_id: string;
}

export interface Ping {
  readonly type: 'ping';
  readonly client_time: number;
}

export interface TimeTick {
  readonly type: 'time_tick';
  readonly sim_time: number;
  readonly delta_time: number;
  readonly frame_number: number;
}

export interface CollisionEvent {
  readonly type: 'collision_event';
  readonly entity_a: string;
  readonly entity_b: string;
  readonly impact_force: number;
  readonly position: Vec3;
  readonly normal: Vec3;
}

export interface EntityPosition {
  readonly entity_id: string;
  readonly position: Vec3;
  readonly velocity?: Vec3;
}

export interface PositionReport {
  readonly type: 'position_report';
  readonly frame_number: number;
  readonly entities: readonly EntityPosition[];
}

/** A Close's reason at most: what fits a WebSocket close frame, in bytes of UTF-8. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Ends one channel of a shared socket (either direction; docs/protocol.md "Channels"), as a WebSocket close frame
 * ends a socket: code is a WebSocket close code (1000-4999), reason at most MAX_CLOSE_REASON_BYTES of UTF-8.
 */
export interface Close {
  readonly type: 'close';
  readonly code: number;
  readonly reason: string;
}

export type ClientMessage = Hello | SubmitIntent | BeginGeneration | CancelIntent | Emit | Ping | TimeTick | CollisionEvent | PositionReport | Close;

// ----- server to client -----

export const ServerMessageType = {
  WELCOME: 'welcome',
  OBSERVATION_DELTA: 'observation_delta',
  SNAPSHOT: 'snapshot',
  INTENT_RESULT: 'intent_result',
  CANCELLED: 'cancelled',
  PONG: 'pong',
  ERROR: 'error',
  MOVE_COMMAND: 'move_command',
  CLOSE: 'close',
} as const;
export type ServerMessageType = (typeof ServerMessageType)[keyof typeof ServerMessageType];

export interface SnapshotBody {
  readonly view_seq: number;
  /** {"entities": {id: record}}. */
  readonly view: JsonValue;
  /** Lowercase hex sha256 of the view's canonical JSON ('' when not computed). */
  readonly context_digest: string;
}

export interface Welcome {
  readonly type: 'welcome';
  readonly session: string;
  readonly world: string;
  readonly agent: string;
  readonly schema_version: string;
  readonly server_time: number;
  readonly view_seq: number;
  readonly snapshot?: SnapshotBody;
  /** This incarnation of the world (its log's id); a resuming client sends it back. Absent from older servers. */
  readonly incarnation?: string;
}

export interface ObservationDelta {
  readonly type: 'observation_delta';
  readonly view_seq: number;
  readonly from_seq: number;
  readonly context_digest: string;
  readonly ops: readonly WireOp[];
  readonly global_seq: number;
  readonly sim_time: number;
  /** Wall-clock ms of the quantum's commit (0 when not given): receive time minus this is delivery latency. */
  readonly server_time: number;
}

export interface Snapshot extends SnapshotBody {
  readonly type: 'snapshot';
}

/** The wire shape of an error (server/errors.ts WorldlineError.toJSON()). */
export interface ErrorBody {
  readonly code: number;
  readonly name: string;
  readonly message: string;
  readonly recovery: string;
  readonly details: JsonObject;
}

export interface IntentResult {
  readonly type: 'intent_result';
  readonly req_id: string;
  readonly status: IntentStatus;
  readonly global_seq?: number;
  readonly error?: ErrorBody;
}

export interface Cancelled {
  readonly type: 'cancelled';
  readonly req_id: string;
  readonly reason: string;
  readonly stale_due_to: readonly StaleCause[];
  /**
   * When the server cancelled the generation (ms since the Unix epoch, sub-ms): the start of the quantum that
   * cancelled it, which for a cause committed in that quantum is its commit; 0 when not given.
   */
  readonly server_time: number;
}

export interface Pong {
  readonly type: 'pong';
  readonly client_time: number;
  readonly server_time: number;
  readonly sim_time: number;
}

export interface ErrorMessage extends ErrorBody {
  readonly type: 'error';
}

export interface MoveCommand {
  readonly type: 'move_command';
  readonly entity_id: string;
  readonly target_position: Vec3;
  readonly speed: number;
  readonly use_pathfinding: boolean;
  readonly global_seq: number;
  readonly req_id: string;
}

export type ServerMessage = Welcome | ObservationDelta | Snapshot | IntentResult | Cancelled | Pong | ErrorMessage | MoveCommand | Close;
