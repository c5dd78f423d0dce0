/**
 * `npm run bench -- sweep`: arena-v1 at 50, 100, 200, 500, 1,000 and 2,000 clients with E = max(200, C). The
 * headline is the largest C that keeps p99 delivery under 50 ms with server CPU under 90% of one core (every smaller
 * count passing too). Writes bench/results/sweep.json and sweep.svg (latency percentiles and server CPU vs clients).
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

/** Whether a run keeps within the sweep's limits (a run with failed connections or errors does not). */
export function withinLimits(r: Pick<SuiteRun, 'delivery' | 'server' | 'errors'>): boolean {
  return r.delivery.p99 < LIMITS.p99Ms && r.server.cpuPercent !== null && r.server.cpuPercent < LIMITS.serverCpuPercent && r.errors.connectFailed === 0;
}

/** The largest client count whose run, and every run before it, kept within the limits (0: none did). */
export function headline(runs: ReadonlyArray<Pick<SuiteRun, 'clients' | 'delivery' | 'server' | 'errors'>>): number {
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
    guides: [
      { axis: 'left', value: LIMITS.p99Ms, label: `p99 limit ${LIMITS.p99Ms} ms`, color: '#d95f02' },
      { axis: 'right', value: LIMITS.serverCpuPercent, label: `CPU limit ${LIMITS.serverCpuPercent}%`, color: '#444444' },
    ],
  });
}

export async function run(opts: BenchOptions & { readonly args?: readonly string[] }): Promise<unknown> {
  const args = opts.args ?? [];
  const counts = opts.smoke ? [20, 60] : [...SWEEP_COUNTS];
  const { runs, referenceUs, options } = await runSuite(counts, args, opts.smoke ? { warmupMs: 1000, measureMs: 2000 } : {});
  const maxClients = headline(runs);
  const name = opts.smoke ? 'sweep-smoke' : 'sweep';
  const cmd = `npm run bench -- sweep${opts.smoke ? ' --smoke' : ''}${args.length ? ' ' + args.join(' ') : ''}`;
  const file = writeResult(name, { smoke: opts.smoke, command: cmd, loadavg: os.loadavg(), referenceUs, codec: options.codec, limits: LIMITS, maxClients, runs });
  const svg = path.join(resultsDir, `${name}.svg`);
  fs.writeFileSync(svg, sweepChart(runs, `Worldline arena-v1 sweep (${options.codec}; largest C within limits: ${maxClients})`));
  console.log(`largest client count with p99 < ${LIMITS.p99Ms} ms and server CPU < ${LIMITS.serverCpuPercent}%: ${maxClients}`);
  console.log(`  -> ${file}\n  -> ${svg}`);
  return { maxClients, runs };
}
