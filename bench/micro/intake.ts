/**
 * A micro-benchmark of what intake does to every intent before it is queued: a Move's shape check (checkIntent, which
 * keeps a deeply frozen copy of the payload in canonical key order) and the frozen copy of a payload whose keys are
 * out of order. Not part of `npm run bench`: run it on two trees alternately to see what a change to intake costs.
 *
 *   node --import tsx bench/micro/intake.ts [--calls 1000000] [--runs 7]
 *
 * Prints ns per call, the best of the runs (the least disturbed by other work on the machine).
 */
import { checkIntent } from '../../server/core/intake.js';
import { frozenJson } from '../../server/core/json-value.js';
import { defineWorld } from '../../server/core/world.js';
import { bench, microOptions } from './micro.js';

const opts = microOptions({ calls: 1_000_000, runs: 7 });
const handlers = defineWorld({ name: 'intake-bench', seed: 's' }).handlers;

bench('checkIntent, a Move', opts, (i) => checkIntent({ req_id: `r${i & 1023}`, agent_id: 'a1', kind: 'Move', payload: { dx: 1, dy: -1 }, context_seq: 5 }, handlers));
bench('frozenJson, 4 keys out of order', opts, () => frozenJson({ y: 1, x: 2, name: 'n', hp: 3 }));
