/** Shared helpers for benchmarks: histograms, medians, result files, tables. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import { removeAtExit } from './cleanup.js';

export interface BenchOptions {
  /** A short run for CI: smaller sizes, same code paths. */
  readonly smoke: boolean;
}

/** A bad option or value: bench/run.ts prints its message alone (no stack) and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const resultsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

/** A latency histogram in microseconds (1 µs .. 60 s, 3 significant digits). */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The machine a result was measured on, recorded beside every figure. */
export function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return { node: process.version, cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30), platform: `${os.platform()} ${os.release()}` };
}

export function writeResult(name: string, result: Record<string, unknown>): string {
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ bench: name, date: new Date().toISOString(), machine: machine(), ...result }, null, 2) + '\n');
  return file;
}

/** Prints rows as an aligned text table. */
export function table(rows: ReadonlyArray<Record<string, string | number>>): string {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]!);
  const cell = (v: string | number | undefined): string => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 3 : 1)) : (v ?? ''));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padStart(widths[i]!)).join('  ');
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

/** A fresh scratch directory, removed when the bench exits if the bench has not removed it by then. */
export function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `worldline-bench-${prefix}-`));
  removeAtExit(dir);
  return dir;
}
