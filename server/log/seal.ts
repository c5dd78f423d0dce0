/**
 * Sealed-segment summaries. When the writer rolls to a new segment, the finished one is sealed: a small
 * `<segment>.sum` file records its record range, last chain hash, sparse index and the SHA-256 of its exact bytes
 * (hashed incrementally as they were written, after the chain and CRCs were computed by the writer itself).
 * At startup a sealed segment whose bytes still hash to that digest is known to be exactly what was written, so
 * recovery checks it with one streaming SHA-256 (about a GB/s) instead of re-deriving every frame's chain hash
 * (SHA-256 of each ~300-byte frame costs about a microsecond of call overhead). Any mismatch, or a missing or
 * damaged summary, falls back to the full frame-by-frame scan, which then names the first bad seq. The last
 * segment is always scanned in full, and `worldline verify` always scans everything.
 */
import fs from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { HASH_BYTES, canonicalBytes, decodeSegmentHeader, frameTotal, readU64 } from './format.js';
import type { ScanOptions, SegmentScan } from './scan.js';

const SUM_VERSION = 1;

export interface SegmentSummary {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly lastHash: Buffer;
  readonly size: number;
  readonly sha256: string;
  readonly records: number;
  readonly index: readonly number[];
}

export const summaryFile = (segment: string): string => `${segment}.sum`;

/** Incremental SHA-256 of a segment's bytes, in the order they are written. */
export class SegmentDigest {
  private readonly h: Hash = createHash('sha256');
  bytes = 0;

  update(buf: Buffer, offset: number, length: number): void {
    this.h.update(buf.subarray(offset, offset + length));
    this.bytes += length;
  }

  digest(): string {
    return this.h.digest('hex');
  }
}

function body(s: SegmentSummary): Record<string, unknown> {
  return { version: SUM_VERSION, first_seq: s.firstSeq, last_seq: s.lastSeq, last_hash: s.lastHash.toString('hex'), size: s.size, sha256: s.sha256, records: s.records, index: [...s.index] };
}

/** The summary file's bytes: canonical JSON with a checksum of itself, so a damaged summary is never trusted. */
export function encodeSummary(s: SegmentSummary): Buffer {
  const b = body(s);
  const check = createHash('sha256').update(canonicalBytes(b)).digest('hex');
  return canonicalBytes({ ...b, check });
}

export function readSummary(segment: string): SegmentSummary | undefined {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(fs.readFileSync(summaryFile(segment), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const { check, ...rest } = j;
  if (typeof check !== 'string' || createHash('sha256').update(canonicalBytes(rest)).digest('hex') !== check) return undefined;
  const ok = rest['version'] === SUM_VERSION && [rest['first_seq'], rest['last_seq'], rest['size'], rest['records']].every((n) => Number.isSafeInteger(n)) &&
    typeof rest['last_hash'] === 'string' && typeof rest['sha256'] === 'string' && Array.isArray(rest['index']);
  if (!ok) return undefined;
  const lastHash = Buffer.from(rest['last_hash'] as string, 'hex');
  if (lastHash.length !== HASH_BYTES) return undefined;
  return {
    firstSeq: rest['first_seq'] as number, lastSeq: rest['last_seq'] as number, lastHash, size: rest['size'] as number,
    sha256: rest['sha256'] as string, records: rest['records'] as number, index: rest['index'] as number[],
  };
}

/** SHA-256 of the whole file, streamed in large reads. */
function fileSha256(fd: number, size: number): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafeSlow(Math.min(16 * 1024 * 1024, Math.max(size, 1)));
  for (let pos = 0; pos < size; ) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    if (n <= 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
  }
  return h.digest('hex');
}

/**
 * A SegmentScan for a sealed segment from its summary, when the file's bytes still match it; undefined otherwise
 * (the caller then scans in full). Never used for checkpoint collection (verify scans everything).
 */
export function scanSealed(file: string, opts: ScanOptions): SegmentScan | undefined {
  if (opts.collectCheckpoints) return undefined;
  const sum = readSummary(file);
  if (!sum) return undefined;
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size !== sum.size) return undefined;
    const head = Buffer.alloc(Math.min(size, 64 * 1024 + 16));
    fs.readSync(fd, head, 0, head.length, 0);
    const h = decodeSegmentHeader(head, head.length);
    if (!h.ok || h.header.firstSeq !== sum.firstSeq) return undefined;
    if (fileSha256(fd, size) !== sum.sha256) return undefined;
    const scan: SegmentScan = {
      file, header: h.header, headerSize: h.size, fileSize: size, lastSeq: sum.lastSeq, lastHash: sum.lastHash,
      validEnd: size, records: sum.records, index: [...sum.index], checkpoints: [], captured: new Map(),
    };
    // Snapshot anchors inside this segment: read the stored hash of that frame (the bytes are verified).
    for (const seq of opts.wantHashes ?? []) {
      if (seq < sum.firstSeq || seq > sum.lastSeq) continue;
      let at = h.size;
      let atSeq = sum.firstSeq;
      for (let i = 0; i + 1 < sum.index.length; i += 2) {
        if (sum.index[i]! <= seq) {
          atSeq = sum.index[i]!;
          at = sum.index[i + 1]!;
        }
      }
      const len = Buffer.alloc(12);
      for (;;) {
        fs.readSync(fd, len, 0, 12, at);
        if (readU64(len, 4) !== atSeq) return undefined;
        if (atSeq === seq) break;
        at += frameTotal(len, 0);
        atSeq++;
      }
      const total = frameTotal(len, 0);
      const hash = Buffer.alloc(HASH_BYTES);
      fs.readSync(fd, hash, 0, HASH_BYTES, at + total - 4 - HASH_BYTES);
      scan.captured.set(seq, hash);
    }
    return scan;
  } finally {
    fs.closeSync(fd);
  }
}
