/**
 * `npm run bench -- sweep`: arena-v1 at 50, 100, 200, 500, 1,000 and 2,000 clients with E = max(200, C). The
 * headline is the largest C that keeps p99 delivery under 50 ms with server CPU under 90% of one core (every smaller
 * count passing too). A count whose p99 lands within 25% of the limit is run three times and judged on its median
 * run (by p99): on a shared machine one run near the limit falls either side by chance. Writes
 * bench/results/sweep.json (`repeats` lists those counts' p99s and CPUs; `runs` holds the judged run per count) and
 * sweep.svg (latency percentiles and server CPU vs clients).
 * `--smoke`: 20 and 60 clients, short windows.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resultsDir, writeResult, type BenchOptions } from './lib.js';
import { runSuite, type SuiteRun } from './arena/suite.js';
import { renderChart } from './arena/chart.js';

export const SWEEP_COUNTS = [50, 100, 200, 500, 1000, 2000] as const;
export const LIMITS = { p99Ms: 50, serverCpuPercent: 90 } as const;

/**
 * Whether a run keeps within the sweep's limits: p99 and CPU under them, no error of any kind (a failed connect, a
 * close, an error frame, a view error, a rejected or unanswered intent) and no sampled view wrong. A server that is
 * fast because it drops clients or sends wrong views does not serve that many clients. A sample that lagged is
 * latency, which the p99 judges.
 */
export function withinLimits(r: Pick<SuiteRun, 'delivery' | 'server' | 'errors' | 'correctness'>): boolean {
  const wrongViews = r.correctness.samples - r.correctness.correct - r.correctness.lagging;
  return r.delivery.p99 < LIMITS.p99Ms && r.server.cpuPercent !== null && r.server.cpuPercent < LIMITS.serverCpuPercent && r.errors.total === 0 && wrongViews === 0;
}

/** The largest client count whose run, and every run before it, kept within the limits (0: none did). */
export function headline(runs: ReadonlyArray<Pick<SuiteRun, 'clients' | 'delivery' | 'server' | 'errors' | 'correctness'>>): number {
  let best = 0;
  for (const r of [...runs].sort((a, b) => a.clients - b.clients)) {
    if (!withinLimits(r)) break;
    best = r.clients;
  }
  return best;
}

export function sweepChart(runs: readonly SuiteRun[], title: string): string {
  return renderChart({
    title,
    xLabel: 'clients (arena-v1, E = max(200, C))',
    xs: runs.map((r) => r.clients),
    leftLabel: 'delivery latency (ms)',
    rightLabel: 'server CPU (% of one core)',
    series: [
      { name: 'p50', values: runs.map((r) => r.delivery.p50), axis: 'left', color: '#1b9e77' },
      { name: 'p90', values: runs.map((r) => r.delivery.p90), axis: 'left', color: '#7570b3' },
      { name: 'p99', values: runs.map((r) => r.delivery.p99), axis: 'left', color: '#d95f02' },
      { name: 'server CPU %', values: runs.map((r) => r.server.cpuPercent ?? NaN), axis: 'right', color: '#444444', dashed: true },
    ],
    // A run far past the limit (p99 in seconds at 2,000 clients) would flatten the 50 ms line against the axis.
    leftCap: 4 * LIMITS.p99Ms,
    guides: [
      { axis: 'left', value: LIMITS.p99Ms, label: `p99 limit ${LIMITS.p99Ms} ms`, color: '#d95f02' },
      { axis: 'right', value: LIMITS.serverCpuPercent, label: `CPU limit ${LIMITS.serverCpuPercent}%`, color: '#444444' },
    ],
  });
}

/**
 * Whether a run's p99 lands near the limit (within NEAR of it, either side): on a shared machine one run there can
 * fall either side by chance, so such a count is measured again and judged on the median run.
 */
export function nearLimit(r: Pick<SuiteRun, 'delivery'>): boolean {
  return Math.abs(r.delivery.p99 - LIMITS.p99Ms) <= NEAR * LIMITS.p99Ms;
}
const NEAR = 0.25;
/** Runs of a count near the limit, the first included. */
const NEAR_RUNS = 3;

/** The run with the median p99 (of an odd number of runs). */
export function medianRun<T extends Pick<SuiteRun, 'delivery'>>(runs: readonly T[]): T {
  return [...runs].sort((a, b) => a.delivery.p99 - b.delivery.p99)[(runs.length - 1) >> 1] as T;
}

export async function run(opts: BenchOptions & { readonly args?: readonly string[] }): Promise<unknown> {
  const args = opts.args ?? [];
  const counts = opts.smoke ? [20, 60] : [...SWEEP_COUNTS];
  const overrides = opts.smoke ? { warmupMs: 1000, measureMs: 2000 } : {};
  const first = await runSuite(counts, args, overrides);
  const { referenceUs, options } = first;
  // Counts whose p99 came out near the limit are run NEAR_RUNS times in all; the median run (by p99) stands for them.
  const runs: SuiteRun[] = [];
  const repeats: Array<{ clients: number; p99Ms: number[]; serverCpuPercent: Array<number | null> }> = [];
  for (const r of first.runs) {
    if (opts.smoke || !nearLimit(r)) {
      runs.push(r);
      continue;
    }
    console.log(`${r.clients} clients: p99 ${r.delivery.p99} ms is within ${NEAR * 100}% of the ${LIMITS.p99Ms} ms limit; measuring it ${NEAR_RUNS - 1} more times`);
    const more = (await runSuite(Array.from({ length: NEAR_RUNS - 1 }, () => r.clients), args, overrides)).runs;
    const all = [r, ...more];
    repeats.push({ clients: r.clients, p99Ms: all.map((x) => x.delivery.p99), serverCpuPercent: all.map((x) => x.server.cpuPercent) });
    runs.push(medianRun(all));
  }
  const maxClients = headline(runs);
  const name = opts.smoke ? 'sweep-smoke' : 'sweep';
  const cmd = `npm run bench -- sweep${opts.smoke ? ' --smoke' : ''}${args.length ? ' ' + args.join(' ') : ''}`;
  const file = writeResult(name, { smoke: opts.smoke, command: cmd, loadavg: os.loadavg(), referenceUs, codec: options.codec, limits: LIMITS, maxClients, repeats, runs });
  const svg = path.join(resultsDir, `${name}.svg`);
  fs.writeFileSync(svg, sweepChart(runs, `Worldline arena-v1 sweep (${options.codec}; largest C within limits: ${maxClients})`));
  console.log(`largest client count with p99 < ${LIMITS.p99Ms} ms and server CPU < ${LIMITS.serverCpuPercent}%: ${maxClients}`);
  console.log(`  -> ${file}\n  -> ${svg}`);
  return { maxClients, runs };
}
