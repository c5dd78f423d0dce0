/**
 * A micro-benchmark of what intake does to every intent before it is queued: a Move's shape check (checkIntent, which
 * keeps a deeply frozen copy of the payload in canonical key order) and the frozen copy of a payload whose keys are
 * out of order. Not part of `npm run bench`: run it on two trees alternately to see what a change to intake costs.
 *
 *   node --import tsx bench/micro/intake.ts [--calls 1000000] [--runs 7]
 *
 * Prints ns per call, the best of the runs (the least disturbed by other work on the machine).
 */
import { parseArgs } from 'node:util';
import { checkIntent } from '../../server/core/intake.js';
import { frozenJson } from '../../server/core/json-value.js';
import { defineWorld } from '../../server/core/world.js';

const { values } = parseArgs({ options: { calls: { type: 'string' }, runs: { type: 'string' } } });
const N = Number(values.calls ?? 1_000_000);
const RUNS = Number(values.runs ?? 7);
if (!Number.isSafeInteger(N) || N < 1 || !Number.isSafeInteger(RUNS) || RUNS < 1) throw new Error('--calls and --runs take whole numbers >= 1');

const handlers = defineWorld({ name: 'intake-bench', seed: 's' }).handlers;
let sink: unknown;

function bench(name: string, f: (i: number) => unknown): void {
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now();
    for (let i = 0; i < N; i++) sink = f(i);
    best = Math.min(best, performance.now() - t);
  }
  console.log(`${name.padEnd(40)} ${((best * 1e6) / N).toFixed(1)} ns`);
}

bench('checkIntent, a Move', (i) => checkIntent({ req_id: `r${i & 1023}`, agent_id: 'a1', kind: 'Move', payload: { dx: 1, dy: -1 }, context_seq: 5 }, handlers));
bench('frozenJson, 4 keys out of order', () => frozenJson({ y: 1, x: 2, name: 'n', hp: 3 }));
if (sink === Symbol.for('never')) console.log('');
