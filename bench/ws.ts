/**
 * `npm run bench -- ws`: arena-v1 over real sockets at 100, 500 and 1,000 clients (issue 4's benchmark), with the
 * server in its own process (log on, durability batch) and the clients in worker processes. Writes
 * bench/results/ws.json. `--smoke`: 30 clients, 1 s warm-up, 3 s measured. Load options: bench/arena/options.ts.
 */
import os from 'node:os';
import { writeResult, type BenchOptions } from './lib.js';
import { runSuite } from './arena/suite.js';

export async function run(opts: BenchOptions & { readonly args?: readonly string[] }): Promise<unknown> {
  const args = opts.args ?? [];
  const counts = opts.smoke ? [30] : [100, 500, 1000];
  const { runs, referenceUs, options } = await runSuite(counts, args, opts.smoke ? { warmupMs: 1000, measureMs: 3000 } : {});
  const cmd = `npm run bench -- ws${opts.smoke ? ' --smoke' : ''}${args.length ? ' ' + args.join(' ') : ''}`;
  const file = writeResult(opts.smoke ? 'ws-smoke' : 'ws', {
    smoke: opts.smoke, command: cmd, loadavg: os.loadavg(), referenceUs,
    workload: 'arena-v1 (../shared/workloads/arena-v1.md)', codec: options.codec, server: options.url ?? `child process (${options.from})`,
    goal: { clients: 1000, deliveryP99Ms: 10, serverCpuPercent: 20, viewErrors: 0 },
    runs,
  });
  console.log(`  -> ${file}`);
  return runs;
}
