/**
 * The digest a segment's seal records (seal.ts): SHA-256 of the segment's bytes, in the order they were written.
 * It is computed where the bytes are written, by the frame writer's worker when the segment's batches go there, so
 * the log's thread hashes nothing; bytes the log's thread writes itself (small batches, or while the worker starts)
 * are passed to the worker's digest. A segment's first bytes are held until a frame writer is up, so that the
 * digest can start in the worker; past HOLD_BYTES, or without a worker, the digest is computed on this thread.
 */
import { sharedChunk, type FrameWriter } from './frame-writer.js';
import { SegmentDigest } from './seal.js';

/** Bytes of a segment held while no frame writer is up, before the digest starts on the log's thread instead. */
const HOLD_BYTES = 4 * 1024 * 1024;
/** Bytes this thread wrote that wait for the writer's next job (or a message of their own past this much). */
const QUEUE_BYTES = 256 * 1024;

type Chunks = ReadonlyArray<{ readonly buf: Buffer; readonly used: number }>;

export class SealDigest {
  /** Bytes of the segment added so far (the seal checks them against the segment's size). */
  bytes = 0;
  private held: Buffer[] | undefined = [];
  private local: SegmentDigest | undefined;
  private remote: { readonly writer: FrameWriter; readonly id: number } | undefined;
  /** Bytes for the remote digest written on this thread since the writer's last job (sent along with the next). */
  private queued: Buffer[] = [];
  private queuedBytes = 0;

  /** @param header the segment's header bytes, its first. */
  constructor(header: Buffer) {
    this.hold(header, header.length);
  }

  /** The digest part of a job for `writer`, which then adds the job's bytes itself; undefined: call addWritten after. */
  forJob(writer: FrameWriter): { readonly id: number; readonly start: Uint8Array | undefined; readonly before?: Uint8Array } | undefined {
    if (this.remote) return this.remote.writer === writer ? { id: this.remote.id, start: undefined, ...this.takeQueued() } : undefined;
    if (!this.held || !writer.digests) return undefined;
    return { id: writer.digests.newId(), start: Buffer.concat(this.held) };
  }

  /** The job made with forJob() wrote its bytes. */
  jobDone(writer: FrameWriter, job: { readonly id: number; readonly start: Uint8Array | undefined }, bytes: number): void {
    if (job.start) {
      this.held = undefined;
      this.remote = { writer, id: job.id };
    }
    this.bytes += bytes;
  }

  /**
   * Bytes written without the digest's writer: this thread wrote them, or a writer without digests. `writer` is the
   * frame writer now up, if any; `expected`, whether one may still come up (the bytes are then held a while).
   */
  addWritten(chunks: Chunks, writer: FrameWriter | undefined, expected: boolean): void {
    let bytes = 0;
    for (const c of chunks) bytes += c.used;
    if (this.remote) {
      // Small batches come one by one: their bytes go to the worker with its next job, not a message each.
      for (const c of chunks) this.queued.push(Buffer.from(c.buf.subarray(0, c.used)));
      this.queuedBytes += bytes;
      this.bytes += bytes;
      if (this.queuedBytes >= QUEUE_BYTES) this.flushQueued();
      return;
    }
    if (this.held && writer?.digests) {
      const id = writer.digests.newId();
      writer.digests.add(id, Buffer.concat(this.held), chunks);
      this.held = undefined;
      this.remote = { writer, id };
      this.bytes += bytes;
      return;
    }
    if (this.held && expected && this.bytes + bytes <= HOLD_BYTES) {
      for (const c of chunks) this.hold(Buffer.from(c.buf.subarray(0, c.used)), c.used);
      return;
    }
    const d = this.hashHere();
    for (const c of chunks) d.update(c.buf, 0, c.used);
    this.bytes += bytes;
  }

  /** The hex digest of everything added, or undefined when it cannot be had (the worker is gone). */
  async end(): Promise<string | undefined> {
    if (this.remote) {
      this.flushQueued();
      const r = this.remote;
      this.remote = undefined;
      return r.writer.digests!.end(r.id).catch(() => undefined);
    }
    return this.hashHere().digest();
  }

  /** Forgets the digest (the segment will not be sealed). */
  drop(): void {
    if (this.remote) this.remote.writer.digests!.drop(this.remote.id);
    this.remote = undefined;
    this.held = undefined;
  }

  private takeQueued(): { before?: Buffer } {
    if (this.queuedBytes === 0) return {};
    const before = Buffer.concat(this.queued);
    this.queued = [];
    this.queuedBytes = 0;
    return { before };
  }

  private flushQueued(): void {
    const { before } = this.takeQueued();
    if (before && this.remote) this.remote.writer.digests!.add(this.remote.id, undefined, [{ buf: sharedCopy(before), used: before.length }]);
  }

  private hold(buf: Buffer, length: number): void {
    this.held!.push(buf);
    this.bytes += length;
  }

  /** The digest on this thread, begun from the held bytes. */
  private hashHere(): SegmentDigest {
    if (!this.local) {
      this.local = new SegmentDigest();
      for (const b of this.held ?? []) this.local.update(b, 0, b.length);
      this.held = undefined;
    }
    return this.local;
  }
}

/** `bytes` in shared memory (what FrameWriter.digests.add takes). */
function sharedCopy(bytes: Buffer): Buffer {
  const b = sharedChunk(bytes.length);
  bytes.copy(b);
  return b;
}
