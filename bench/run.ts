/**
 * Benchmark runner: `npm run bench` runs every benchmark, `npm run bench -- NAME` one, `--smoke` a short version.
 * Each benchmark is a module in bench/ exporting run({ smoke }) that prints a table and writes bench/results/NAME.json.
 */
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchOptions } from './lib.js';

const benches = ['log', 'core', 'codec'] as const;

const { positionals, values } = parseArgs({ allowPositionals: true, options: { smoke: { type: 'boolean' } } });
const names = positionals.length ? positionals : [...benches];
for (const name of names) {
  if (!(benches as readonly string[]).includes(name)) {
    console.error(`unknown benchmark ${JSON.stringify(name)}; available: ${benches.join(', ')}`);
    process.exit(2);
  }
}
for (const name of names) {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  if (!fs.existsSync(file)) {
    console.error(`bench ${name}: ${file} is missing`);
    process.exit(2);
  }
  console.log(`\n=== bench ${name}${values.smoke ? ' (smoke)' : ''} ===`);
  const mod = (await import(pathToFileURL(file).href)) as { run: (o: BenchOptions) => Promise<unknown> };
  await mod.run({ smoke: values.smoke ?? false });
}
