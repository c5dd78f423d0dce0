/**
 * Offline verification: the same scan recovery uses (CRC, seq contiguity, hash chain, segment links, snapshot
 * anchors), plus signed checkpoints when a public key is given. Reads only; safe on a live data directory.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { ErrorName } from '../errors.js';
import { analyzeLogParallel } from './scan-pool.js';
import { checkCheckpoint } from './checkpoints.js';
import { corruptionAdvice } from './recovery.js';

export interface VerifyReport {
  readonly ok: boolean;
  readonly logId: string | undefined;
  readonly worldId: string | undefined;
  readonly records: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly headHash: string;
  readonly segments: number;
  readonly bytes: number;
  readonly anchoredFrom: 'genesis' | number;
  readonly snapshots: number;
  readonly checkpoints: { readonly count: number; readonly verified: number; readonly signedThrough: number } | undefined;
  readonly problem: { readonly code: ErrorName; readonly seq: number; readonly reason: string; readonly torn: boolean; readonly file: string; readonly offset: number; readonly advice?: string } | undefined;
  readonly warnings: readonly string[];
}

export interface VerifyOptions {
  /** Ed25519 public key (KeyObject or PEM) to check signed checkpoints against. */
  readonly publicKey?: KeyObject | string;
}

/** Scans of a live log that may meet a file compacted or rotated away after it was listed. */
const LIVE_ATTEMPTS = 3;

/**
 * Verifies the log in `dir` and reports the first problem, if any. Safe on a live server's directory: a segment
 * compacted away or a snapshot rotated out between the listing and the read is not damage, so a scan that meets a
 * vanished file (ENOENT) is run again from a fresh listing, up to LIVE_ATTEMPTS times.
 */
export async function verifyLog(dir: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await verifyOnce(dir, opts);
    } catch (err) {
      if (attempt >= LIVE_ATTEMPTS || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

async function verifyOnce(dir: string, opts: VerifyOptions): Promise<VerifyReport> {
  const key = opts.publicKey === undefined ? undefined : typeof opts.publicKey === 'string' ? createPublicKey(opts.publicKey) : opts.publicKey;
  // Verify re-derives every frame's chain hash: seals speed up recovery, never verification.
  const a = await analyzeLogParallel(dir, { collectCheckpoints: key !== undefined, deep: true });
  let problem: VerifyReport['problem'] = a.problem && (a.problem.torn ? { code: 'LOG_CORRUPTION_DETECTED', ...a.problem } : { code: 'LOG_CORRUPTION_DETECTED', ...a.problem, advice: corruptionAdvice(dir, a.problem, a) });
  let checkpoints: VerifyReport['checkpoints'];
  const warnings = [...a.warnings];
  if (key && a.meta) {
    let verified = 0;
    let signedThrough = 0;
    let count = 0;
    for (const seg of a.segments) {
      for (const cp of seg.checkpoints) {
        count++;
        const why = checkCheckpoint(cp.payload, cp.seq, cp.prevHash, a.meta.logId, key);
        if (why) {
          if (!problem || cp.seq < problem.seq) problem = { code: 'CHECKPOINT_SIGNATURE_INVALID', seq: cp.seq, reason: `checkpoint at seq ${cp.seq}: ${why}`, torn: false, file: seg.file, offset: 0 };
          break;
        }
        verified++;
        signedThrough = cp.seq - 1;
      }
      if (problem?.code === 'CHECKPOINT_SIGNATURE_INVALID') break;
    }
    checkpoints = { count, verified, signedThrough };
    if (!problem && verified === 0 && a.lastSeq > 0) {
      problem = { code: 'CHECKPOINT_SIGNATURE_INVALID', seq: a.firstSeq, reason: 'no checkpoint signed by this key was found, so nothing in the log can be vouched for', torn: false, file: a.segments[0]?.file ?? dir, offset: 0 };
    } else if (!problem && signedThrough < a.lastSeq) {
      warnings.push(`records ${signedThrough + 1}..${a.lastSeq} come after the last signed checkpoint`);
    }
  }
  const bytes = a.segments.reduce((n, s) => n + s.validEnd, 0);
  return {
    ok: problem === undefined,
    logId: a.meta?.logId,
    worldId: a.meta?.worldId,
    records: a.segments.reduce((n, s) => n + s.records, 0),
    firstSeq: a.firstSeq,
    lastSeq: a.lastSeq,
    headHash: a.lastHash.toString('hex'),
    segments: a.segments.length,
    bytes,
    anchoredFrom: a.anchoredFrom,
    snapshots: a.snapshots.length,
    checkpoints,
    problem,
    warnings,
  };
}
