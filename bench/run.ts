/**
 * Benchmark runner: `npm run bench` runs every benchmark, `npm run bench -- NAME [options]` one, `--smoke` a short
 * version. Each benchmark is a module in bench/ exporting run({ smoke, args }) that prints a table and writes
 * bench/results/NAME.json; options after the names go to the benchmarks (the load runner takes --clients, --url...).
 * `slo` runs last and exits non-zero when a service level is missed (in smoke mode: on a large regression).
 */
import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchOptions } from './lib.js';

/** In the order `npm run bench` runs them; `slo` judges what the others wrote, so it comes last. */
const benches = ['log', 'core', 'codec', 'host', 'cancel', 'ws', 'floor', 'sweep', 'slo'] as const;
/** Not in the default list: run by name. */
const extra = ['arena', 'worlds'] as const;
/** Optional benches another change adds: skipped with a note when the file is not there yet. */
const optional = new Set(['cancel']);

const argv = process.argv.slice(2);
const smoke = argv.includes('--smoke');
const rest = argv.filter((a) => a !== '--smoke');
const firstOption = rest.findIndex((a) => a.startsWith('-'));
const positionals = firstOption < 0 ? rest : rest.slice(0, firstOption);
const args = firstOption < 0 ? [] : rest.slice(firstOption);
const known: readonly string[] = [...benches, ...extra];
const names = positionals.length ? positionals : [...benches];
for (const name of names) {
  if (!known.includes(name)) {
    console.error(`unknown benchmark ${JSON.stringify(name)}; available: ${known.join(', ')}`);
    process.exit(2);
  }
}
let failed = false;
for (const name of names) {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  if (!fs.existsSync(file)) {
    if (optional.has(name) && positionals.length === 0) {
      console.log(`\n=== bench ${name}: ${file} not there yet, skipped ===`);
      continue;
    }
    console.error(`bench ${name}: ${file} is missing`);
    process.exit(2);
  }
  console.log(`\n=== bench ${name}${smoke ? ' (smoke)' : ''} ===`);
  const mod = (await import(pathToFileURL(file).href)) as { run: (o: BenchOptions & { args: readonly string[] }) => Promise<unknown> };
  try {
    await mod.run({ smoke, args });
  } catch (err) {
    failed = true;
    // A bad option is the user's to fix: its message says how, and a stack trace would only bury it.
    if ((err as Error | undefined)?.name === 'UsageError') {
      console.error(`bench ${name}: ${(err as Error).message}`);
      process.exitCode = 2;
    } else console.error(`bench ${name} failed: ${(err as Error).stack ?? String(err)}`);
  }
}
if (process.exitCode === undefined && failed) process.exitCode = 1;
// Benches may leave handles (sockets, timers) behind; the results are written, so end here.
process.exit(process.exitCode ?? 0);
