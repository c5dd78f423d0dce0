/**
 * Ports: the small interfaces through which the pure core reaches the outside world. The core never imports
 * server/log, server/obs or server/transport; those modules implement these interfaces and are passed in.
 */

/** One record as the log stores it. `seq` is the log's own sequence (contiguous from 1, shared by every kind). */
export interface LogRecord {
  readonly seq: number;
  /** Record kind: 'effect', 'outcome', 'checkpoint', 'state-hash', ... (ASCII, at most 255 bytes). */
  readonly kind: string;
  /** The stored bytes; the core writes canonical JSON (RFC 8785). */
  readonly payload: Uint8Array;
  /** SHA-256 chain hash of this record (32 bytes). */
  readonly hash: Uint8Array;
}

/** Where an appended record landed; the promise resolves once it is durable under the log's policy. */
export interface AppendResult {
  readonly seq: number;
  readonly hash: Uint8Array;
}

/** Identity of a log, fixed when it is created and stored in every segment header. */
export interface LogMeta {
  readonly formatVersion: number;
  readonly logId: string;
  readonly worldId: string;
  readonly worldSeed: string;
  /** Creation time, ms since the Unix epoch. */
  readonly createdAt: number;
}

/** A state snapshot read back from the log directory, already checked against its checksum. */
export interface SnapshotRecord {
  /** The last log seq whose effect the state includes. */
  readonly anchorSeq: number;
  readonly anchorHash: Uint8Array;
  readonly state: Uint8Array;
}

/** What the core needs from the durable event log. server/log's EventLog implements it. */
export interface EventLogPort {
  readonly meta: LogMeta;
  /** Seq of the last record appended (0 for an empty log). */
  readonly lastSeq: number;
  /**
   * Appends a record; seq and chain position are assigned synchronously, in call order. The payload is read (copied
   * or written out) before append returns: the core reuses the buffer for the next record.
   */
  append(kind: string, payload: Uint8Array): Promise<AppendResult>;
  /**
   * Optional: begin writing (and syncing) the records appended so far now, not at the end of the current turn. The
   * core calls it after a quantum's last append, before it computes the quantum's deltas, which wait for durability.
   */
  startWrite?(): void;
  /** Reads records with seq >= fromSeq (default: the first record still stored), in order. */
  records(fromSeq?: number, toSeq?: number): Iterable<LogRecord>;
  /** Atomically stores a snapshot of state as of anchorSeq (a seq already appended). */
  writeSnapshot(state: Uint8Array, anchorSeq: number): Promise<void>;
  /** The newest snapshot that passes its checksum, or undefined. */
  latestSnapshot(): SnapshotRecord | undefined;
  /** Every kept snapshot that passes its checksum, newest first (a restart may need an older one: see restore.ts). */
  snapshots(): readonly SnapshotRecord[];
}

/** Time source. `now()` is wall-clock ms; the core never reads Date.now() itself. */
export interface Clock {
  now(): number;
}

/** Seeded randomness: a float in [0, 1). The core derives uuids and any random choice from it. */
export interface Rng {
  next(): number;
}
