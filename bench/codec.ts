/**
 * Codec benchmark: bytes per arena-like observation delta in each codec, encode and decode rates, and the cost of
 * encode-once assembly for 1,000 agents against encoding each agent's delta on its own.
 * `npm run bench -- codec` (once registered in bench/run.ts) or `node --import tsx bench/codec.ts [--smoke]`.
 *
 * The arena-like delta is what one arena-v1 client receives per tick: about 70 visible entities, each moving, so
 * 140 numeric replaces (`/entities/<id>/x` and `/y`), in a world of 1,000 entities (path ids need two bytes, as
 * they do at 1,000 clients). Positions are measured in four forms, because the compact op stream writes each number
 * in its smallest exact form and the bytes depend on what the world stores: integers, two-decimal values, float32
 * values (what Colyseus's float32 schema type sends), and arbitrary doubles (a random walk in full precision).
 * Colyseus's figure on arena-v1 at 1,000 clients is about 930 bytes per client per tick; the goal is 1.25 times that.
 */
import seedrandom from 'seedrandom';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import fs from 'node:fs';
import { Subprotocol, WireSession, createWorldCodecs, type EncodedFragment, type ServerMessage, type WireCodec, type WireOp } from '../server/protocol/index.js';
import { WORLDLINE_PROTO } from '../server/protocol/proto-schema.gen.js';
import { median, table, writeResult, type BenchOptions } from './lib.js';

const COLYSEUS_BYTES_PER_TICK = 930;
const GOAL_BYTES = Math.round(COLYSEUS_BYTES_PER_TICK * 1.25);
const WORLD_ENTITIES = 1000;
const VISIBLE = 70;
const DIGEST = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** A seeded generator so every run measures the same numbers. */
function rng(seed: number): () => number {
  return seedrandom.alea(String(seed));
}

const FORMS = {
  integer: (x: number) => Math.round(x),
  'two decimals': (x: number) => Math.round(x * 100) / 100,
  float32: (x: number) => Math.fround(x),
  double: (x: number) => x,
} as const;
type Form = keyof typeof FORMS;

/** One tick's change per entity: x and y replaces, in the given number form. */
function entityOps(rand: () => number, form: Form): WireOp[][] {
  const f = FORMS[form];
  return Array.from({ length: WORLD_ENTITIES }, (_, i) => [
    { op: 'replace', path: `/entities/e${i}/x`, value: f(rand() * 1000) },
    { op: 'replace', path: `/entities/e${i}/y`, value: f(rand() * 1000) },
  ]);
}

/** Interns the world's paths in a shuffled order, as entities entering views over time would. */
function warmPaths(codec: WireCodec, rand: () => number): void {
  const ids = Array.from({ length: WORLD_ENTITIES }, (_, i) => i).sort(() => rand() - 0.5);
  for (const i of ids) codec.encodeFragment([{ op: 'replace', path: `/entities/e${i}/x`, value: 0 }, { op: 'replace', path: `/entities/e${i}/y`, value: 0 }]);
}

/** Each agent sees VISIBLE entities: a run of neighbours around its own, as a distance policy gives. */
const visibleTo = (agent: number): number[] => Array.from({ length: VISIBLE }, (_, k) => (agent + k) % WORLD_ENTITIES);

const frameBytes = (f: string | Uint8Array): number => (typeof f === 'string' ? Buffer.byteLength(f) : f.length);
const header = (tick: number) => ({ view_seq: 50_000 + tick, from_seq: 49_999 + tick, context_digest: DIGEST, global_seq: 1_200_000 + tick * 200, sim_time: 6_000 + tick, server_time: 1_795_240_000_000 + tick * 50 });

interface BytesRow {
  codec: string;
  form: Form;
  bytes: number;
  firstFrameBytes: number;
  bytesPerOp: number;
  vsColyseus: number;
}

function measureBytes(): BytesRow[] {
  const rows: BytesRow[] = [];
  for (const form of Object.keys(FORMS) as Form[]) {
    for (const codec of Object.values(createWorldCodecs())) {
      const rand = rng(42);
      if (codec.binary) warmPaths(codec, rand);
      const session = new WireSession();
      const ticks = [entityOps(rand, form), entityOps(rand, form)];
      const frames = ticks.map((ops, t) => codec.assembleDelta(session, header(t), visibleTo(0).map((e) => codec.encodeFragment(ops[e]!))));
      const steady = frameBytes(frames[1]!);
      rows.push({ codec: codec.subprotocol, form, bytes: steady, firstFrameBytes: frameBytes(frames[0]!), bytesPerOp: steady / (VISIBLE * 2), vsColyseus: steady / COLYSEUS_BYTES_PER_TICK });
    }
  }
  return rows;
}

/** Median ops per second of fn over several timed rounds of n calls. */
function rate(n: number, rounds: number, fn: () => void): number {
  for (let i = 0; i < Math.min(n, 200); i++) fn();
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) fn();
    rates.push(n / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

interface RateRow {
  codec: string;
  message: string;
  encodePerSec: number;
  decodePerSec: number;
  bytes: number;
}

function measureRates(smoke: boolean): RateRow[] {
  const n = smoke ? 300 : 3000;
  const rounds = smoke ? 3 : 5;
  const rows: RateRow[] = [];
  for (const codec of Object.values(createWorldCodecs())) {
    const rand = rng(7);
    if (codec.binary) warmPaths(codec, rand);
    const ops = entityOps(rand, 'double');
    const delta: ServerMessage = { type: 'observation_delta', ...header(1), ops: visibleTo(0).flatMap((e) => ops[e]!) };
    const server = new WireSession();
    const client = new WireSession();
    const first = codec.encodeServer(delta, server);
    codec.decodeServer(first, client);
    const steady = codec.encodeServer(delta, server);
    rows.push({
      codec: codec.subprotocol,
      message: 'ObservationDelta (140 ops)',
      encodePerSec: rate(Math.ceil(n / 10), rounds, () => codec.encodeServer(delta, server)),
      decodePerSec: rate(Math.ceil(n / 10), rounds, () => codec.decodeServer(steady, client)),
      bytes: frameBytes(steady),
    });
    const intent = { type: 'submit_intent', intent: { req_id: 'r-123456', kind: 'Move', payload: { dx: 1.25, dy: -0.5 }, context_seq: 50_000, priority: 0 } } as const;
    const intentFrame = codec.encodeClient(intent);
    const result: ServerMessage = { type: 'intent_result', req_id: 'r-123456', status: 'accepted', global_seq: 1_234_567 };
    rows.push({
      codec: codec.subprotocol,
      message: 'SubmitIntent in / IntentResult out',
      encodePerSec: rate(n, rounds, () => codec.encodeServer(result)),
      decodePerSec: rate(n, rounds, () => codec.decodeClient(intentFrame)),
      bytes: frameBytes(intentFrame),
    });
  }
  return rows;
}

interface AssemblyRow {
  codec: string;
  agents: number;
  encodeOnceMs: number;
  perAgentMs: number;
  speedup: number;
  bytesPerAgent: number;
}

/** One tick for `agents` agents that each see VISIBLE of the world's entities: encode once vs per agent. */
function measureAssembly(agents: number, rounds: number): AssemblyRow[] {
  const rows: AssemblyRow[] = [];
  for (const sub of [Subprotocol.PROTO, Subprotocol.MSGPACK, Subprotocol.JSON]) {
    const codec = createWorldCodecs()[sub];
    const rand = rng(11);
    if (codec.binary) warmPaths(codec, rand);
    const sessions = Array.from({ length: agents }, () => new WireSession());
    const views = Array.from({ length: agents }, (_, a) => visibleTo(a));
    // Both paths start from sessions that already hold every path definition, as in steady state.
    const warm = entityOps(rand, 'double');
    views.forEach((v, a) => codec.encodeServer({ type: 'observation_delta', ...header(0), ops: v.flatMap((e) => warm[e]!) }, sessions[a]));
    const once: number[] = [];
    const each: number[] = [];
    let bytes = 0;
    for (let r = 0; r < rounds; r++) {
      const ops = entityOps(rand, 'double');
      let t = performance.now();
      const fragments: EncodedFragment[] = ops.map((o) => codec.encodeFragment(o));
      bytes = 0;
      for (let a = 0; a < agents; a++) bytes += frameBytes(codec.assembleDelta(sessions[a]!, header(r + 1), views[a]!.map((e) => fragments[e]!)));
      once.push(performance.now() - t);
      t = performance.now();
      for (let a = 0; a < agents; a++) codec.encodeServer({ type: 'observation_delta', ...header(r + 1), ops: views[a]!.flatMap((e) => ops[e]!) }, sessions[a]);
      each.push(performance.now() - t);
    }
    const o = median(once);
    const e = median(each);
    rows.push({ codec: sub, agents, encodeOnceMs: o, perAgentMs: e, speedup: e / o, bytesPerAgent: Math.round(bytes / agents) });
  }
  return rows;
}

/** Startup cost of the proto types: from the generated descriptor (what the codec does) vs parsing the .proto. */
function measureProtoStartup(): { fromDescriptorMs: number; parseProtoMs: number } {
  const text = fs.readFileSync(new URL('../proto/worldline.proto', import.meta.url), 'utf8');
  const time = (fn: () => void): number => median(Array.from({ length: 9 }, () => { const t = performance.now(); fn(); return performance.now() - t; }));
  return {
    fromDescriptorMs: time(() => protobuf.Root.fromJSON(WORLDLINE_PROTO).lookupType('worldline.v1.ServerFrame').encode({ pong: { sim_time: 1 } }).finish()),
    parseProtoMs: time(() => protobuf.parse(text, { keepCase: true }).root.lookupType('worldline.v1.ServerFrame').encode({ pong: { sim_time: 1 } }).finish()),
  };
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const bytes = measureBytes();
  console.log(`Bytes per arena-like delta (${VISIBLE} entities x {x, y} replaces, ${WORLD_ENTITIES}-entity world; steady state, path definitions already sent). Colyseus: ${COLYSEUS_BYTES_PER_TICK} B, goal <= ${GOAL_BYTES} B.`);
  console.log(table(bytes.map((r) => ({ ...r }))));
  const rates = measureRates(opts.smoke);
  console.log('\nEncode and decode rates (median of rounds, messages per second):');
  console.log(table(rates.map((r) => ({ ...r, encodePerSec: Math.round(r.encodePerSec), decodePerSec: Math.round(r.decodePerSec) }))));
  const agents = opts.smoke ? 400 : 1000;
  const assembly = measureAssembly(agents, opts.smoke ? 5 : 7);
  console.log(`\nOne tick for ${agents} agents, each seeing ${VISIBLE} of ${WORLD_ENTITIES} moving entities (double positions): encode once and assemble vs encode per agent.`);
  console.log(table(assembly.map((r) => ({ ...r }))));
  const startup = measureProtoStartup();
  console.log(`\nProto types at startup: from the generated descriptor ${startup.fromDescriptorMs.toFixed(2)} ms, parsing the .proto ${startup.parseProtoMs.toFixed(2)} ms.`);
  const result = { smoke: opts.smoke, colyseusBytesPerTick: COLYSEUS_BYTES_PER_TICK, goalBytesPerTick: GOAL_BYTES, bytes, rates, assembly, protoStartup: startup };
  const file = writeResult(opts.smoke ? 'codec-smoke' : 'codec', result);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  return result;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ smoke: process.argv.includes('--smoke') });
}
