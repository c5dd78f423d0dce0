/**
 * A micro-benchmark of the server's decode of one client frame, a SubmitIntent (a Move), in each codec: what every
 * intent a client sends costs before it reaches intake. Not part of `npm run bench`: run it on two trees alternately
 * to see what a change to a codec's decode costs.
 *
 *   node --import tsx bench/micro/client-decode.ts [--calls 300000] [--runs 9]
 *
 * Prints ns per decode, the best of the runs (the least disturbed by other work on the machine).
 */
import { createWorldCodecs, Subprotocol } from '../../server/protocol/index.js';
import { bench, microOptions } from './micro.js';

const opts = microOptions({ calls: 300_000, runs: 9 });
const codecs = createWorldCodecs();
for (const sub of [Subprotocol.MSGPACK, Subprotocol.PROTO, Subprotocol.JSON]) {
  const c = codecs[sub];
  const frame = c.encodeClient({ type: 'submit_intent', intent: { req_id: 'r-123456', kind: 'Move', payload: { dx: 1.5, dy: -2 }, context_seq: 1234, priority: 0 } });
  bench(`${sub} SubmitIntent (${typeof frame === 'string' ? frame.length : frame.byteLength} B)`, opts, () => c.decodeClient(frame));
}
