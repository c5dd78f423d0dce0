/**
 * Worker thread body for frame-writer.ts: completes a batch's frames (chain hash, CRC), writes them, syncs them, and
 * keeps the SHA-256 of the segment bytes it wrote for the segment's seal (seal.ts) when asked to.
 */
import fs from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { ChainWriter, HASH_BYTES } from './format.js';

export interface FrameJobRequest {
  readonly type: 'job';
  readonly id: number;
  readonly fd: number;
  readonly position: number;
  readonly prevHash: Uint8Array;
  readonly buffers: readonly SharedArrayBuffer[];
  readonly offsets: readonly number[];
  readonly lengths: readonly number[];
  readonly sync: boolean;
  /** Add the bytes written to segment digest `digest` (first started with `digestStart`, the segment's header). */
  readonly digest: number | undefined;
  readonly digestStart: Uint8Array | undefined;
  /** Bytes the log's thread wrote since the last job, to add before this job's. */
  readonly digestBefore: Uint8Array | undefined;
}

/** Ends segment digest `digest`: the reply carries its hex (undefined when unknown); `drop` ends it unread. */
export interface DigestRequest {
  readonly type: 'digest' | 'drop';
  readonly id: number;
  readonly digest: number;
}

/** Adds bytes written by the log's own thread to segment digest `digest` (first started with `start`). */
export interface DigestAdd {
  readonly type: 'add';
  readonly digest: number;
  readonly start: Uint8Array | undefined;
  readonly buffers: readonly SharedArrayBuffer[];
  readonly offsets: readonly number[];
  readonly lengths: readonly number[];
}

export interface DigestReply {
  readonly id: number;
  readonly hex: string | undefined;
}

export type FrameJobReply =
  | { readonly id: number; readonly ok: true; readonly lastHash: Uint8Array; readonly syncSeconds: number }
  | { readonly id: number; readonly ok: false; readonly phase: 'write' | 'sync'; readonly code: string; readonly message: string };

const chain = new ChainWriter(new Uint8Array(HASH_BYTES));
const digests = new Map<number, Hash>();

function failure(id: number, phase: 'write' | 'sync', err: unknown): FrameJobReply {
  const e = err as NodeJS.ErrnoException;
  return { id, ok: false, phase, code: e?.code ?? 'EIO', message: e?.message ?? String(err) };
}

function run(m: FrameJobRequest): FrameJobReply {
  chain.setTip(m.prevHash);
  const chunks = m.buffers.map((b, i) => Buffer.from(b, m.offsets[i], m.lengths[i]));
  for (const c of chunks) chain.finishAll(c, c.length);
  let position = m.position;
  try {
    for (const c of chunks) {
      // A write can be short (a disk filling up): loop until the chunk is written or the kernel says why not.
      for (let done = 0; done < c.length; ) {
        const n = fs.writeSync(m.fd, c, done, c.length - done, position + done);
        if (n <= 0) throw Object.assign(new Error(`write returned ${n} with ${c.length - done} bytes left`), { code: 'EIO' });
        done += n;
      }
      position += c.length;
    }
  } catch (err) {
    if (m.digest !== undefined) digests.delete(m.digest);
    return failure(m.id, 'write', err);
  }
  if (m.digest !== undefined) {
    let d = digests.get(m.digest);
    if (m.digestStart) digests.set(m.digest, (d = createHash('sha256').update(m.digestStart)));
    if (m.digestBefore) d?.update(m.digestBefore);
    for (const c of chunks) d?.update(c);
  }
  let syncSeconds = 0;
  if (m.sync) {
    const t0 = performance.now();
    try {
      fs.fdatasyncSync(m.fd);
    } catch (err) {
      return failure(m.id, 'sync', err);
    }
    syncSeconds = (performance.now() - t0) / 1000;
  }
  return { id: m.id, ok: true, lastHash: chain.tip(), syncSeconds };
}

function endDigest(m: DigestRequest): DigestReply {
  const d = digests.get(m.digest);
  digests.delete(m.digest);
  return { id: m.id, hex: m.type === 'digest' ? d?.digest('hex') : undefined };
}

function addDigest(m: DigestAdd): void {
  let d = digests.get(m.digest);
  if (m.start) digests.set(m.digest, (d = createHash('sha256').update(m.start)));
  for (let i = 0; i < m.buffers.length; i++) d?.update(new Uint8Array(m.buffers[i]!, m.offsets[i], m.lengths[i]));
}

parentPort?.on('message', (m: FrameJobRequest | DigestRequest | DigestAdd) => {
  if (m.type === 'add') addDigest(m);
  else parentPort!.postMessage(m.type === 'job' ? run(m) : endDigest(m));
});

// Tell the writer this worker is listening, so no job is posted before the handler exists.
parentPort?.postMessage({ ready: true });
