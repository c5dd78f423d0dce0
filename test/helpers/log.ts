/**
 * Shared helpers for the event-log suites: temp directories, deterministic payloads, typed-error assertions, and an
 * independent reading of the v1 on-disk format (docs/log-format.md) so tests can compute where each frame sits and
 * damage it on purpose. The format code here is written from the spec, not imported, so a test that forges a
 * frame also checks that server/log and the spec agree.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hash as sha256 } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { afterAll, expect } from 'vitest';
import { WorldlineError, type ErrorName } from '../../server/errors.js';
import { analyzeLog, openLog, type EventLog, type OpenLogOptions } from '../../server/log/index.js';

export const CHAIN_TAG = Buffer.from('WORLDLINE-LOG-V1', 'ascii');
/** len 4 + seq 8 + kindLen 1 + hash 32 + crc 4. */
export const FRAME_OVERHEAD = 49;

/** Returns a maker of fresh temp dirs under os.tmpdir(); all are removed after the file's tests. */
/** A copy of the log folder `base` in a fresh folder from `tempDir` (each test damages its own copy). */
export function copyLogDir(base: string, tempDir: () => string): string {
  const d = tempDir();
  fs.cpSync(base, d, { recursive: true });
  return d;
}

/** Where `file`, a path under `base`, is in `dir`, a copy of `base`. */
export function inCopy(base: string, file: string, dir: string): string {
  return path.join(dir, path.relative(base, file));
}

export function useTempDirs(prefix = 'worldline-log-test-'): () => string {
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    made.push(d);
    return d;
  };
}

/** Options every test log uses: never exit the test process on a failed fsync. */
export function testLogOptions(extra: OpenLogOptions = {}): OpenLogOptions {
  return { create: { worldId: 'world-test', worldSeed: '42' }, onFsyncFailure: 'fail', segmentBytes: 4096, ...extra };
}

export interface Rec {
  readonly kind: string;
  readonly payload: Buffer;
}

/** A deterministic record for a seq: payload bytes and length vary with the seq, so frames have different sizes. */
export function recordFor(seq: number, kinds: readonly string[] = ['effect', 'outcome', 'x']): Rec {
  const len = 5 + ((seq * 37) % 61);
  const head = Buffer.from(`#${seq}:`, 'ascii');
  const payload = Buffer.alloc(Math.max(len, head.length));
  head.copy(payload, 0);
  for (let i = head.length; i < payload.length; i++) payload[i] = (seq * 131 + i * 7) & 0xff;
  return { kind: kinds[seq % kinds.length]!, payload };
}

/** Appends records for seqs log.lastSeq+1 .. log.lastSeq+count (all concurrently) and returns them by seq. */
export async function appendRecords(log: EventLog, count: number, make: (seq: number) => Rec = (s) => recordFor(s)): Promise<Map<number, Rec>> {
  const out = new Map<number, Rec>();
  const start = log.lastSeq + 1;
  const pending: Array<Promise<unknown>> = [];
  for (let seq = start; seq < start + count; seq++) {
    const r = make(seq);
    out.set(seq, r);
    pending.push(
      log.append(r.kind, r.payload).then((res) => {
        if (res.seq !== seq) throw new Error(`append expected seq ${seq}, got ${res.seq}`);
      }),
    );
  }
  await Promise.all(pending);
  return out;
}

/** Creates a log in dir with `count` records (recordFor) and closes it. */
export async function writeLog(dir: string, count: number, opts: OpenLogOptions = {}): Promise<Map<number, Rec>> {
  const log = await openLog(dir, testLogOptions(opts));
  try {
    return await appendRecords(log, count);
  } finally {
    await log.close();
  }
}

/** Awaits p and asserts it rejects with a WorldlineError of the given code name; returns the error. */
export async function rejectsWith(p: Promise<unknown>, codeName: ErrorName): Promise<WorldlineError> {
  let settled: unknown;
  try {
    settled = await p;
  } catch (err) {
    expect(err, `expected ${codeName}, got ${String(err)}`).toBeInstanceOf(WorldlineError);
    const e = err as WorldlineError;
    expect(e.codeName, e.message).toBe(codeName);
    return e;
  }
  throw new Error(`expected a ${codeName} rejection, but it resolved with ${String(settled)}`);
}

/** Calls fn and asserts it throws a WorldlineError of the given code name; returns the error. */
export function throwsWith(fn: () => unknown, codeName: ErrorName): WorldlineError {
  try {
    fn();
  } catch (err) {
    expect(err, `expected ${codeName}, got ${String(err)}`).toBeInstanceOf(WorldlineError);
    const e = err as WorldlineError;
    expect(e.codeName, e.message).toBe(codeName);
    return e;
  }
  throw new Error(`expected a ${codeName} throw, but nothing was thrown`);
}

export function frameBytes(r: Rec): number {
  return FRAME_OVERHEAD + Buffer.byteLength(r.kind, 'ascii') + r.payload.length;
}

export interface FrameLoc {
  readonly seq: number;
  readonly file: string;
  /** Index of the segment (in name order) holding the frame. */
  readonly segment: number;
  readonly offset: number;
  readonly size: number;
}

export interface SegmentLoc {
  readonly file: string;
  readonly firstSeq: number;
  readonly headerSize: number;
  readonly size: number;
}

export interface Layout {
  readonly segments: SegmentLoc[];
  readonly frames: FrameLoc[];
  frame(seq: number): FrameLoc;
}

/**
 * Where every frame of an intact log sits, computed from the records written (frame = 49 + kindLen + payloadLen)
 * and each segment's header size and first seq. Throws if the computed end of a segment is not its file size.
 */
export function computeLayout(dir: string, records: ReadonlyMap<number, Rec>): Layout {
  const a = analyzeLog(dir);
  if (a.problem) throw new Error(`computeLayout needs an intact log: ${a.problem.reason}`);
  const lastSeq = Math.max(...records.keys());
  const segments: SegmentLoc[] = [];
  const frames: FrameLoc[] = [];
  a.segments.forEach((s, i) => {
    const end = i + 1 < a.segments.length ? a.segments[i + 1]!.header.firstSeq - 1 : lastSeq;
    let off = s.headerSize;
    for (let seq = s.header.firstSeq; seq <= end; seq++) {
      const r = records.get(seq);
      if (!r) throw new Error(`no record ${seq} to lay out`);
      const size = frameBytes(r);
      frames.push({ seq, file: s.file, segment: i, offset: off, size });
      off += size;
    }
    const size = fs.statSync(s.file).size;
    if (off !== size) throw new Error(`${path.basename(s.file)}: computed end ${off} but the file has ${size} bytes`);
    segments.push({ file: s.file, firstSeq: s.header.firstSeq, headerSize: s.headerSize, size });
  });
  const bySeq = new Map(frames.map((f) => [f.seq, f]));
  return {
    segments,
    frames,
    frame(seq) {
      const f = bySeq.get(seq);
      if (!f) throw new Error(`seq ${seq} is not in the layout`);
      return f;
    },
  };
}

/** Every file under dir (relative path -> bytes), to prove an operation changed nothing. */
export function snapshotFiles(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

export function expectSameFiles(before: ReadonlyMap<string, Buffer>, after: ReadonlyMap<string, Buffer>, what: string): void {
  expect([...after.keys()].sort(), `${what}: file list changed`).toEqual([...before.keys()].sort());
  for (const [name, bytes] of before) {
    const now = after.get(name);
    expect(now?.length, `${what}: ${name} size changed`).toBe(bytes.length);
    expect(now?.equals(bytes), `${what}: ${name} bytes changed`).toBe(true);
  }
}

/** Reads every record of the log through a fresh openLog, checks seqs are contiguous, and closes it. */
export async function readAll(dir: string, opts: OpenLogOptions = {}): Promise<Array<{ seq: number; kind: string; payload: Buffer }>> {
  const log = await openLog(dir, { onFsyncFailure: 'fail', ...opts });
  try {
    const out: Array<{ seq: number; kind: string; payload: Buffer }> = [];
    for (const r of log.records()) out.push({ seq: r.seq, kind: r.kind, payload: Buffer.from(r.payload) });
    out.forEach((r, i) => expect(r.seq, 'seqs are contiguous').toBe(log.firstSeq + i));
    expect(out.length, 'records() returns through lastSeq').toBe(log.lastSeq - log.firstSeq + 1);
    return out;
  } finally {
    await log.close();
  }
}

/** Asserts each expected record is stored at its seq with the same kind and payload. */
export function expectRecords(actual: ReadonlyArray<{ seq: number; kind: string; payload: Buffer }>, expected: ReadonlyMap<number, Rec>): void {
  const bySeq = new Map(actual.map((r) => [r.seq, r]));
  for (const [seq, r] of expected) {
    const got = bySeq.get(seq);
    expect(got, `record ${seq} is missing`).toBeDefined();
    expect(got!.kind, `record ${seq} kind`).toBe(r.kind);
    expect(got!.payload.equals(r.payload), `record ${seq} payload`).toBe(true);
  }
}

// ---- An attacker's / a test's own implementation of the v1 format ----------------------------------------------

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** SHA-256(CHAIN_TAG || seq u64 || prevHash || kindLen || kind || payload). */
export function chainHash(seq: number, prevHash: Buffer, kind: string, payload: Buffer): Buffer {
  const k = Buffer.from(kind, 'ascii');
  return sha256('sha256', Buffer.concat([CHAIN_TAG, u64(seq), prevHash, Buffer.from([k.length]), k, payload]), 'buffer');
}

/** Encodes a whole frame whose predecessor has chain hash prevHash. */
export function encodeFrame(seq: number, kind: string, payload: Buffer, prevHash: Buffer): Buffer {
  const k = Buffer.from(kind, 'ascii');
  const bodyLen = 9 + k.length + payload.length;
  const f = Buffer.alloc(bodyLen + 40);
  f.writeUInt32LE(bodyLen, 0);
  u64(seq).copy(f, 4);
  f[12] = k.length;
  k.copy(f, 13);
  payload.copy(f, 13 + k.length);
  chainHash(seq, prevHash, kind, payload).copy(f, 4 + bodyLen);
  f.writeUInt32LE(crc32(f.subarray(0, 36 + bodyLen)), 36 + bodyLen);
  return f;
}

/** Recomputes the CRC of the frame at buf[off] in place (so only the hash can tell it was changed). */
export function fixFrameCrc(buf: Buffer, off: number): void {
  const bodyLen = buf.readUInt32LE(off);
  buf.writeUInt32LE(crc32(buf.subarray(off, off + 36 + bodyLen)), off + 36 + bodyLen);
}

export interface ParsedFrame {
  offset: number;
  seq: number;
  kind: string;
  payload: Buffer;
  hash: Buffer;
}

export interface ParsedSegment {
  file: string;
  headerJson: Record<string, unknown>;
  headerSize: number;
  frames: ParsedFrame[];
}

export function parseSegmentFile(file: string): ParsedSegment {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 4) !== 'WLSG') throw new Error(`${file}: not a segment`);
  const n = buf.readUInt32LE(8);
  const headerJson = JSON.parse(buf.toString('utf8', 12, 12 + n)) as Record<string, unknown>;
  const headerSize = 16 + n;
  const frames: ParsedFrame[] = [];
  let off = headerSize;
  while (off < buf.length) {
    const bodyLen = buf.readUInt32LE(off);
    const k = buf[off + 12]!;
    frames.push({
      offset: off,
      seq: Number(buf.readBigUInt64LE(off + 4)),
      kind: buf.toString('ascii', off + 13, off + 13 + k),
      payload: Buffer.from(buf.subarray(off + 13 + k, off + 4 + bodyLen)),
      hash: Buffer.from(buf.subarray(off + 4 + bodyLen, off + 36 + bodyLen)),
    });
    off += bodyLen + 40;
  }
  return { file, headerJson, headerSize, frames };
}

function encodeHeader(json: Record<string, unknown>): Buffer {
  // Canonical JSON of a flat object of strings and integers: keys sorted, no spaces.
  const body = Buffer.from(`{${Object.keys(json).sort().map((k) => `${JSON.stringify(k)}:${JSON.stringify(json[k])}`).join(',')}}`, 'utf8');
  const h = Buffer.alloc(16 + body.length);
  h.write('WLSG', 0, 'latin1');
  h.writeUInt16LE(1, 4);
  h.writeUInt16LE(0, 6);
  h.writeUInt32LE(body.length, 8);
  body.copy(h, 12);
  h.writeUInt32LE(crc32(h.subarray(0, 12 + body.length)), 12 + body.length);
  return h;
}

/**
 * Rewrites the whole log the way an attacker who knows the format would: `edit` may replace any record's payload,
 * then every chain hash, CRC and segment-header prev_hash from there on is recomputed so the chain is valid again.
 */
export function rewriteChain(dir: string, edit: (seq: number, kind: string, payload: Buffer, prevHash: Buffer) => Buffer | undefined): void {
  const files = fs.readdirSync(path.join(dir, 'segments')).filter((n) => n.endsWith('.wlseg')).sort().map((n) => path.join(dir, 'segments', n));
  let prev: Buffer | undefined;
  for (const file of files) {
    const seg = parseSegmentFile(file);
    const json = { ...seg.headerJson };
    if (prev) json['prev_hash'] = prev.toString('hex');
    else prev = Buffer.from(String(json['prev_hash']), 'hex');
    const parts: Buffer[] = [encodeHeader(json)];
    for (const f of seg.frames) {
      const payload = edit(f.seq, f.kind, f.payload, prev) ?? f.payload;
      const frame = encodeFrame(f.seq, f.kind, payload, prev);
      prev = frame.subarray(frame.length - 36, frame.length - 4);
      parts.push(frame);
    }
    fs.writeFileSync(file, Buffer.concat(parts));
  }
}

/** Polls cond every 10 ms, at most `tries` times; throws when it never holds. Not a timing assertion: a bound. */
export async function waitFor(cond: () => boolean, what: string, tries = 1000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}
