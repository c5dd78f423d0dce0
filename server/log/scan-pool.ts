/**
 * Parallel recovery scan. Every segment header carries its first seq and the previous segment's last hash, so each
 * segment's chain can be checked on its own; worker threads scan segments concurrently and the recovery rules then
 * link the results in order. SHA-256 of each small frame costs about a microsecond of call overhead, so one core
 * tops out below the disk; two cores nearly double the scan speed.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { HeaderError, type SegmentScan } from './scan.js';
import { analyzeWith, scanHere, segmentFiles, type AnalyzeOptions, type LogAnalysis } from './recovery.js';
import { readSnapshots } from './snapshots.js';
import type { ScanRequest } from './scan-worker.js';

/** Below this much data, starting workers costs more than it saves. */
const PARALLEL_MIN_BYTES = 32 * 1024 * 1024;

export interface ParallelOptions extends AnalyzeOptions {
  /** Worker threads to use (default: available cores). 1 scans on this thread. */
  readonly threads?: number;
  /** Scan on this thread when the log is smaller than this (default 32 MiB: workers cost more than they save). */
  readonly minBytes?: number;
}

const asBuf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

/** Structured clone turns Buffers into Uint8Arrays: turn them back. */
function revive(s: SegmentScan): SegmentScan {
  return {
    ...s,
    header: { ...s.header, prevHash: asBuf(s.header.prevHash) },
    lastHash: asBuf(s.lastHash),
    checkpoints: s.checkpoints.map((c) => ({ ...c, payload: asBuf(c.payload), prevHash: asBuf(c.prevHash) })),
    captured: new Map([...s.captured].map(([k, v]) => [k, asBuf(v)])),
  };
}

function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./scan-worker.js', import.meta.url));
  // Running from TypeScript sources (tests, benches): register tsx inside the worker before loading its body,
  // since loader flags given to the parent do not reach a worker's entry module on Node 20.
  let tsx = 'tsx/esm/api';
  try {
    tsx = import.meta.resolve(tsx);
  } catch {
    // Hosts that lack import.meta.resolve (test runners): the bare specifier resolves from the working directory.
  }
  const body = new URL('./scan-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(body)}); })`, { eval: true });
}

async function scanAll(files: readonly string[], threads: number, opts: AnalyzeOptions, wantHashes: number[]): Promise<Map<string, SegmentScan | HeaderError>> {
  const results = new Map<string, SegmentScan | HeaderError>();
  const workers = Array.from({ length: threads }, startWorker);
  let next = 0;
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const send = (): void => {
              if (next >= files.length) return resolve();
              const id = next++;
              const req: ScanRequest = { id, file: files[id]!, collectCheckpoints: opts.collectCheckpoints ?? false, wantHashes, trustSeal: !opts.deep && id < files.length - 1 };
              w.postMessage(req);
            };
            w.on('message', (m: { ready?: true; id: number; scan?: SegmentScan; headerError?: string; error?: string }) => {
              if (m.ready) return send();
              const file = files[m.id]!;
              if (m.error) return reject(new Error(`scan of ${file} failed in a worker: ${m.error}`));
              results.set(file, m.headerError !== undefined ? new HeaderError(m.headerError) : revive(m.scan!));
              send();
            });
            w.on('error', reject);
            w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`scan worker exited with code ${code}`))));
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}

/** analyzeLog, with segments scanned by worker threads when the log is big enough to benefit. */
export async function analyzeLogParallel(dir: string, opts: ParallelOptions = {}): Promise<LogAnalysis> {
  // Snapshots before the listing, as in analyzeLog (see readSnapshots).
  const snaps = readSnapshots(dir);
  const files = segmentFiles(dir);
  const threads = Math.min(opts.threads ?? os.availableParallelism(), files.length);
  const bytes = files.reduce((n, f) => n + fs.statSync(f).size, 0);
  if (threads < 2 || bytes < (opts.minBytes ?? PARALLEL_MIN_BYTES)) return analyzeWith(dir, files, scanHere, opts, snaps);
  // Every anchor a snapshot names: the ones of another log are dropped by analyzeWith, and capturing a hash is cheap.
  const anchors = snaps.flatMap((s) => (typeof s.read === 'string' ? [] : [s.read.anchorSeq]));
  let results: Map<string, SegmentScan | HeaderError>;
  try {
    results = await scanAll(files, threads, opts, anchors);
  } catch {
    // Workers unavailable (no loader for sources, resource limits): the same scan on this thread.
    return analyzeWith(dir, files, scanHere, opts, snaps);
  }
  return analyzeWith(dir, files, (f) => results.get(f)!, opts, snaps, threads);
}
