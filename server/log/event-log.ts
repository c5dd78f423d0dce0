/**
 * The append-only event log: group commit, segment rollover, durability policies, read-only mode on a full disk,
 * snapshots, compaction and signed checkpoints. Seq and chain position are assigned synchronously in append(), so
 * the order of calls is the order on disk; the returned promise settles when the record is durable under the policy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID, createPrivateKey, type KeyObject } from 'node:crypto';
import { WorldlineError } from '../errors.js';
import type { AppendResult, EventLogPort, LogMeta, LogRecord, SnapshotRecord } from '../core/ports.js';
import {
  ChainWriter, FORMAT_VERSION, FRAME_OVERHEAD, HASH_BYTES, MAX_BODY_BYTES, encodeKind, encodeSegmentHeader, genesisHash, layoutFrame, segmentFileName,
} from './format.js';
import { frameWriterExpected, sharedChunk, sharedFrameWriter, type FrameWriter } from './frame-writer.js';
import { SealDigest } from './seal-digest.js';
import { mkdirDurableSync, nodeFileLayer, writeFully, isWriteSpaceError, type FileLayer } from './files.js';
import { lockDir, type DirLock } from './lock.js';
import { SEGMENT_DIR, recoverLog } from './recovery.js';
import { analyzeLogParallel } from './scan-pool.js';
import { INDEX_EVERY } from './scan.js';
import { readRecords, type SegmentInfo } from './reader.js';
import { encodeSnapshot, writeSnapshotFile, listSnapshotFiles, type Snapshot } from './snapshots.js';
import { CHECKPOINT_KIND, makeCheckpointPayload } from './checkpoints.js';
import { encodeSummary, summaryFile } from './seal.js';

export type Durability = 'always' | 'batch' | 'none';

export interface OpenLogOptions {
  /** Create the log when the directory holds none; when it does, worldId (and worldSeed) must match. */
  readonly create?: { readonly worldId: string; readonly worldSeed: string; readonly logId?: string; readonly createdAt?: number };
  /** `batch` (default): group commit, one fdatasync at a time. `always`: each record written and fsynced alone. `none`: no fsync. */
  readonly durability?: Durability;
  /** Roll to a new segment past this size (default 64 MiB). */
  readonly segmentBytes?: number;
  /** Largest payload accepted (default 16 MiB). */
  readonly maxRecordBytes?: number;
  /** Explicit repair at open: move seq >= this aside (see recovery.ts). */
  readonly truncateFromSeq?: number;
  /** Ed25519 private key (KeyObject or PEM): write a signed checkpoint every N records and/or T ms. */
  readonly checkpoint?: { readonly privateKey: KeyObject | string; readonly everyRecords?: number; readonly everyMs?: number };
  readonly snapshotsToKeep?: number;
  /** After a failed fsync the process exits (default), since retrying fsync can silently lose data; 'fail' keeps it alive with the log closed. */
  readonly onFsyncFailure?: 'exit' | 'fail';
  /** How often a read-only log probes whether the disk accepts writes again (default 1000 ms). */
  readonly probeIntervalMs?: number;
  readonly files?: FileLayer;
  /** Structured events (recovery, read-only, checkpoint...) for the caller's logger. */
  readonly onEvent?: (event: string, details: Record<string, unknown>) => void;
  /** Told the duration of every fsync/fdatasync, in seconds (for a metrics histogram). */
  readonly onSyncSeconds?: (seconds: number) => void;
  /** Told, once per group commit, the seconds from its first append to its acknowledgement (the group's longest wait). */
  readonly onAppendSeconds?: (seconds: number) => void;
  /**
   * @internal Who completes, writes and syncs batches (frame-writer.ts). Default: the process's worker thread, under
   * `batch` and `none` durability without checkpoints or an injected `files` layer; null: this thread (tests).
   */
  readonly frameWriter?: FrameWriter | null;
  /** @internal Batches with fewer records are written on the log's thread (default: 64 with the process's worker, else 1). */
  readonly frameWriterMinRecords?: number;
}

type LogState = 'open' | 'read-only' | 'failed' | 'closing' | 'closed';

interface Batch {
  /**
   * A new segment this batch starts (undefined: append to the current segment). Its header carries the chain hash
   * before the batch: known at append time when frames are completed as they are appended, else at write time.
   */
  roll: { firstSeq: number; header: Buffer | undefined; prevHash: Buffer | undefined } | undefined;
  /** Frames are encoded straight into these buffers; `used` bytes of each are written. */
  chunks: Array<{ buf: Buffer; used: number }>;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
  /** Settle record firstSeq + i; its seq and hash are read back from the chunks (no object per record). */
  resolve: Array<(r: AppendResult) => void>;
  reject: Array<(e: Error) => void>;
  flushers: Array<() => void>;
  startedAt: number;
  /** Under 'none': fdatasync after this batch (a snapshot's anchor must be durable before the snapshot exists). */
  sync: boolean;
  /** Set once that sync succeeded. */
  synced: boolean;
}

interface LiveSegment extends SegmentInfo {
  readonly index: number[];
}

const CHUNK = 1024 * 1024;
/**
 * A batch's first chunk is sized after the previous batch (at least this): a shared-memory chunk is zeroed memory the
 * GC accounts for, and 1 MiB of it per one-record batch would keep the collector busy.
 */
const FIRST_CHUNK = 16 * 1024;
/**
 * Smaller batches are completed and written on the log's thread: a round trip to the worker costs about a tenth of a
 * millisecond of latency, and a small batch costs this thread little (about a microsecond per record).
 */
const OFFLOAD_MIN_RECORDS = 64;

/** Where an appended record landed; its hash is read from the written frame only if someone asks. */
class Appended implements AppendResult {
  constructor(
    readonly seq: number,
    private readonly frames: Buffer,
    private readonly hashAt: number,
  ) {}

  get hash(): Uint8Array {
    return this.frames.subarray(this.hashAt, this.hashAt + HASH_BYTES);
  }
}

class FsyncFailure extends Error {}

/** Opens (recovering) or creates the log in `dir`. */
export async function openLog(dir: string, opts: OpenLogOptions = {}): Promise<EventLog> {
  mkdirDurableSync(path.join(dir, SEGMENT_DIR));
  const lock = lockDir(dir);
  try {
    const log = new EventLog(dir, opts, lock);
    await log.init();
    return log;
  } catch (err) {
    lock.release();
    throw err;
  }
}

export class EventLog implements EventLogPort {
  meta!: LogMeta;
  private readonly files: FileLayer;
  private readonly durability: Durability;
  private readonly segmentBytes: number;
  private readonly maxRecordBytes: number;
  /** The chain tip lives in the writer's scratch, where the next frame's hash input needs it. */
  private readonly chain = new ChainWriter(Buffer.alloc(HASH_BYTES));
  /**
   * Frames are laid out at append and completed (hash, CRC) when their batch is written, by a FrameWriter when one
   * is available; `completedHash` is then the chain hash before the next batch to write. Otherwise each frame is
   * completed as it is appended (needed for checkpoints, which sign the tip at once) and written on this thread.
   */
  private readonly deferred: boolean;
  private completedHash: Buffer = Buffer.alloc(HASH_BYTES);
  private readonly offloadMin: number;
  /** Size of the next batch's first chunk: the last batch's bytes and a quarter, within [FIRST_CHUNK, CHUNK]. */
  private firstChunk = FIRST_CHUNK;
  private readonly kinds = new Map<string, Buffer>();
  private state: LogState = 'open';
  private fd = -1;
  private segments: LiveSegment[] = [];
  /** How many of `segments` exist on disk; the rest are queued rolls not yet created. */
  private onDisk = 0;
  /** Committed size of the current segment (written, and synced per policy). */
  private segSize = 0;
  /** Size the current segment will have once every queued frame is written. */
  private logicalEnd = 0;
  private nextSeq = 1;
  private writtenSeq = 0;
  private writtenHash: Buffer = Buffer.alloc(32);
  /** Under 'none': the records through this seq were synced by a snapshot's sync (see writeSnapshot). */
  private syncedSeq = 0;
  private queue: Batch[] = [];
  private flushing = false;
  /** A flush is scheduled for the end of this turn (startFlush) and its loop has not begun (startWrite may begin it). */
  private flushPending = false;
  /** The flush loop last started (it may still be writing, or cutting back a failed write): close() waits for it. */
  private flushRun: Promise<void> | undefined;
  /** That loop itself, once begun. */
  private loopRun: Promise<void> | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  /** The disk probe in progress, if any: close() waits for it, since it writes through the segment's fd. */
  private probeRun: Promise<void> | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointKey: KeyObject | undefined;
  private lastCheckpointSeq = 0;
  private keptSnapshots: Snapshot[] = [];
  /** SHA-256 of the current segment's bytes as written, for its seal; undefined when it cannot be sealed. */
  private sealDigest: SealDigest | undefined;
  private firstStoredSeq = 1;
  /** The close in progress or done: every close() call shares it. */
  private closeRun: Promise<void> | undefined;

  constructor(readonly dir: string, private readonly opts: OpenLogOptions, private readonly lock: DirLock) {
    this.files = opts.files ?? nodeFileLayer;
    this.durability = opts.durability ?? 'batch';
    this.segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
    this.maxRecordBytes = opts.maxRecordBytes ?? 16 * 1024 * 1024;
    if (!['always', 'batch', 'none'].includes(this.durability)) {
      throw new WorldlineError('CONFIG_INVALID', `durability must be always, batch or none; got ${String(this.durability)}`);
    }
    this.deferred = opts.frameWriter !== null && !opts.checkpoint && this.durability !== 'always' && (opts.frameWriter !== undefined || opts.files === undefined);
    this.offloadMin = opts.frameWriterMinRecords ?? (opts.frameWriter ? 1 : OFFLOAD_MIN_RECORDS);
    // Recovery reads a frame body over MAX_BODY_BYTES as a bad length (a torn tail when last): a larger record would
    // be acknowledged, then cut away at the next open. 9 + 255: seq, kind length and the longest kind.
    const maxPayload = MAX_BODY_BYTES - 9 - 255;
    if (!Number.isSafeInteger(this.maxRecordBytes) || this.maxRecordBytes < 0 || this.maxRecordBytes > maxPayload) {
      throw new WorldlineError('CONFIG_INVALID', `maxRecordBytes must be between 0 and ${maxPayload} (what one log frame can hold); got ${this.maxRecordBytes}`);
    }
    if (!Number.isSafeInteger(this.segmentBytes) || this.segmentBytes < 4096 || this.segmentBytes > 2 ** 31) {
      throw new WorldlineError('CONFIG_INVALID', `segmentBytes must be between 4096 and 2^31; got ${this.segmentBytes}`);
    }
    // Checked before recovery creates anything: a bad key must not leave a new log behind, nor fail later in append().
    const cp = opts.checkpoint;
    if (cp) {
      let key: KeyObject;
      try {
        key = typeof cp.privateKey === 'string' ? createPrivateKey(cp.privateKey) : cp.privateKey;
      } catch (err) {
        throw new WorldlineError('CONFIG_INVALID', `checkpoint privateKey could not be read as a private key (${(err as Error).message}); pass an Ed25519 private key as PEM or a KeyObject`);
      }
      if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') throw new WorldlineError('CONFIG_INVALID', 'checkpoint key must be an Ed25519 private key');
      this.checkpointKey = key;
    }
  }

  /** @internal Recovery or creation; called by openLog. */
  async init(): Promise<void> {
    const emit = this.opts.onEvent ?? (() => {});
    const a = await recoverLog(this.dir, { ...(this.opts.truncateFromSeq !== undefined ? { truncateFromSeq: this.opts.truncateFromSeq } : {}), onEvent: emit }, (d) => analyzeLogParallel(d));
    const segDir = path.join(this.dir, SEGMENT_DIR);
    if (!a.meta) {
      const c = this.opts.create;
      if (!c) throw new WorldlineError('CONFIG_INVALID', `no log in ${this.dir}; pass create: { worldId, worldSeed } to start one`, { dir: this.dir });
      this.meta = { formatVersion: FORMAT_VERSION, logId: c.logId ?? randomUUID(), worldId: c.worldId, worldSeed: c.worldSeed, createdAt: c.createdAt ?? Date.now() };
      const header = encodeSegmentHeader({ ...this.meta, firstSeq: 1, prevHash: genesisHash(this.meta) });
      this.fd = await this.createSegmentFile(segDir, segmentFileName(1), header);
      this.startDigest(header);
      this.segments = [{ file: path.join(segDir, segmentFileName(1)), firstSeq: 1, headerSize: header.length, index: [] }];
      this.segSize = header.length;
      this.onDisk = 1;
      this.chain.setTip(genesisHash(this.meta));
      emit('log-created', { dir: this.dir, logId: this.meta.logId, worldId: this.meta.worldId });
    } else {
      this.meta = a.meta;
      const c = this.opts.create;
      if (c && (c.worldId !== a.meta.worldId || c.worldSeed !== a.meta.worldSeed)) {
        throw new WorldlineError('LOG_WORLD_MISMATCH', `${this.dir} holds world ${a.meta.worldId} (seed ${a.meta.worldSeed}), not ${c.worldId} (seed ${c.worldSeed}); use another --data directory`, { dir: this.dir });
      }
      const last = a.segments[a.segments.length - 1]!;
      this.segments = a.segments.map((s) => ({ file: s.file, firstSeq: s.header.firstSeq, headerSize: s.headerSize, index: s.index }));
      this.onDisk = this.segments.length;
      this.fd = await this.files.open(last.file, 'r+');
      // The last segment will grow: a seal left from before a crash no longer describes it.
      fs.rmSync(summaryFile(last.file), { force: true });
      this.segSize = last.validEnd;
      this.nextSeq = a.lastSeq + 1;
      this.chain.setTip(a.lastHash);
      this.firstStoredSeq = a.firstSeq;
      this.keptSnapshots = a.snapshots;
      for (const w of a.warnings) emit('recovery-warning', { message: w });
      emit('log-recovered', { dir: this.dir, records: a.lastSeq - a.firstSeq + 1, lastSeq: a.lastSeq, segments: a.segments.length });
    }
    this.logicalEnd = this.segSize;
    this.writtenSeq = this.nextSeq - 1;
    this.syncedSeq = this.writtenSeq;
    this.writtenHash = this.chain.tip();
    this.completedHash = this.writtenHash;
    // Start the worker now: batches are written on this thread until it is up.
    if (this.deferred && this.opts.frameWriter === undefined) sharedFrameWriter();
    this.lastCheckpointSeq = this.writtenSeq;
    const cp = this.opts.checkpoint;
    if (cp?.everyMs) {
      this.checkpointTimer = setInterval(() => this.maybeCheckpoint(true), cp.everyMs);
      this.checkpointTimer.unref();
    }
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Seq of the last record written to the file (readable); with batch/always also durable. */
  get durableSeq(): number {
    return this.writtenSeq;
  }

  get firstSeq(): number {
    return this.firstStoredSeq;
  }

  get status(): LogState {
    return this.state;
  }

  append(kind: string, payload: Uint8Array): Promise<AppendResult> {
    if (this.state !== 'open') return Promise.reject(this.unavailable());
    let k = this.kinds.get(kind);
    if (k === undefined) {
      try {
        k = encodeKind(kind);
      } catch (err) {
        return Promise.reject(err as Error);
      }
      this.kinds.set(kind, k);
    }
    if (payload.length > this.maxRecordBytes) {
      return Promise.reject(new WorldlineError('LOG_RECORD_TOO_LARGE', `record of ${payload.length} bytes exceeds maxRecordBytes ${this.maxRecordBytes}`, { bytes: payload.length }));
    }
    const p = new Promise<AppendResult>((resolve, reject) => this.enqueue(k, payload, resolve, reject));
    if (this.checkpointKey) this.maybeCheckpoint(false);
    return p;
  }

  private enqueue(kind: Buffer, payload: Uint8Array, resolve: (r: AppendResult) => void, reject: (e: Error) => void): void {
    const size = FRAME_OVERHEAD + kind.length + payload.length;
    const seq = this.nextSeq;
    let b = this.queue[this.queue.length - 1];
    const cur = this.segments[this.segments.length - 1]!;
    if (this.logicalEnd + size > this.segmentBytes && seq > cur.firstSeq) {
      // Roll: the new segment's header carries the chain hash so far; it is created by the writer before this batch.
      // Deferred, that hash is known when the batch is written; the header's size does not depend on it.
      const prevHash = this.deferred ? undefined : this.chain.tip();
      const header = encodeSegmentHeader({ ...this.meta, firstSeq: seq, prevHash: prevHash ?? this.completedHash });
      b = this.newBatch({ firstSeq: seq, header: prevHash && header, prevHash });
      this.segments.push({ file: path.join(this.dir, SEGMENT_DIR, segmentFileName(seq)), firstSeq: seq, headerSize: header.length, index: [] });
      this.logicalEnd = header.length;
    } else if (b === undefined || this.durability === 'always') {
      b = this.newBatch(undefined);
    }
    let chunk = b.chunks[b.chunks.length - 1];
    if (chunk === undefined || chunk.used + size > chunk.buf.length) {
      const want = Math.max(size, b.chunks.length === 0 ? this.firstChunk : CHUNK);
      chunk = { buf: this.deferred ? sharedChunk(want) : Buffer.allocUnsafeSlow(want), used: 0 };
      b.chunks.push(chunk);
    }
    const seg = this.segments[this.segments.length - 1]!;
    if ((seq - seg.firstSeq) % INDEX_EVERY === 0) seg.index.push(seq, this.logicalEnd);
    if (this.deferred) layoutFrame(chunk.buf, chunk.used, seq, kind, payload);
    else this.chain.writeFrame(chunk.buf, chunk.used, seq, kind, payload);
    chunk.used += size;
    b.bytes += size;
    this.logicalEnd += size;
    this.nextSeq = seq + 1;
    if (b.firstSeq === 0) b.firstSeq = seq;
    b.lastSeq = seq;
    b.resolve.push(resolve);
    b.reject.push(reject);
    this.startFlush();
  }

  private startFlush(): void {
    if (!this.flushing) {
      this.flushing = true;
      this.flushPending = true;
      // A microtask lets every append made in this turn join the first batch (startWrite begins it sooner).
      this.flushRun = Promise.resolve().then(() => this.beginFlush());
    }
  }

  /** Begins the scheduled flush loop unless startWrite already did; resolves when that loop ends. */
  private beginFlush(): Promise<void> | undefined {
    if (!this.flushPending) return this.loopRun;
    this.flushPending = false;
    return (this.loopRun = this.flushLoop());
  }

  /**
   * Hands the records appended so far to the writer now rather than at the end of this turn, so their write and sync
   * run while the caller goes on computing (a quantum's records, then its deltas, which wait for them). Does nothing
   * when no flush is waiting to begin: one already writing takes the new records in its next batch.
   */
  startWrite(): void {
    if (this.flushPending) this.flushRun = this.beginFlush();
  }

  private newBatch(roll: Batch['roll']): Batch {
    const b: Batch = { startedAt: this.opts.onAppendSeconds ? performance.now() : 0, roll, chunks: [], bytes: 0, firstSeq: 0, lastSeq: 0, resolve: [], reject: [], flushers: [], sync: false, synced: false };
    this.queue.push(b);
    return b;
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0 && (this.state === 'open' || this.state === 'closing')) {
        const b = this.queue.shift()!;
        try {
          if (b.roll) {
            const prevHash = b.roll.prevHash ?? this.completedHash;
            await this.rollSegment(b.roll.header ?? encodeSegmentHeader({ ...this.meta, firstSeq: b.roll.firstSeq, prevHash }), b.roll.firstSeq, prevHash);
          }
          await (this.deferred ? this.writeDeferred(b) : this.writeBatch(b));
          if (b.sync && this.durability === 'none') {
            await this.sync(true);
            b.synced = true;
          }
        } catch (err) {
          await this.onWriteError(err, b);
          return;
        }
        if (this.opts.onAppendSeconds && b.resolve.length) this.opts.onAppendSeconds((performance.now() - b.startedAt) / 1000);
        if (b.bytes > 0) this.firstChunk = Math.min(CHUNK, Math.max(FIRST_CHUNK, b.bytes + (b.bytes >> 2)));
        this.acknowledge(b);
        if (b.synced) this.syncedSeq = this.writtenSeq;
        for (const f of b.flushers) f();
      }
    } finally {
      this.flushing = false;
      // A failure stopped the loop. Settling its appends ran their handlers before this loop ended, and a flush()
      // made there queued an empty batch behind a loop that is done: settle it now, or it waits for good.
      if (this.queue.length > 0 && this.state !== 'open' && this.state !== 'closing') this.settle(this.queue.splice(0), this.unavailable());
    }
  }

  /** The batch is durable: it becomes the written tip, and each record's promise gets its seq and hash. */
  private acknowledge(b: Batch): void {
    let i = 0;
    for (const c of b.chunks) {
      const buf = c.buf;
      for (let pos = 0; pos < c.used; i++) {
        const hashAt = pos + 4 + buf.readUInt32LE(pos);
        if (i === b.resolve.length - 1) {
          this.writtenSeq = b.lastSeq;
          this.writtenHash = Buffer.from(buf.subarray(hashAt, hashAt + HASH_BYTES));
        }
        b.resolve[i]!(new Appended(b.firstSeq + i, buf, hashAt));
        pos = hashAt + HASH_BYTES + 4;
      }
    }
  }

  /**
   * Completes, writes and syncs a batch of laid-out frames: through the FrameWriter, or here when there is none or
   * the batch is small.
   */
  private async writeDeferred(b: Batch): Promise<void> {
    if (b.bytes === 0) return;
    const writer = this.opts.frameWriter ?? sharedFrameWriter();
    if (writer && b.resolve.length >= this.offloadMin) {
      const digest = this.sealDigest?.forJob(writer);
      const r = await writer.run({ fd: this.fd, position: this.segSize, prevHash: this.completedHash, chunks: b.chunks, sync: this.durability === 'batch', ...(digest ? { digest } : {}) }).catch(() => undefined);
      if (r && !r.ok && r.phase === 'sync') throw new FsyncFailure(r.message);
      if (r && !r.ok) throw Object.assign(new Error(r.message), { code: r.code });
      if (r) {
        this.completedHash = r.lastHash;
        if (digest) this.sealDigest?.jobDone(writer, digest, b.bytes);
        else this.sealDigest?.addWritten(b.chunks, writer, this.writerExpected());
        this.segSize += b.bytes;
        if (this.durability === 'batch') this.opts.onSyncSeconds?.(r.syncSeconds);
        return;
      }
      // The worker is gone (it completes no frame in part: a job either answers or is redone here).
    }
    this.chain.setTip(this.completedHash);
    for (const c of b.chunks) this.chain.finishAll(c.buf, c.used);
    this.completedHash = this.chain.tip();
    await this.writeBatch(b);
  }

  /** Whether a frame writer serves, or may soon serve, this log (its segments' digests then wait for it a while). */
  private writerExpected(): boolean {
    return this.deferred && (this.opts.frameWriter !== undefined || frameWriterExpected());
  }

  private async writeBatch(b: Batch): Promise<void> {
    let pos = this.segSize;
    for (const c of b.chunks) {
      await writeFully(this.files, this.fd, c.buf, 0, c.used, pos);
      pos += c.used;
    }
    this.sealDigest?.addWritten(b.chunks, this.deferred ? (this.opts.frameWriter ?? sharedFrameWriter()) : undefined, this.writerExpected());
    if (b.bytes > 0 && this.durability === 'always') await this.sync(false);
    else if (b.bytes > 0 && this.durability === 'batch') await this.sync(true);
    this.segSize = pos;
  }

  /** A new segment's seal digest. */
  private startDigest(header: Buffer): void {
    this.dropDigest();
    this.sealDigest = new SealDigest(header);
  }

  private dropDigest(): void {
    this.sealDigest?.drop();
    this.sealDigest = undefined;
  }

  /** fsync/fdatasync; a failure is fatal and never retried (the kernel may already have dropped the dirty pages). */
  private async sync(dataOnly: boolean): Promise<void> {
    const t0 = this.opts.onSyncSeconds ? performance.now() : 0;
    try {
      await (dataOnly ? this.files.fdatasync(this.fd) : this.files.fsync(this.fd));
      if (this.opts.onSyncSeconds) this.opts.onSyncSeconds((performance.now() - t0) / 1000);
    } catch (err) {
      throw new FsyncFailure((err as Error).message, { cause: err });
    }
  }

  /** Creates a segment durably: tmp file, header, fsync, rename, fsync the directory. Returns its fd. */
  private async createSegmentFile(segDir: string, name: string, header: Buffer): Promise<number> {
    const tmp = path.join(segDir, `${name}.tmp`);
    const fd = await this.files.open(tmp, 'w+');
    try {
      await writeFully(this.files, fd, header, 0, header.length, 0);
      try {
        await this.files.fsync(fd);
      } catch (err) {
        throw new FsyncFailure((err as Error).message, { cause: err });
      }
      await this.files.rename(tmp, path.join(segDir, name));
    } catch (err) {
      await this.files.close(fd).catch(() => {});
      await this.files.unlink(tmp).catch(() => {});
      throw err;
    }
    try {
      await this.files.fsyncDir(segDir);
    } catch (err) {
      throw new FsyncFailure((err as Error).message, { cause: err });
    }
    return fd;
  }

  private async rollSegment(header: Buffer, firstSeq: number, prevHash: Buffer): Promise<void> {
    // The old segment must be durable before its successor exists, or a crash could leave a hole in the middle.
    if (this.durability === 'none') await this.sync(true);
    await this.seal(firstSeq - 1, prevHash);
    const fd = await this.createSegmentFile(path.join(this.dir, SEGMENT_DIR), segmentFileName(firstSeq), header);
    this.startDigest(header);
    const old = this.fd;
    this.fd = fd;
    this.segSize = header.length;
    this.onDisk++;
    await this.files.close(old).catch(() => {});
    this.opts.onEvent?.('segment-rolled', { firstSeq });
  }

  /**
   * Seals the finished segment (seal.ts) so the next recovery checks it with one file hash. Best effort: without a
   * seal, recovery scans the segment frame by frame, so a failure here costs startup time, never data. The rename
   * is made durable by the directory fsync of the new segment's creation that follows.
   */
  private async seal(lastSeq: number, lastHash: Buffer): Promise<void> {
    const seg = this.segments[this.onDisk - 1];
    const digest = this.sealDigest;
    this.sealDigest = undefined;
    const sha256 = digest ? await digest.end() : undefined;
    if (!seg || !digest || sha256 === undefined || digest.bytes !== this.segSize) return;
    const data = encodeSummary({ firstSeq: seg.firstSeq, lastSeq, lastHash, size: this.segSize, sha256, records: lastSeq - seg.firstSeq + 1, index: seg.index });
    const file = summaryFile(seg.file);
    const tmp = `${file}.tmp`;
    try {
      const fd = await this.files.open(tmp, 'w');
      try {
        await writeFully(this.files, fd, data, 0, data.length, 0);
        await this.files.fsync(fd);
      } finally {
        await this.files.close(fd).catch(() => {});
      }
      await this.files.rename(tmp, file);
    } catch (err) {
      await this.files.unlink(tmp).catch(() => {});
      this.opts.onEvent?.('seal-skipped', { segment: seg.file, reason: (err as Error).message });
    }
  }

  /**
   * A write failed. Disk full / I/O error: cut the file back to the last committed frame, roll the chain back,
   * reject everything pending (retryable), go read-only and probe for space. Failed fsync: fatal.
   */
  private async onWriteError(err: unknown, failed: Batch): Promise<void> {
    const pending = [failed, ...this.queue];
    this.queue = [];
    if (err instanceof FsyncFailure) return this.fatal(err, pending);
    // The bytes hashed so far are being cut back: this segment will not be sealed (recovery scans it in full).
    this.dropDigest();
    // Refuse appends now, not after the truncate: one accepted during it would sit behind the failure unsettled,
    // then be written later with a seq the rollback below hands out again (a duplicate seq on disk).
    this.state = 'read-only';
    try {
      await this.files.ftruncate(this.fd, this.segSize);
    } catch (truncErr) {
      return this.fatal(new FsyncFailure(`could not truncate after a failed write: ${(truncErr as Error).message}`, { cause: truncErr }), [...pending, ...this.queue.splice(0)]);
    }
    // flush() calls made during the truncate queued empty batches behind it: settle them with the rest.
    pending.push(...this.queue.splice(0));
    // Forget queued rolls and index entries that only the rolled-back frames created. A segment the failed batch
    // already created stays, holding only its header.
    this.segments.length = this.onDisk;
    for (const s of this.segments) while (s.index.length && s.index[s.index.length - 2]! > this.writtenSeq) s.index.length -= 2;
    this.nextSeq = this.writtenSeq + 1;
    this.chain.setTip(this.writtenHash);
    this.completedHash = this.writtenHash;
    this.logicalEnd = this.segSize;
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const e = new WorldlineError('LOG_WRITE_FAILED', `log write failed (${code}); nothing from seq ${failed.firstSeq || this.nextSeq} on was recorded. The log is read-only until the disk accepts writes again; retry with backoff.`, { errno: code, retryable: true }, { cause: err });
    this.settle(pending, e);
    this.opts.onEvent?.('read-only', { errno: code, lastSeq: this.writtenSeq, spaceError: isWriteSpaceError(err) });
    this.startProbe();
  }

  private fatal(err: FsyncFailure, pending: Batch[]): void {
    this.state = 'failed';
    const e = new WorldlineError('LOG_FSYNC_FAILED', `fsync failed (${err.message}); the log stops here and recovery runs at the next start`, {}, { cause: err });
    this.settle(pending, e);
    this.stopTimers();
    this.opts.onEvent?.('fsync-failed', { message: err.message });
    if ((this.opts.onFsyncFailure ?? 'exit') === 'exit') {
      process.stderr.write(`worldline: FATAL ${e.message}\n`);
      process.exit(70);
    }
    this.lock.release();
  }

  private settle(batches: Batch[], e: Error): void {
    for (const b of batches) {
      for (const r of b.reject) r(e);
      for (const f of b.flushers) f();
    }
  }

  /** While read-only: periodically write and remove a probe block; success means the disk takes writes again. */
  private startProbe(): void {
    const probe = Buffer.alloc(64 * 1024);
    const schedule = (): void => {
      this.probeTimer = setTimeout(() => {
        this.probeRun = tick().finally(() => (this.probeRun = undefined));
      }, this.opts.probeIntervalMs ?? 1000);
      this.probeTimer.unref();
    };
    const tick = async (): Promise<void> => {
      if (this.state !== 'read-only') return;
      try {
        await writeFully(this.files, this.fd, probe, 0, probe.length, this.segSize);
        await this.files.ftruncate(this.fd, this.segSize);
        await this.sync(true);
      } catch (err) {
        if (err instanceof FsyncFailure) return this.fatal(err, []);
        await this.files.ftruncate(this.fd, this.segSize).catch(() => {});
        if (this.state === 'read-only') schedule();
        return;
      }
      if (this.state !== 'read-only') return;
      this.state = 'open';
      this.probeTimer = undefined;
      this.opts.onEvent?.('writable-again', { lastSeq: this.writtenSeq });
    };
    schedule();
  }

  private unavailable(): WorldlineError {
    if (this.state === 'read-only') return new WorldlineError('LOG_READ_ONLY', 'the log is read-only after a write failure (disk full or I/O error); retry with backoff', { retryable: true });
    if (this.state === 'failed') return new WorldlineError('LOG_FSYNC_FAILED', 'the log failed an fsync and accepts no more writes; restart to recover');
    return new WorldlineError('LOG_CLOSED', this.state === 'closing' ? 'the log is closing and accepts no more appends' : 'the log is closed');
  }

  private maybeCheckpoint(timer: boolean): void {
    const cp = this.opts.checkpoint;
    if (!cp || !this.checkpointKey || this.state !== 'open') return;
    const since = this.nextSeq - 1 - this.lastCheckpointSeq;
    const due = timer ? since > 0 : cp.everyRecords !== undefined && since >= cp.everyRecords;
    if (!due) return;
    const payload = makeCheckpointPayload(this.meta.logId, this.nextSeq - 1, this.chain.tip(), this.checkpointKey);
    this.lastCheckpointSeq = this.nextSeq; // the checkpoint record's own seq
    this.enqueue(this.kinds.get(CHECKPOINT_KIND) ?? encodeKind(CHECKPOINT_KIND), payload, () => {}, () => {});
  }

  /** Resolves when every record appended so far is durable (or rejected). */
  flush(): Promise<void> {
    const last = this.queue[this.queue.length - 1];
    if (!last && !this.flushing) return Promise.resolve();
    return new Promise((resolve) => {
      if (last) last.flushers.push(resolve);
      else {
        // The batch being written was already taken off the queue: wait behind it with an empty batch.
        this.newBatch(undefined).flushers.push(resolve);
      }
    });
  }

  /** Under 'none': resolves when every record appended so far is written and synced (or rejected), in order with the writes. */
  private syncThrough(): Promise<void> {
    return new Promise((resolve) => {
      const b = this.newBatch(undefined);
      b.sync = true;
      b.flushers.push(resolve);
      this.startFlush();
    });
  }

  /** Records fromSeq..toSeq that are written, in order. */
  records(fromSeq: number = this.firstStoredSeq, toSeq: number = this.writtenSeq): Iterable<LogRecord> {
    if (fromSeq < this.firstStoredSeq) {
      throw new WorldlineError('LOG_RANGE_UNAVAILABLE', `seq ${fromSeq} was compacted away; the log starts at ${this.firstStoredSeq}. Load the newest snapshot and read from its anchor.`, { fromSeq, firstSeq: this.firstStoredSeq });
    }
    return readRecords(this.segments, fromSeq, Math.min(toSeq, this.writtenSeq));
  }

  /** Writes a snapshot of `state` as of anchorSeq, after making the anchor durable. */
  async writeSnapshot(state: Uint8Array, anchorSeq: number): Promise<void> {
    if (!Number.isSafeInteger(anchorSeq) || anchorSeq < this.firstStoredSeq - 1 || anchorSeq > this.lastSeq) {
      throw new WorldlineError('CONFIG_INVALID', `snapshot anchor seq must be between ${this.firstStoredSeq - 1} and ${this.lastSeq}; got ${anchorSeq}`);
    }
    // Under 'none' nothing syncs the records, and a snapshot whose anchor a crash can take away vouches for nothing:
    // once compaction relied on it, the log would start at a seq no snapshot anchors and refuse to open.
    if (this.durability === 'none') await this.syncThrough();
    else await this.flush();
    if (anchorSeq > (this.durability === 'none' ? this.syncedSeq : this.writtenSeq)) throw this.unavailable();
    let anchorHash: Buffer | undefined;
    if (anchorSeq === this.writtenSeq) anchorHash = this.writtenHash;
    else if (anchorSeq === 0) anchorHash = genesisHash(this.meta);
    else for (const r of this.records(anchorSeq, anchorSeq)) anchorHash = Buffer.from(r.hash);
    if (!anchorHash) throw new WorldlineError('LOG_RANGE_UNAVAILABLE', `record ${anchorSeq} is not in the log`);
    const data = encodeSnapshot(this.meta.logId, this.meta.worldId, anchorSeq, anchorHash, state);
    // Only snapshots that match this log count towards the kept ones (see writeSnapshotFile).
    const valid = new Set(this.keptSnapshots.map((s) => s.file));
    const file = await writeSnapshotFile(this.files, this.dir, data, anchorSeq, this.opts.snapshotsToKeep ?? 2, (f) => valid.has(f));
    const kept = new Set(listSnapshotFiles(this.dir).map((s) => s.file));
    // A view of the file's bytes, not a copy of `state` (which can be hundreds of megabytes).
    const body = data.subarray(data.length - HASH_BYTES - state.length, data.length - HASH_BYTES);
    this.keptSnapshots = [{ file, anchorSeq, anchorHash, logId: this.meta.logId, worldId: this.meta.worldId, state: body }, ...this.keptSnapshots.filter((s) => s.file !== file)]
      .filter((s) => kept.has(s.file))
      .sort((x, y) => y.anchorSeq - x.anchorSeq);
    this.opts.onEvent?.('snapshot-written', { anchorSeq, bytes: data.length });
  }

  latestSnapshot(): SnapshotRecord | undefined {
    return this.snapshots()[0];
  }

  snapshots(): readonly SnapshotRecord[] {
    return this.keptSnapshots.map((s) => ({ anchorSeq: s.anchorSeq, anchorHash: s.anchorHash, state: s.state }));
  }

  /** Deletes whole segments whose records all precede the older kept snapshot's anchor. Returns files removed. */
  async compact(): Promise<string[]> {
    const oldest = this.keptSnapshots[this.keptSnapshots.length - 1];
    if (!oldest) return [];
    const removed: string[] = [];
    // Only while the next segment exists on disk: a queued roll's segment is not created yet, and deleting the one
    // before it (the segment being written) would leave no segment at all until the roll lands (or forever, if the
    // roll fails or the process dies first: the next open would start a new, empty log).
    while (this.onDisk > 1 && this.segments[1]!.firstSeq - 1 <= oldest.anchorSeq && this.segments[1]!.firstSeq <= this.writtenSeq + 1) {
      const seg = this.segments.shift()!;
      this.onDisk--;
      await this.files.unlink(seg.file);
      await this.files.unlink(summaryFile(seg.file)).catch(() => {});
      removed.push(seg.file);
    }
    if (removed.length) {
      await this.files.fsyncDir(path.join(this.dir, SEGMENT_DIR));
      this.firstStoredSeq = this.segments[0]!.firstSeq;
      this.opts.onEvent?.('compacted', { removed: removed.length, firstSeq: this.firstStoredSeq });
    }
    return removed;
  }

  private stopTimers(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    this.probeTimer = this.checkpointTimer = undefined;
  }

  /** Flushes, syncs and closes the log and releases the directory lock. */
  close(): Promise<void> {
    // A second close() while the first is flushing must wait for it: marking the log closed at once would stop the
    // flush loop with accepted appends still queued (never settled) and close the fd under a batch being written.
    this.closeRun ??= this.closeOnce();
    return this.closeRun;
  }

  private async closeOnce(): Promise<void> {
    this.stopTimers();
    // A probe in flight writes through this fd: closing it first would let the probe write into whatever file
    // reuses the descriptor number, and then mark this closed log open again.
    if (this.probeRun) {
      await this.probeRun;
      this.stopTimers();
    }
    if (this.state === 'open') {
      // New appends are refused from here on, so the flush below covers every accepted record.
      this.state = 'closing';
      await this.flush();
      if (this.durability === 'none' && this.state === 'closing') await this.sync(true).catch(() => {});
    }
    // A failed write being cut back (read-only already) still uses the fd: closing it first would let that ftruncate
    // hit whatever file reuses the descriptor number. Its failure handling may also have started the probe timer.
    await this.flushRun;
    this.stopTimers();
    this.state = 'closed';
    // The open segment is not sealed (the next open scans it): a digest the frame writer keeps for it goes.
    this.dropDigest();
    await this.files.close(this.fd).catch(() => {});
    this.lock.release();
  }
}
