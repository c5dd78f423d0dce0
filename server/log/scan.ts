/**
 * Sequential scan of one segment file: framing, CRC, seq contiguity and the hash chain, read in large chunks.
 * A scan never changes a file; recovery decides what to do with what it reports.
 */
import fs from 'node:fs';
import { scanSealed } from './seal.js';
import {
  ChainHasher, FrameStatus, MIN_FRAME, checkFrame, decodeSegmentHeader, frameHash, frameKind, framePayload,
  frameSeq, frameTotal, readU64, type SegmentHeader,
} from './format.js';

const CHUNK = 8 * 1024 * 1024;
/** One sparse index entry every this many records: reading from a seq seeks to the nearest entry. */
export const INDEX_EVERY = 1024;

export type ProblemKind = 'header' | 'length' | 'incomplete' | 'crc' | 'seq' | 'hash';

export interface ScanProblem {
  readonly kind: ProblemKind;
  /** The seq expected at the bad position: the first seq that is not intact. */
  readonly seq: number;
  /** Byte offset of the bad frame in the segment file. */
  readonly offset: number;
  readonly reason: string;
}

export interface CheckpointSeen {
  readonly seq: number;
  readonly payload: Buffer;
  /** Chain hash of record seq - 1, which the checkpoint signs. */
  readonly prevHash: Buffer;
}

export interface SegmentScan {
  readonly file: string;
  readonly header: SegmentHeader;
  readonly headerSize: number;
  /** Size of the file as scanned (it may have shrunk since it was opened: see scanSegment). */
  fileSize: number;
  /** Seq of the last intact record (header.firstSeq - 1 when none). */
  lastSeq: number;
  /** Chain hash of lastSeq. */
  lastHash: Buffer;
  /** Byte offset just past the last intact record. */
  validEnd: number;
  records: number;
  /** Flat [seq, offset, seq, offset, ...] for every INDEX_EVERY-th record. */
  readonly index: number[];
  readonly checkpoints: CheckpointSeen[];
  readonly captured: Map<number, Buffer>;
  problem?: ScanProblem;
  /** True when the segment was checked through its seal (one SHA-256 of the file) rather than frame by frame. */
  viaSeal?: boolean;
}

export interface ScanOptions {
  /** Recompute every chain hash (recovery and verify do; trusted reads need not). */
  readonly verifyHashes: boolean;
  /** Collect checkpoint records (verify does, to check their signatures). */
  readonly collectCheckpoints?: boolean;
  /** Seqs whose chain hash the caller needs (snapshot anchors); found ones land in SegmentScan.captured. */
  readonly wantHashes?: ReadonlySet<number>;
  /** Accept a sealed segment's summary when the file's bytes still match it (seal.ts); never for the last segment. */
  readonly trustSeal?: boolean;
}

export class HeaderError extends Error {}

/** Scans a whole segment file. Throws HeaderError when the header itself is unreadable. */
export function scanSegment(file: string, opts: ScanOptions): SegmentScan {
  const fd = fs.openSync(file, 'r');
  try {
    // The size can shrink under a scan of a live directory (a read-only log's disk probe cuts its block back): the
    // reads below then end early, and the file is taken to end there.
    let fileSize = fs.fstatSync(fd).size;
    let buf = Buffer.allocUnsafeSlow(Math.min(CHUNK, Math.max(fileSize, 64)));
    let bufLen = fs.readSync(fd, buf, 0, buf.length, 0);
    const h = decodeSegmentHeader(buf, bufLen);
    if (!h.ok) throw new HeaderError(`${file}: ${h.reason}`);
    const scan: SegmentScan = {
      file, header: h.header, headerSize: h.size, fileSize, lastSeq: h.header.firstSeq - 1, lastHash: h.header.prevHash,
      validEnd: h.size, records: 0, index: [], checkpoints: [], captured: new Map(),
    };
    const hasher = new ChainHasher();
    let bufFileOff = 0; // file offset of buf[0]
    let pos = h.size; // offset in buf
    let expected = h.header.firstSeq;
    let prev = h.header.prevHash;
    for (;;) {
      const st = checkFrame(buf, pos, bufLen);
      if (st === FrameStatus.INCOMPLETE && bufFileOff + bufLen < fileSize) {
        // Refill: keep the partial frame, read more behind it; grow when one frame is bigger than the buffer.
        const keep = bufLen - pos;
        const want = pos + 4 <= bufLen ? frameTotal(buf, pos) : 0;
        if (want > buf.length) {
          const bigger = Buffer.allocUnsafeSlow(Math.min(want + CHUNK, Math.max(want, fileSize - bufFileOff - pos)));
          buf.copy(bigger, 0, pos, bufLen);
          buf = bigger;
        } else {
          buf.copy(buf, 0, pos, bufLen);
        }
        bufFileOff += pos;
        pos = 0;
        const n = fs.readSync(fd, buf, keep, buf.length - keep, bufFileOff + keep);
        bufLen = keep + n;
        if (n === 0) scan.fileSize = fileSize = bufFileOff + bufLen;
        continue;
      }
      if (pos === bufLen && bufFileOff + bufLen >= fileSize) break; // clean end
      const offset = bufFileOff + pos;
      if (st !== FrameStatus.OK) {
        const kind: ProblemKind = st === FrameStatus.INCOMPLETE ? 'incomplete' : st === FrameStatus.BAD_LENGTH ? 'length' : 'crc';
        const reason = kind === 'incomplete' ? 'frame runs past the end of the segment' : kind === 'length' ? 'frame length field is invalid' : 'frame CRC mismatch';
        scan.problem = { kind, seq: expected, offset, reason };
        break;
      }
      const seq = frameSeq(buf, pos);
      if (seq !== expected) {
        scan.problem = { kind: 'seq', seq: expected, offset, reason: `frame has seq ${seq} where ${expected} was expected` };
        break;
      }
      const bodyLen = buf.readUInt32LE(pos);
      if (opts.verifyHashes) {
        const computed = hasher.hashFrame(buf, pos + 4, bodyLen, prev);
        if (computed.compare(buf, pos + 4 + bodyLen, pos + 36 + bodyLen) !== 0) {
          scan.problem = { kind: 'hash', seq: expected, offset, reason: 'hash chain mismatch: the CRC is valid but the hash is not (tampering)' };
          break;
        }
        prev = computed;
      } else {
        prev = Buffer.from(frameHash(buf, pos));
      }
      if (opts.collectCheckpoints && frameKind(buf, pos) === 'checkpoint') {
        scan.checkpoints.push({ seq, payload: Buffer.from(framePayload(buf, pos)), prevHash: Buffer.from(scan.lastHash) });
      }
      if (opts.wantHashes?.has(seq)) scan.captured.set(seq, Buffer.from(prev));
      if (scan.records % INDEX_EVERY === 0) scan.index.push(seq, offset);
      scan.records++;
      scan.lastSeq = seq;
      scan.lastHash = prev;
      expected = seq + 1;
      pos += bodyLen + 40;
      scan.validEnd = bufFileOff + pos;
    }
    if (!opts.verifyHashes) scan.lastHash = Buffer.from(scan.lastHash);
    return scan;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * After a bad frame at `offset`, looks for any intact frame later in the file whose seq could follow. Finding one
 * means the damage is in the middle (corruption); finding none means a torn tail. Seq is checked before the CRC, so
 * the search is cheap even over a large tail.
 */
export function intactFrameAfter(file: string, offset: number, badSeq: number): { offset: number; seq: number } | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    let len = size - offset;
    if (len <= MIN_FRAME) return undefined;
    const buf = Buffer.allocUnsafeSlow(len);
    // Fewer bytes than the size said (the file shrank meanwhile): only those are looked at, never stale memory.
    len = fs.readSync(fd, buf, 0, len, offset);
    const maxSeq = badSeq + Math.ceil(len / MIN_FRAME);
    for (let p = 1; p + MIN_FRAME <= len; p++) {
      const seq = readU64(buf, p + 4);
      if (seq < badSeq || seq > maxSeq) continue;
      if (checkFrame(buf, p, len) === FrameStatus.OK) return { offset: offset + p, seq };
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** Scans a segment, through its seal when allowed and valid, else frame by frame. */
export function scanSegmentOrSeal(file: string, opts: ScanOptions): SegmentScan {
  if (opts.trustSeal) {
    const sealed = scanSealed(file, opts);
    if (sealed) {
      sealed.viaSeal = true;
      return sealed;
    }
  }
  return scanSegment(file, opts);
}
