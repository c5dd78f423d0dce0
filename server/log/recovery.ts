/**
 * Startup recovery, by rule:
 * - a bad frame whose damage runs to the end of the last segment (nothing intact after it, zeros included) is a torn
 *   tail: the bytes are copied aside to a `.broken` file and the segment is truncated to the last whole frame;
 * - a bad frame followed by intact ones, a bad frame in any earlier segment, a broken link between segments, or a
 *   valid CRC with a wrong seq or hash (tampering) is corruption: LOG_CORRUPTION_DETECTED naming the first bad seq;
 * - so is an intact log that ends, or a tail that breaks, below the anchor of a snapshot of this log: a snapshot is
 *   written only after its anchor is durable, so records up to it were acknowledged and cannot be a torn tail;
 * - an explicit repair (truncateFromSeq) moves seq >= S aside, for an operator who has decided what to lose.
 * analyzeLog only reads; recoverLog applies the torn-tail rule and repairs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WorldlineError } from '../errors.js';
import type { LogMeta } from '../core/ports.js';
import { decodeSegmentHeader, genesisHash, metaOf, frameTotal, segmentFileName } from './format.js';
import { HeaderError, intactFrameAfter, scanSegmentOrSeal, type ScanOptions, type SegmentScan } from './scan.js';
import { SNAPSHOT_DIR, listSnapshotFiles, readSnapshots, snapshotsOfLog, strayTempSnapshots, type Snapshot, type SnapshotRead } from './snapshots.js';
import { filesMatching, fsyncDirSync } from './files.js';
import { summaryFile } from './seal.js';

export const SEGMENT_DIR = 'segments';

export interface LogProblem {
  /** First seq that is not intact. */
  readonly seq: number;
  readonly reason: string;
  readonly file: string;
  readonly offset: number;
  /** True when the rule classifies it as a torn tail (recoverable by truncation). */
  readonly torn: boolean;
  /** What the operator can do, when the generic advice (repair from `seq`) is not the whole story. */
  readonly advice?: string;
}

export interface LogAnalysis {
  readonly dir: string;
  readonly meta: LogMeta | undefined;
  readonly segments: SegmentScan[];
  /** Seq of the first stored record (1 unless compacted). */
  readonly firstSeq: number;
  /** Seq and chain hash of the last intact record. */
  readonly lastSeq: number;
  readonly lastHash: Buffer;
  /** Snapshots that pass their checksum and whose anchor matches the log, newest first. */
  readonly snapshots: Snapshot[];
  /** Where the verified chain starts: 'genesis', or the snapshot anchor seq that vouches for a compacted start. */
  readonly anchoredFrom: 'genesis' | number;
  readonly problem: LogProblem | undefined;
  readonly warnings: string[];
  /** Worker threads that scanned the segments (1: this thread). */
  readonly threads: number;
}

export interface AnalyzeOptions {
  readonly collectCheckpoints?: boolean;
  /** Scan every segment frame by frame, ignoring seals (verify does). */
  readonly deep?: boolean;
}

export function segmentFiles(dir: string): string[] {
  return filesMatching(path.join(dir, SEGMENT_DIR), /^\d{20}\.wlseg$/);
}

/** Advice when truncation cannot help: nothing before the damage is intact (a first segment's header, an unanchored start). */
const NOTHING_TO_KEEP = 'no record before it can be kept, so truncation cannot repair this. Restore the damaged or missing files from a backup, or move the segments and snapshots directories aside to start a new log.';

/**
 * What an operator can do about corruption in the log in `dir`: the problem's own advice, or the general one. An
 * operator meets it through `worldline serve` and `worldline verify`, so it names the command (openLog's option too).
 */
export function corruptionAdvice(dir: string, p: LogProblem, a: Pick<LogAnalysis, 'segments' | 'firstSeq'>): string {
  if (p.advice) return p.advice;
  // Intact records precede the damage (or it is at the very start), so truncation can cut it away.
  const repairable = a.segments.length > 0 && p.seq >= a.firstSeq;
  if (!repairable) return NOTHING_TO_KEEP;
  return `restore the damaged or missing segment from a backup, or accept losing seq ${p.seq} and everything after it (acknowledged records among them) with \`worldline repair ${dir} --truncate-from ${p.seq}\` (openLog option truncateFromSeq), which moves them aside as .broken files.`;
}

function corrupt(dir: string, p: LogProblem, a: LogAnalysis): WorldlineError {
  return new WorldlineError(
    'LOG_CORRUPTION_DETECTED',
    `log corruption at seq ${p.seq}: ${p.reason} (${path.basename(p.file)} offset ${p.offset}). Run \`worldline verify ${dir}\`; ${corruptionAdvice(dir, p, a)}`,
    { seq: p.seq, reason: p.reason, file: p.file, offset: p.offset },
  );
}

/** Scans one segment file: a SegmentScan, or the HeaderError when its header is unreadable. */
export type SegmentScanner = (file: string, opts: ScanOptions) => SegmentScan | HeaderError;

/** Scans on this thread. */
export const scanHere: SegmentScanner = (file, opts) => {
  try {
    return scanSegmentOrSeal(file, opts);
  } catch (err) {
    if (err instanceof HeaderError) return err;
    throw err;
  }
};

/** Reads and checks the whole log in `dir` without changing anything, scanning segments on this thread. */
export function analyzeLog(dir: string, opts: AnalyzeOptions = {}): LogAnalysis {
  // Snapshots first, then the listing (see readSnapshots): on a live directory the other order can miss a segment
  // that holds a snapshot's anchor, and the snapshot would seem to prove records missing.
  const snaps = readSnapshots(dir);
  return analyzeWith(dir, segmentFiles(dir), scanHere, opts, snaps);
}

/** Snapshots of the log whose first segment is firstFile (same log id and world), with warnings for the ones ignored. */
function snapshotsFor(snaps: readonly SnapshotRead[], firstFile: string, warnings: string[]): Snapshot[] {
  const head = Buffer.alloc(64 * 1024 + 16);
  const fd = fs.openSync(firstFile, 'r');
  const n = fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  const h = decodeSegmentHeader(head, n);
  return h.ok ? snapshotsOfLog(snaps, h.header.logId, h.header.worldId, (f, why) => warnings.push(`snapshot ${path.basename(f)} ignored: ${why}`)) : [];
}

/**
 * The recovery rules over segment scans produced by `scan` (on this thread, or from a worker pool). `snaps` must have
 * been read before `files` was listed (see readSnapshots).
 */
export function analyzeWith(dir: string, files: readonly string[], scan: SegmentScanner, opts: AnalyzeOptions, snaps: readonly SnapshotRead[], threads = 1): LogAnalysis {
  const warnings: string[] = [];
  const empty = { dir, segments: [], snapshots: [], firstSeq: 1, lastSeq: 0, lastHash: Buffer.alloc(32), anchoredFrom: 'genesis' as const, warnings };
  if (files.length === 0) return { ...empty, meta: undefined, problem: segmentsLost(dir, snaps), threads: 1 };

  // Snapshot anchors are checked against the chain, so their seqs must be known before the scan.
  const snapshots = snapshotsFor(snaps, files[0]!, warnings);
  const wantHashes = new Set(snapshots.map((s) => s.anchorSeq));
  const segments: SegmentScan[] = [];
  let problem: LogProblem | undefined;
  let meta: LogMeta | undefined;

  for (let i = 0; i < files.length && !problem; i++) {
    const file = files[i]!;
    const trustSeal = !opts.deep && i < files.length - 1;
    const scanned = scan(file, { verifyHashes: true, collectCheckpoints: opts.collectCheckpoints ?? false, wantHashes, trustSeal });
    if (scanned instanceof HeaderError) {
      const seq = segments.length ? segments[segments.length - 1]!.lastSeq + 1 : Number(path.basename(file).slice(0, 20));
      problem = { seq, reason: scanned.message, file, offset: 0, torn: false };
      break;
    }
    const h = scanned.header;
    if (i === 0) {
      meta = metaOf(h);
      if (h.firstSeq === 1 && !h.prevHash.equals(genesisHash(meta))) {
        problem = { seq: 1, reason: 'first segment header does not match the genesis hash (header altered)', file, offset: 0, torn: false };
        break;
      }
    } else {
      const prev = segments[i - 1]!;
      if (h.logId !== prev.header.logId || h.worldId !== prev.header.worldId) {
        problem = { seq: prev.lastSeq + 1, reason: `segment belongs to log ${h.logId}/${h.worldId}, not ${prev.header.logId}/${prev.header.worldId}`, file, offset: 0, torn: false };
        break;
      }
      if (h.firstSeq !== prev.lastSeq + 1 || !h.prevHash.equals(prev.lastHash)) {
        problem = { seq: prev.lastSeq + 1, reason: `segment chain broken: segment starts at seq ${h.firstSeq} but the previous one ends at ${prev.lastSeq} (missing, extra or altered segment)`, file, offset: 0, torn: false };
        break;
      }
    }
    if (path.basename(file) !== segmentFileName(h.firstSeq)) warnings.push(`${path.basename(file)}: name does not match its first seq ${h.firstSeq}`);
    segments.push(scanned);
    if (scanned.problem) {
      const last = i === files.length - 1;
      const p = scanned.problem;
      const tornCandidate = last && (p.kind === 'length' || p.kind === 'incomplete' || p.kind === 'crc');
      const after = tornCandidate ? intactFrameAfter(file, p.offset, p.seq) : undefined;
      const reason = after ? `${p.reason}; intact records follow (seq ${after.seq} at offset ${after.offset})` : last ? p.reason : `${p.reason} in a segment that is not the last`;
      problem = { seq: p.seq, reason, file, offset: p.offset, torn: tornCandidate && !after };
    }
  }

  const first = segments[0];
  const lastSeg = segments[segments.length - 1];
  const firstSeq = first ? first.header.firstSeq : 1;
  const lastSeq = lastSeg ? lastSeg.lastSeq : 0;
  const lastHash = lastSeg ? lastSeg.lastHash : Buffer.alloc(32);

  // A snapshot counts only if its anchor is a hash the chain actually has (or the compacted start's prev hash).
  const captured = new Map<number, Buffer>();
  for (const s of segments) for (const [k, v] of s.captured) captured.set(k, v);
  const matching: Snapshot[] = [];
  // The furthest anchor past the intact end among this log's snapshots: its chain hash cannot be checked (the records
  // are gone), but the snapshot names this log and world, and it was written only once its anchor was durable.
  let beyond: Snapshot | undefined;
  for (const s of snapshots) {
    const atStart = first && s.anchorSeq === firstSeq - 1 && s.anchorHash.equals(first.header.prevHash);
    const inLog = captured.get(s.anchorSeq)?.equals(s.anchorHash) ?? false;
    if (atStart || inLog) matching.push(s);
    else if (s.anchorSeq <= lastSeq) warnings.push(`snapshot at seq ${s.anchorSeq} ignored: its anchor hash is not in this log`);
    else if (!beyond || s.anchorSeq > beyond.anchorSeq) beyond = s;
  }
  if (beyond && lastSeg && (!problem || problem.torn)) {
    problem = durableRecordsMissing(dir, beyond, lastSeq, lastSeg, problem);
  } else if (beyond) {
    warnings.push(`snapshot at seq ${beyond.anchorSeq} not checked: the log is intact only through seq ${lastSeq}`);
  }

  let anchoredFrom: 'genesis' | number = 'genesis';
  if (first && firstSeq > 1) {
    // The earliest anchor in the log: the chain is checked against a snapshot from there on (the newest would
    // leave the records before it vouched for by nothing the report names).
    for (const s of matching) if (s.anchorSeq >= firstSeq - 1 && (anchoredFrom === 'genesis' || s.anchorSeq < anchoredFrom)) anchoredFrom = s.anchorSeq;
    if (anchoredFrom === 'genesis' && !problem) problem = { seq: 1, reason: `log starts at seq ${firstSeq} and no snapshot anchors it (segments deleted outside compaction?)`, file: first.file, offset: 0, torn: false };
  }
  return { dir, meta, segments, firstSeq, lastSeq, lastHash, snapshots: matching, anchoredFrom, problem, warnings, threads };
}

/**
 * No segment at all, though a snapshot that passes its checks is there: its log held records through its anchor (a
 * snapshot is written only once its anchor is durable), so every segment was lost (deleted, or not restored with the
 * snapshots). Taken for an empty directory, the log would start again at seq 1 and every acknowledged record would
 * be silently gone. No log exists to match the snapshot against, so any snapshot that passes its checksum counts.
 */
function segmentsLost(dir: string, snaps: readonly SnapshotRead[]): LogProblem | undefined {
  const proof = snaps.map((s) => s.read).find((s): s is Snapshot => typeof s !== 'string' && s.anchorSeq > 0);
  if (!proof) return undefined;
  const segDir = path.join(dir, SEGMENT_DIR);
  return {
    seq: 1,
    reason: `no segment is left, but snapshot ${path.basename(proof.file)} of log ${proof.logId} (world ${proof.worldId}) is anchored at seq ${proof.anchorSeq}, and a snapshot is written only once its anchor is durable: the records through seq ${proof.anchorSeq} were acknowledged and their segments are missing`,
    file: segDir,
    offset: 0,
    torn: false,
    advice: `restore ${segDir} from a backup; to give those records up and start a new, empty log here instead, move ${path.join(dir, SNAPSHOT_DIR)} aside too.`,
  };
}

/**
 * The log ends (or its tail breaks: `torn`) at lastSeq, below the anchor of a snapshot of this log. The snapshot was
 * written after its anchor was durable, and acknowledgements wait for the same sync, so the records in between were
 * acknowledged: losing them silently (and writing other records under their seqs) would break what clients were told.
 */
function durableRecordsMissing(dir: string, snap: Snapshot, lastSeq: number, lastSeg: SegmentScan, torn: LogProblem | undefined): LogProblem {
  const from = lastSeq + 1;
  const name = path.basename(snap.file);
  const proof = `snapshot ${name} of this log is anchored at seq ${snap.anchorSeq}, and a snapshot is written only once its anchor is durable`;
  const lost = from === snap.anchorSeq ? `seq ${from} was` : `seq ${from}..${snap.anchorSeq} were`;
  const reason = torn
    ? `${torn.reason}, but ${proof}: ${lost} acknowledged, so this is damage, not a torn tail; the log is intact through seq ${lastSeq}`
    : `the log ends at seq ${lastSeq}, but ${proof}: ${lost} acknowledged and ${from === snap.anchorSeq ? 'is' : 'are'} missing (a lost or cut-short segment)`;
  const advice = `restore the missing or damaged segment from a backup so the log reaches seq ${snap.anchorSeq} again, or accept losing seq ${from} and later with \`worldline repair ${dir} --truncate-from ${from}\` (it also moves the snapshots anchored at or past seq ${from} aside).`;
  return { seq: from, reason, file: torn?.file ?? lastSeg.file, offset: torn?.offset ?? lastSeg.validEnd, torn: false, advice };
}

/**
 * `<base>.broken`, or `<base>.<n>.broken` when an earlier repair already used that name: bytes moved aside are
 * evidence, and a later repair at the same place (same seqs written again) must not overwrite them.
 */
function asideName(base: string): string {
  let name = `${base}.broken`;
  for (let n = 1; fs.existsSync(name); n++) name = `${base}.${n}.broken`;
  return name;
}

/** Copies file[offset, end) to `<file>.<offset>.broken`, fsyncs it, truncates the file to offset. */
function cutTail(file: string, offset: number): string {
  // The segment's bytes change: a seal describing the old bytes must go first.
  fs.rmSync(summaryFile(file), { force: true });
  const aside = asideName(`${file}.${offset}`);
  const size = fs.statSync(file).size;
  const tail = Buffer.alloc(size - offset);
  const fd = fs.openSync(file, 'r+');
  try {
    fs.readSync(fd, tail, 0, tail.length, offset);
    const out = fs.openSync(aside, 'wx');
    try {
      for (let done = 0; done < tail.length; ) done += fs.writeSync(out, tail, done, tail.length - done, done);
      fs.fsyncSync(out);
    } finally {
      fs.closeSync(out);
    }
    fs.ftruncateSync(fd, offset);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fsyncDirSync(path.dirname(file));
  return aside;
}

/** Byte offset of record `seq` in a scanned segment (seq may be lastSeq + 1: the end of the intact part). */
function offsetOfSeq(scan: SegmentScan, seq: number): number {
  if (seq === scan.lastSeq + 1) return scan.problem ? scan.problem.offset : scan.validEnd;
  let seqAt = scan.header.firstSeq;
  let off = scan.headerSize;
  for (let i = 0; i + 1 < scan.index.length; i += 2) {
    if (scan.index[i]! <= seq) {
      seqAt = scan.index[i]!;
      off = scan.index[i + 1]!;
    }
  }
  const fd = fs.openSync(scan.file, 'r');
  try {
    const len = Buffer.alloc(4);
    while (seqAt < seq) {
      fs.readSync(fd, len, 0, 4, off);
      off += frameTotal(len, 0);
      seqAt++;
    }
  } finally {
    fs.closeSync(fd);
  }
  return off;
}

export interface RecoverOptions {
  /** Explicit repair: move seq >= truncateFromSeq aside. Must be at most the first bad seq. */
  readonly truncateFromSeq?: number;
  readonly onEvent?: (event: string, details: Record<string, unknown>) => void;
}

/**
 * Analyzes the log, cuts a torn tail or applies an explicit repair, and throws on corruption. `analyze` is the scan
 * to use (the parallel one from scan-pool.ts at startup).
 */
export async function recoverLog(dir: string, opts: RecoverOptions = {}, analyze: (dir: string) => Promise<LogAnalysis> | LogAnalysis = analyzeLog): Promise<LogAnalysis> {
  for (const f of fs.readdirSync(path.join(dir, SEGMENT_DIR)).filter((n) => n.endsWith('.tmp'))) {
    fs.rmSync(path.join(dir, SEGMENT_DIR, f), { force: true });
    opts.onEvent?.('removed-temp-segment', { file: f });
  }
  // A snapshot write killed before its rename leaves its temporary file; nothing else would ever remove it.
  for (const f of strayTempSnapshots(dir)) {
    fs.rmSync(f, { force: true });
    opts.onEvent?.('removed-temp-snapshot', { file: path.basename(f) });
  }
  let a = await analyze(dir);
  if (opts.truncateFromSeq !== undefined) {
    const s = opts.truncateFromSeq;
    const limit = a.problem ? a.problem.seq : a.lastSeq + 1;
    if (!Number.isSafeInteger(s) || s < a.firstSeq || s > limit) {
      throw new WorldlineError('CONFIG_INVALID', `truncateFromSeq must be between ${a.firstSeq} and ${limit} (the first bad seq, or one past the last record); got ${s}`, { truncateFromSeq: s });
    }
    const segIdx = a.segments.findIndex((g) => s >= g.header.firstSeq && s <= g.lastSeq + 1);
    // No intact segment holds S: the first segment's header is unreadable (analysis stopped before any segment).
    // (or no segment is left at all: then the problem says what to do).
    if (segIdx < 0) throw new WorldlineError('CONFIG_INVALID', `truncateFromSeq=${s} cannot repair ${dir}: ${a.segments.length === 0 && a.problem?.advice ? `${a.problem.reason}; ${a.problem.advice}` : `the first segment's header is unreadable; ${NOTHING_TO_KEEP}`}`, { truncateFromSeq: s });
    const seg = a.segments[segIdx]!;
    const off = offsetOfSeq(seg, s);
    const moved: string[] = [];
    if (off < fs.statSync(seg.file).size) moved.push(cutTail(seg.file, off));
    for (const later of segmentFiles(dir).filter((f) => f > seg.file)) {
      fs.rmSync(summaryFile(later), { force: true });
      const aside = asideName(later);
      fs.renameSync(later, aside);
      moved.push(aside);
    }
    fsyncDirSync(path.join(dir, SEGMENT_DIR));
    // Snapshots that include record S or later describe records that are gone: they would block the next open (they
    // prove those records were durable), so they are moved aside as evidence, like the segment bytes.
    const staleSnapshots = listSnapshotFiles(dir).filter((f) => f.anchorSeq >= s);
    for (const { file } of staleSnapshots) {
      const aside = asideName(file);
      fs.renameSync(file, aside);
      moved.push(aside);
    }
    if (staleSnapshots.length > 0) fsyncDirSync(path.join(dir, SNAPSHOT_DIR));
    opts.onEvent?.('repaired', { truncateFromSeq: s, movedAside: moved });
    a = await analyze(dir);
  }
  if (a.problem) {
    if (!a.problem.torn) throw corrupt(dir, a.problem, a);
    const aside = cutTail(a.problem.file, a.problem.offset);
    opts.onEvent?.('torn-tail-truncated', { seq: a.problem.seq, file: a.problem.file, offset: a.problem.offset, movedTo: aside });
    // The scan already stopped at the cut: everything before it was verified, so no rescan is needed.
    a = { ...a, problem: undefined };
  }
  return a;
}
