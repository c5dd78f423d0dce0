/**
 * What the micro-benchmarks share: `--calls N --runs R` from the command line, and a loop that times N calls R times
 * and prints ns per call of the best run (the one least disturbed by other work on the machine).
 */
import { parseArgs } from 'node:util';

/** The calls per run and the runs, from `--calls` and `--runs` (whole numbers >= 1), or the given defaults. */
export function microOptions(defaults: { calls: number; runs: number }): { calls: number; runs: number } {
  const { values } = parseArgs({ options: { calls: { type: 'string' }, runs: { type: 'string' } } });
  const calls = Number(values.calls ?? defaults.calls);
  const runs = Number(values.runs ?? defaults.runs);
  if (!Number.isSafeInteger(calls) || calls < 1 || !Number.isSafeInteger(runs) || runs < 1) throw new Error('--calls and --runs take whole numbers >= 1');
  return { calls, runs };
}

let sink: unknown;

/** Times `calls` calls of `f` (given the call's index), `runs` times, and prints `name` with ns per call of the best run. */
export function bench(name: string, opts: { calls: number; runs: number }, f: (i: number) => unknown): void {
  let best = Infinity;
  for (let r = 0; r < opts.runs; r++) {
    const t = performance.now();
    for (let i = 0; i < opts.calls; i++) sink = f(i);
    best = Math.min(best, performance.now() - t);
  }
  console.log(`${name.padEnd(40)} ${((best * 1e6) / opts.calls).toFixed(1)} ns`);
  // Read once, so the calls' results are not dead code the compiler may drop.
  if (sink === Symbol.for('never')) console.log('');
}
