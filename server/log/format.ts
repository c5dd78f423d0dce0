/**
 * On-disk format of the event log, version 1. docs/log-format.md is the prose version of this file.
 *
 * Record frame (little-endian):
 *   0       u32   bodyLen B   (= 9 + kindLen + payloadLen)
 *   4       u64   seq
 *   12      u8    kindLen k   (1..255, ASCII)
 *   13      k     kind
 *   13+k    p     payload
 *   4+B     32    hash        SHA-256(CHAIN_TAG || seq u64 || prevHash || kindLen || kind || payload)
 *   36+B    u32   crc         CRC-32 (zlib.crc32) of bytes [0, 36+B)
 *
 * Segment header:
 *   0  4   magic "WLSG"
 *   4  u16 format version
 *   6  u16 flags (0)
 *   8  u32 body length n
 *   12 n   body: RFC 8785 canonical JSON of SegmentHeader
 *   12+n u32 crc of bytes [0, 12+n)
 */
import { hash as sha256 } from 'node:crypto';
import { crc32 } from 'node:zlib';
import canonicalize from 'canonicalize';
import { WorldlineError } from '../errors.js';
import type { LogMeta } from '../core/ports.js';

export const FORMAT_VERSION = 1;
export const SEGMENT_MAGIC = 0x47534c57; // "WLSG" read as u32 LE
export const CHAIN_TAG = Buffer.from('WORLDLINE-LOG-V1', 'ascii'); // 16 bytes, domain separation
export const HASH_BYTES = 32;
/** Fixed bytes in a frame besides kind and payload: len 4 + seq 8 + kindLen 1 + hash 32 + crc 4. */
export const FRAME_OVERHEAD = 49;
export const MIN_FRAME = FRAME_OVERHEAD + 1;
export const SEGMENT_SUFFIX = '.wlseg';
/** Hard ceiling on one record's body, so a corrupted length field never triggers a huge allocation. */
export const MAX_BODY_BYTES = 256 * 1024 * 1024;

const TWO_32 = 2 ** 32;

export interface SegmentHeader {
  readonly formatVersion: number;
  readonly logId: string;
  readonly worldId: string;
  readonly worldSeed: string;
  readonly createdAt: number;
  /** Seq of the first record this segment holds (records may be absent: a freshly rolled segment). */
  readonly firstSeq: number;
  /** Chain hash of record firstSeq - 1 (the genesis hash for the first segment). */
  readonly prevHash: Buffer;
}

export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * TWO_32;
}

export function writeU64(buf: Buffer, value: number, off: number): void {
  buf.writeUInt32LE(value >>> 0, off);
  buf.writeUInt32LE(Math.floor(value / TWO_32), off + 4);
}

/** Canonical JSON bytes (RFC 8785) of a JSON-compatible value. */
export function canonicalBytes(value: unknown): Buffer {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return Buffer.from(text, 'utf8');
}

function metaJson(meta: LogMeta): Record<string, unknown> {
  return {
    format_version: meta.formatVersion,
    log_id: meta.logId,
    world_id: meta.worldId,
    world_seed: meta.worldSeed,
    created_at: meta.createdAt,
  };
}

/** hash_0: binds the chain to the log's identity, so a header swapped between logs breaks the chain. */
export function genesisHash(meta: LogMeta): Buffer {
  return sha256('sha256', Buffer.concat([CHAIN_TAG, Buffer.from('genesis\n'), canonicalBytes(metaJson(meta))]), 'buffer');
}

/**
 * Chain hashing with one reusable scratch buffer: the inputs are copied next to each other and hashed in one call,
 * which is several times cheaper than feeding a Hash object piece by piece.
 */
export class ChainHasher {
  private scratch = Buffer.allocUnsafeSlow(64 * 1024);
  // Records in one log tend to have few distinct sizes: reuse the view instead of slicing per frame.
  private view = this.scratch.subarray(0, 0);

  /** Hash of the frame whose body (from the seq field) is frame[bodyStart, bodyStart + bodyLen). */
  hashFrame(frame: Buffer, bodyStart: number, bodyLen: number, prevHash: Buffer): Buffer {
    const need = 16 + 8 + HASH_BYTES + (bodyLen - 8);
    if (need > this.scratch.length) this.scratch = Buffer.allocUnsafeSlow(Math.max(need, this.scratch.length * 2));
    const s = this.scratch;
    CHAIN_TAG.copy(s, 0);
    frame.copy(s, 16, bodyStart, bodyStart + 8);
    prevHash.copy(s, 24, 0, HASH_BYTES);
    frame.copy(s, 24 + HASH_BYTES, bodyStart + 8, bodyStart + bodyLen);
    if (this.view.length !== need || this.view.buffer !== s.buffer) this.view = s.subarray(0, need);
    return sha256('sha256', this.view, 'buffer');
  }
}

export function frameSize(kindLen: number, payloadLen: number): number {
  return FRAME_OVERHEAD + kindLen + payloadLen;
}

/** Checks a kind is 1..255 printable ASCII bytes and returns its encoding. */
export function encodeKind(kind: string): Buffer {
  if (typeof kind !== 'string' || kind.length === 0 || kind.length > 255 || !/^[\x21-\x7e]+$/.test(kind)) {
    throw new WorldlineError('CONFIG_INVALID', `record kind must be 1-255 printable ASCII characters without spaces, got ${JSON.stringify(kind)}`);
  }
  return Buffer.from(kind, 'ascii');
}

/** Frames shorter than this get a cached view of the writer's scratch per length (see ChainWriter). */
const VIEW_CACHE = 4096;

/**
 * The writer's side of the chain. The hash input of the next frame is assembled in one scratch buffer that already
 * holds the tag and the chain tip (the previous frame's hash) at their places, and the digest comes back as a
 * 32-character latin1 ('binary') string: a Buffer result would cost an ArrayBuffer per record, about as much as the hash itself.
 *
 * scratch: CHAIN_TAG (16) | seq u64 (8) | hash_(n-1) (32) | kindLen (1) | kind | payload
 */
export class ChainWriter {
  private scratch = Buffer.allocUnsafeSlow(64 * 1024);
  /** Views of scratch[0, n) by n, reused (one log's records have a few hundred distinct sizes at most). */
  private views: Array<Buffer | undefined> = [];

  constructor(tip: Uint8Array) {
    CHAIN_TAG.copy(this.scratch, 0);
    this.setTip(tip);
  }

  /** A copy of the chain tip: the hash of the last frame written (or the hash the chain starts from). */
  tip(): Buffer {
    return Buffer.from(this.scratch.subarray(24, 24 + HASH_BYTES));
  }

  setTip(hash: Uint8Array): void {
    this.scratch.set(hash.subarray(0, HASH_BYTES), 24);
  }

  /** Writes one frame at buf[off] (the caller has checked that it fits); its hash becomes the chain tip. */
  writeFrame(buf: Buffer, off: number, seq: number, kind: Buffer, payload: Uint8Array): void {
    const k = kind.length;
    const s = this.reserve(57 + k + payload.length);
    writeU64(s, seq, 16);
    s[56] = k;
    s.set(kind, 57);
    s.set(payload, 57 + k);
    layoutFrame(buf, off, seq, kind, payload);
    this.complete(buf, off, 9 + k + payload.length);
  }

  /** Completes the frame laid out at buf[off] (layoutFrame) with its hash and CRC; returns the frame's size. */
  finish(buf: Buffer, off: number): number {
    const bodyLen = buf.readUInt32LE(off);
    const s = this.reserve(48 + bodyLen);
    for (let i = 0; i < 8; i++) s[16 + i] = buf[off + 4 + i] as number;
    s.set(buf.subarray(off + 12, off + 4 + bodyLen), 56);
    this.complete(buf, off, bodyLen);
    return bodyLen + 40;
  }

  /** Completes every frame laid out in buf[0, used), in order. */
  finishAll(buf: Buffer, used: number): void {
    for (let pos = 0; pos < used; ) pos += this.finish(buf, pos);
  }

  /** The scratch, with room for `need` bytes of hash input. */
  private reserve(need: number): Buffer {
    if (need > this.scratch.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(need, this.scratch.length * 2));
      this.scratch.copy(bigger, 0, 0, 24 + HASH_BYTES);
      this.scratch = bigger;
      this.views = [];
    }
    return this.scratch;
  }

  /** Hashes the input assembled in the scratch and writes hash and CRC into the frame at buf[off]. */
  private complete(buf: Buffer, off: number, bodyLen: number): void {
    const s = this.scratch;
    const need = 48 + bodyLen;
    let view = need < VIEW_CACHE ? this.views[need] : undefined;
    if (view === undefined) {
      view = s.subarray(0, need);
      if (need < VIEW_CACHE) this.views[need] = view;
    }
    const h = sha256('sha256', view, 'binary');
    const at = off + 4 + bodyLen;
    for (let i = 0; i < HASH_BYTES; i++) {
      const c = h.charCodeAt(i);
      buf[at + i] = c;
      s[24 + i] = c;
    }
    buf.writeUInt32LE(crc32(buf.subarray(off, at + HASH_BYTES)), at + HASH_BYTES);
  }
}

/** Writes a frame's length, seq, kind and payload at buf[off]; ChainWriter.finish adds its hash and CRC. */
export function layoutFrame(buf: Buffer, off: number, seq: number, kind: Buffer, payload: Uint8Array): void {
  buf.writeUInt32LE(9 + kind.length + payload.length, off);
  writeU64(buf, seq, off + 4);
  buf[off + 12] = kind.length;
  buf.set(kind, off + 13);
  buf.set(payload, off + 13 + kind.length);
}

export const FrameStatus = {
  OK: 0,
  /** The bytes end before the frame does. */
  INCOMPLETE: 1,
  /** The length field is impossible (too small or above the ceiling). */
  BAD_LENGTH: 2,
  BAD_CRC: 3,
} as const;
export type FrameStatus = (typeof FrameStatus)[keyof typeof FrameStatus];

/** Checks framing and CRC of the frame at buf[off]; `end` is where valid bytes stop. Returns a FrameStatus. */
export function checkFrame(buf: Buffer, off: number, end: number): FrameStatus {
  if (off + 4 > end) return FrameStatus.INCOMPLETE;
  const bodyLen = buf.readUInt32LE(off);
  if (bodyLen < 10 || bodyLen > MAX_BODY_BYTES) return FrameStatus.BAD_LENGTH;
  const kindLen = buf[off + 12];
  if (off + 13 <= end && (kindLen === 0 || kindLen === undefined || 9 + kindLen > bodyLen)) return FrameStatus.BAD_LENGTH;
  const total = bodyLen + 40;
  if (off + total > end) return FrameStatus.INCOMPLETE;
  const crcAt = off + total - 4;
  return crc32(buf.subarray(off, crcAt)) === buf.readUInt32LE(crcAt) ? FrameStatus.OK : FrameStatus.BAD_CRC;
}

/** Total bytes of the frame at buf[off] (its length field must be readable). */
export function frameTotal(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + 40;
}

export function frameSeq(buf: Buffer, off: number): number {
  return readU64(buf, off + 4);
}

export function frameKind(buf: Buffer, off: number): string {
  const k = buf[off + 12] ?? 0;
  return buf.toString('latin1', off + 13, off + 13 + k);
}

/** The payload bytes of the frame at buf[off], as a view into buf. */
export function framePayload(buf: Buffer, off: number): Buffer {
  const bodyLen = buf.readUInt32LE(off);
  const k = buf[off + 12] ?? 0;
  return buf.subarray(off + 13 + k, off + 4 + bodyLen);
}

export function frameHash(buf: Buffer, off: number): Buffer {
  const bodyLen = buf.readUInt32LE(off);
  return buf.subarray(off + 4 + bodyLen, off + 4 + bodyLen + HASH_BYTES);
}

export function segmentFileName(firstSeq: number): string {
  return String(firstSeq).padStart(20, '0') + SEGMENT_SUFFIX;
}

export function encodeSegmentHeader(h: SegmentHeader): Buffer {
  const body = canonicalBytes({
    ...metaJson(h),
    first_seq: h.firstSeq,
    prev_hash: h.prevHash.toString('hex'),
  });
  const buf = Buffer.alloc(16 + body.length);
  buf.writeUInt32LE(SEGMENT_MAGIC, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 4);
  buf.writeUInt16LE(0, 6);
  buf.writeUInt32LE(body.length, 8);
  body.copy(buf, 12);
  buf.writeUInt32LE(crc32(buf.subarray(0, 12 + body.length)), 12 + body.length);
  return buf;
}

export type HeaderResult = { ok: true; header: SegmentHeader; size: number } | { ok: false; reason: string };

/** Parses a segment header from the start of buf (which holds at least the first `len` bytes of the file). */
export function decodeSegmentHeader(buf: Buffer, len: number): HeaderResult {
  if (len < 16) return { ok: false, reason: 'segment header is truncated' };
  if (buf.readUInt32LE(0) !== SEGMENT_MAGIC) return { ok: false, reason: 'bad segment magic (not a Worldline log segment)' };
  const version = buf.readUInt16LE(4);
  const n = buf.readUInt32LE(8);
  if (n > 64 * 1024 || 16 + n > len) return { ok: false, reason: 'segment header is truncated or has a bad length' };
  if (crc32(buf.subarray(0, 12 + n)) !== buf.readUInt32LE(12 + n)) return { ok: false, reason: 'segment header CRC mismatch' };
  // Only after the CRC: a flipped bit in the version field is corruption, not a segment from another release.
  if (version !== FORMAT_VERSION) {
    throw new WorldlineError('SCHEMA_VERSION_MISMATCH', `log segment has format version ${version}; this build reads version ${FORMAT_VERSION}. Use a Worldline release that supports it.`, { version });
  }
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(buf.toString('utf8', 12, 12 + n)) as Record<string, unknown>;
  } catch {
    return { ok: false, reason: 'segment header body is not JSON' };
  }
  const prev = typeof j['prev_hash'] === 'string' ? Buffer.from(j['prev_hash'], 'hex') : Buffer.alloc(0);
  if (
    typeof j['log_id'] !== 'string' || typeof j['world_id'] !== 'string' || typeof j['world_seed'] !== 'string' ||
    typeof j['created_at'] !== 'number' || typeof j['first_seq'] !== 'number' || prev.length !== HASH_BYTES
  ) {
    return { ok: false, reason: 'segment header is missing fields' };
  }
  return {
    ok: true,
    size: 16 + n,
    header: {
      formatVersion: version,
      logId: j['log_id'],
      worldId: j['world_id'],
      worldSeed: j['world_seed'],
      createdAt: j['created_at'],
      firstSeq: j['first_seq'],
      prevHash: prev,
    },
  };
}

export function metaOf(h: SegmentHeader): LogMeta {
  return { formatVersion: h.formatVersion, logId: h.logId, worldId: h.worldId, worldSeed: h.worldSeed, createdAt: h.createdAt };
}
