/**
 * A micro-benchmark of the server's decode of one client frame, a SubmitIntent (a Move), in each codec: what every
 * intent a client sends costs before it reaches intake. Not part of `npm run bench`: run it on two trees alternately
 * to see what a change to a codec's decode costs.
 *
 *   node --import tsx bench/micro/client-decode.ts [--calls 300000] [--runs 9]
 *
 * Prints ns per decode, the best of the runs (the least disturbed by other work on the machine).
 */
import { parseArgs } from 'node:util';
import { createWorldCodecs, Subprotocol } from '../../server/protocol/index.js';

const { values } = parseArgs({ options: { calls: { type: 'string' }, runs: { type: 'string' } } });
const N = Number(values.calls ?? 300_000);
const RUNS = Number(values.runs ?? 9);
if (!Number.isSafeInteger(N) || N < 1 || !Number.isSafeInteger(RUNS) || RUNS < 1) throw new Error('--calls and --runs take whole numbers >= 1');

const codecs = createWorldCodecs();
let sink: unknown;
for (const sub of [Subprotocol.MSGPACK, Subprotocol.PROTO, Subprotocol.JSON]) {
  const c = codecs[sub];
  const frame = c.encodeClient({ type: 'submit_intent', intent: { req_id: 'r-123456', kind: 'Move', payload: { dx: 1.5, dy: -2 }, context_seq: 1234, priority: 0 } });
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now();
    for (let i = 0; i < N; i++) sink = c.decodeClient(frame);
    best = Math.min(best, performance.now() - t);
  }
  console.log(`${`${sub} SubmitIntent (${typeof frame === 'string' ? frame.length : frame.byteLength} B)`.padEnd(40)} ${((best * 1e6) / N).toFixed(0)} ns`);
}
if (sink === undefined) console.log('');
