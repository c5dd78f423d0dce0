/**
 * One arena-v1 run over real sockets: `npm run bench -- arena [--clients N] [--url URL --token-secret FILE] ...`
 * (bench/arena/options.ts lists the options). Writes bench/results/arena.json.
 */
import { table, writeResult, type BenchOptions } from './lib.js';
import { parseArenaArgs } from './arena/options.js';
import { runArena, saturationNote, summaryRow } from './arena/runner.js';

export async function run(opts: BenchOptions & { readonly args?: readonly string[] }): Promise<unknown> {
  const o = parseArenaArgs(opts.args ?? []);
  const smoke = opts.smoke ? { warmupMs: 1000, measureMs: 3000 } : {};
  const r = await runArena({ ...o, ...smoke });
  console.log(table([summaryRow(r)]));
  const busy = saturationNote(r);
  if (busy) console.log(busy);
  if (r.correctness.examples.length) console.log(`  examples: ${r.correctness.examples.join('\n            ')}`);
  const cmd = `npm run bench -- arena${opts.smoke ? ' --smoke' : ''}${opts.args?.length ? ' ' + opts.args.join(' ') : ''}`;
  console.log(`  -> ${writeResult(opts.smoke ? 'arena-smoke' : 'arena', { smoke: opts.smoke, command: cmd, run: r })}`);
  return r;
}
