/**
 * What one delta costs an SDK agent in the cancel bench's world, alone: the view of a conversation with a room and
 * N people (as each agent of a 200-agent run sees it), and the delta a Say makes (the room's last 12 lines replaced,
 * its count, the speaker's `said`). Per delta, medians of R runs: ViewState.delta (clone the ops, copy what they
 * change, patch; the view's entity table is built only when read) and the digest (canonical texts of the touched
 * entities, as the SDK reads them, their SHA-256 and the sum).
 *
 *   node --import tsx bench/cancel/sdk-delta.ts [--people 205] [--deltas 20000]
 *
 * Not part of `npm run bench`: bench/cancel.ts measures the whole cancel path; this isolates one piece of it.
 */
import { parseArgs } from 'node:util';
import { ViewDigester } from '../../adapters/client/digest.js';
import { ViewState, entitiesOf } from '../../adapters/client/view.js';
import type { JsonValue, ObservationDelta, WireOp } from '../../server/protocol/index.js';

const { values } = parseArgs({ options: { people: { type: 'string' }, deltas: { type: 'string' } } });
const PEOPLE = Math.min(10_000, Math.max(1, Number(values.people ?? 205)));
const DELTAS = Math.min(1_000_000, Math.max(100, Number(values.deltas ?? 20_000)));
const RUNS = 7;

const lines = (upTo: number): JsonValue[] => Array.from({ length: 12 }, (_, i) => ({ by: 'speaker', text: `line ${upTo - 11 + i}`, line: upTo - 10 + i }));
const entities: Record<string, JsonValue> = { room: { kind: 'room', topic: 'what to plant in the shared garden this spring', lines: lines(20), count: 21 } };
for (let i = 0; i < PEOPLE; i++) entities[`g${String(i).padStart(4, '0')}`] = { kind: 'person' };
entities['speaker'] = { kind: 'person', said: { text: 'line 20', line: 21 } };

function sayDelta(state: ViewState, n: number): ObservationDelta {
  const ops: WireOp[] = [
    { op: 'replace', path: '/entities/room/lines', value: lines(n) },
    { op: 'replace', path: '/entities/room/count', value: n + 1 },
    { op: 'replace', path: '/entities/speaker/said', value: { text: `line ${n}`, line: n + 1 } },
  ];
  return { type: 'observation_delta', view_seq: state.viewSeq + 1, from_seq: state.viewSeq, context_digest: '', ops, global_seq: n, sim_time: n, server_time: 0 };
}

const apply: number[] = [];
const digest: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const state = new ViewState();
  state.snapshot({ view_seq: 0, view: { entities } as unknown as JsonValue, context_digest: '' }, 'welcome');
  const digester = new ViewDigester();
  await digester.apply(digester.changes(state.view.entities, state.touched));
  // Decoded frames are fresh objects: build them before timing, as the codec would have.
  const ds = Array.from({ length: DELTAS }, (_, i) => i);
  let tApply = 0;
  let tDigest = 0;
  for (const i of ds) {
    const d = sayDelta(state, 21 + i);
    const a = performance.now();
    state.delta(d);
    const b = performance.now();
    await digester.apply(digester.changes(entitiesOf(state.view, state.touched!), state.touched));
    tApply += b - a;
    tDigest += performance.now() - b;
  }
  if (run === 0) continue; // warm-up
  apply.push((tApply * 1000) / DELTAS);
  digest.push((tDigest * 1000) / DELTAS);
}
const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
console.log(`a Say's delta on a view of ${PEOPLE + 2} entities, ${DELTAS} deltas x ${RUNS - 1} runs, medians: ViewState.delta ${med(apply).toFixed(1)} µs, digest ${med(digest).toFixed(1)} µs per delta`);
