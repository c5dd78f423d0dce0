/**
 * Group commit off the main thread. The log lays its frames out in shared memory as they are appended (length,
 * seq, kind, payload); a worker thread then completes them (chain hash and CRC), writes them and syncs them, and
 * answers once the batch is durable. SHA-256 and CRC-32 of each small frame cost about a microsecond of call
 * overhead on the thread that computes them; here that thread is not the one running the simulation, and the main
 * thread sees one callback per batch instead of one for the write and one for the sync.
 *
 * The worker only reports what happened (a write error with its errno, a failed sync); the log decides what follows,
 * by the same rules as for writes it makes itself (event-log.ts: read-only after a write error, fatal after a
 * failed sync). One worker serves every log of the process; it holds no state between jobs.
 */
import { Worker } from 'node:worker_threads';
import type { DigestAdd, DigestReply, DigestRequest, FrameJobReply, FrameJobRequest } from './frame-worker.js';

export interface FrameJob {
  readonly fd: number;
  /** File offset of the first chunk's first byte. */
  readonly position: number;
  /** Chain hash of the record before the first frame. */
  readonly prevHash: Uint8Array;
  /** Frames laid out by layoutFrame, in buffers backed by a SharedArrayBuffer; `used` bytes of each are written. */
  readonly chunks: ReadonlyArray<{ readonly buf: Buffer; readonly used: number }>;
  /** fdatasync after writing. */
  readonly sync: boolean;
  /**
   * Adds the bytes written to a segment digest the writer keeps (see SegmentDigests); `start` (the segment's header
   * bytes) begins it.
   */
  readonly digest?: { readonly id: number; readonly start: Uint8Array | undefined; readonly before?: Uint8Array };
}

export type FrameJobResult =
  | { readonly ok: true; readonly lastHash: Buffer; readonly syncSeconds: number }
  | { readonly ok: false; readonly phase: 'write' | 'sync'; readonly code: string; readonly message: string };

/** Completes, writes and syncs a batch of frames. Rejects only when it cannot run the job at all (its worker is gone). */
export interface FrameWriter {
  run(job: FrameJob): Promise<FrameJobResult>;
  /**
   * Segment digests kept where the bytes are written, for seals: `end` gives the hex SHA-256 of everything jobs added
   * (undefined when unknown) and forgets it; `drop` forgets it. A writer without them has the log hash on its thread.
   */
  readonly digests?: {
    newId(): number;
    /** Adds bytes written elsewhere (after `start`, which begins the digest), in order with the jobs. */
    add(id: number, start: Uint8Array | undefined, chunks: FrameJob['chunks']): void;
    end(id: number): Promise<string | undefined>;
    drop(id: number): void;
  };
}

/** A chunk for frames a FrameWriter will complete: backed by shared memory, so the worker writes into it in place. */
export function sharedChunk(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

/** The chunks as the worker receives them: their shared memory, where they start in it, and how much is used. */
function shared(chunks: FrameJob['chunks']): { buffers: SharedArrayBuffer[]; offsets: number[]; lengths: number[] } {
  return { buffers: chunks.map((c) => c.buf.buffer as SharedArrayBuffer), offsets: chunks.map((c) => c.buf.byteOffset), lengths: chunks.map((c) => c.used) };
}

function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./frame-worker.js', import.meta.url));
  // Running from TypeScript sources (tests, benches): register tsx inside the worker before loading its body,
  // since loader flags given to the parent do not reach a worker's entry module on Node 20 (as in scan-pool.ts).
  let tsx = 'tsx/esm/api';
  try {
    tsx = import.meta.resolve(tsx);
  } catch {
    // Hosts that lack import.meta.resolve (test runners): the bare specifier resolves from the working directory.
  }
  const body = new URL('./frame-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(body)}); })`, { eval: true });
}

class WorkerFrameWriter implements FrameWriter {
  ready = false;
  failed = false;
  private nextId = 1;
  private nextDigest = 1;
  private readonly waiting = new Map<number, { resolve: (r: FrameJobResult | string | undefined) => void; reject: (e: Error) => void }>();

  readonly digests = {
    newId: (): number => this.nextDigest++,
    end: (digest: number): Promise<string | undefined> => this.call<string | undefined>((id) => ({ type: 'digest', id, digest })),
    add: (digest: number, start: Uint8Array | undefined, chunks: FrameJob['chunks']): void => {
      if (this.failed) return;
      const m: DigestAdd = { type: 'add', digest, start, ...shared(chunks) };
      this.worker.postMessage(m);
    },
    drop: (digest: number): void => {
      if (!this.failed) this.worker.postMessage({ type: 'drop', id: 0, digest } satisfies DigestRequest);
    },
  };

  constructor(private readonly worker: Worker) {
    worker.on('message', (m: FrameJobReply | DigestReply | { ready: true }) => {
      if ('ready' in m) {
        this.ready = true;
        return;
      }
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      if ('hex' in m) w.resolve(m.hex);
      else w.resolve(m.ok ? { ok: true, lastHash: Buffer.from(m.lastHash), syncSeconds: m.syncSeconds } : { ok: false, phase: m.phase, code: m.code, message: m.message });
    });
    const gone = (err: Error): void => {
      this.failed = true;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`the frame writer worker exited with code ${code}`)));
    // Idle, it must not keep the process alive; with jobs outstanding it must (see run). After the listeners, which
    // would otherwise hold it.
    worker.unref();
  }

  run(job: FrameJob): Promise<FrameJobResult> {
    return this.call<FrameJobResult>((id) => ({
      type: 'job',
      id,
      fd: job.fd,
      position: job.position,
      prevHash: Uint8Array.from(job.prevHash),
      ...shared(job.chunks),
      sync: job.sync,
      digest: job.digest?.id,
      digestStart: job.digest?.start,
      digestBefore: job.digest?.before,
    }));
  }

  private call<T extends FrameJobResult | string | undefined>(message: (id: number) => FrameJobRequest | DigestRequest): Promise<T> {
    if (this.failed) return Promise.reject(new Error('the frame writer worker is gone'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve: resolve as (r: FrameJobResult | string | undefined) => void, reject });
      this.worker.postMessage(message(id));
    });
  }
}

let sharedWriter: WorkerFrameWriter | undefined;
let unavailable = false;

/**
 * The process's frame writer, or undefined while its worker is starting (started by the first call) or when worker
 * threads are unavailable: the log then completes and writes its frames on its own thread.
 */
export function sharedFrameWriter(): FrameWriter | undefined {
  if (sharedWriter === undefined && !unavailable) {
    try {
      sharedWriter = new WorkerFrameWriter(startWorker());
    } catch {
      unavailable = true;
    }
  }
  return sharedWriter !== undefined && sharedWriter.ready && !sharedWriter.failed ? sharedWriter : undefined;
}

/** Whether the process's frame writer is up or may still come up (it is starting). */
export function frameWriterExpected(): boolean {
  return !unavailable && !(sharedWriter?.failed ?? false);
}
