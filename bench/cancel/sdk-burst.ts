/**
 * One agent process's cancel burst, alone: N SDK agents (adapters/client, over an in-process fake WebSocket, so no
 * server and no other process's frames) each act() streaming from the cancel bench's fake provider (its own process,
 * through adapters/llm/openai.ts); once every stream flows, every agent is handed its Cancelled frame and its Say
 * delta (the conversation world's 207-entity view), one agent per task (setImmediate: as a poll phase reads one
 * socket after another, microtasks between). Per round: from the first frame handed over to each agent's Cancelled
 * decoded (its `message` event) and to the provider seeing each stream closed; per agent (medians): the CPU of handing
 * it the Cancelled, then the delta, then the promise work before the next agent's turn; and the process CPU per agent
 * until everything settled.
 *
 *   node --import tsx bench/cancel/sdk-burst.ts [--agents 100] [--rounds 30] [--regenerate]
 *
 * `--regenerate`: act() regenerates (regenerateOnStale), and the Say deltas come as the server sends them, after the
 * Cancelled frames (it cancels at commit, before durability): all the Cancelled frames, then, once every generation
 * has ended, all the deltas, each of which lets its agent's regeneration (a new model request) start. Per round: from
 * the first delta handed over to the last one handled, and to every regeneration reading its first token.
 *
 * Not part of `npm run bench`: bench/cancel.ts measures the whole cancel path on loopback, where the server's
 * fan-out, the other processes and the machine's load add their own; this isolates the client's share of it.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent } from '../../adapters/client/index.js';
import type { WebSocketLike } from '../../adapters/client/socket.js';
import { openAIProvider } from '../../adapters/llm/openai.js';
import { isWorldlineError } from '../../server/errors.js';
import { PROTOCOL_VERSION, PathTable, WireSession, createMsgpackCodec, type JsonValue, type ServerMessage } from '../../server/protocol/index.js';
import { promptFor, stamp, type FromProvider, type ToProvider } from './ipc.js';

const { values } = parseArgs({ options: { agents: { type: 'string' }, rounds: { type: 'string' }, regenerate: { type: 'boolean' } } });
const REGENERATE = values.regenerate === true;
const N = Math.min(1000, Math.max(1, Number(values.agents ?? 100)));
const ROUNDS = Math.min(500, Math.max(1, Number(values.rounds ?? 30)));
const here = path.dirname(fileURLToPath(import.meta.url));
// As in the bench's workers: compiled code has no source-mapped stacks.
process.setSourceMapsEnabled(false);

const server = createMsgpackCodec(new PathTable());
const lines = (upTo: number): JsonValue[] => Array.from({ length: 12 }, (_, i) => ({ by: 'speaker', text: `line ${upTo - 11 + i}`, line: upTo - 10 + i }));
const entities: Record<string, JsonValue> = { room: { kind: 'room', topic: 'what to plant in the shared garden this spring', lines: lines(20), count: 21 } };
for (let i = 0; i < 205; i++) entities[`g${String(i).padStart(4, '0')}`] = { kind: 'person' };
entities['speaker'] = { kind: 'person', said: { text: 'line 20', line: 21 } };

/** The server side of one agent's connection, in process: answers hello and ping, records begin_generation. */
class FakeSocket implements WebSocketLike {
  static readonly all: FakeSocket[] = [];
  readyState = 0;
  readonly protocol: string;
  binaryType = 'blob';
  onopen: ((ev: never) => void) | null = null;
  onmessage: ((ev: never) => void) | null = null;
  onclose: ((ev: never) => void) | null = null;
  onerror: ((ev: never) => void) | null = null;
  readonly session = new WireSession();
  viewSeq = 1;
  lastGeneration = '';

  constructor(_url: string, protocols?: string | string[]) {
    this.protocol = [protocols ?? ''].flat()[0] ?? '';
    FakeSocket.all.push(this);
    setImmediate(() => {
      this.readyState = 1;
      (this.onopen as ((e: unknown) => void) | null)?.({});
    });
  }

  encode(m: ServerMessage): Uint8Array {
    return new Uint8Array(server.encodeServer(m, this.session) as Uint8Array);
  }

  /** Hands a frame over as `ws` does (a Buffer for nodebuffer, else an ArrayBuffer). */
  deliver(f: Uint8Array): void {
    const data = this.binaryType === 'nodebuffer' ? Buffer.from(f.buffer, f.byteOffset, f.byteLength) : f.buffer;
    (this.onmessage as ((e: unknown) => void) | null)?.({ data });
  }

  send(data: string | Uint8Array): void {
    const m = server.decodeClient(data);
    if (m.type === 'hello') {
      const welcome: ServerMessage = { type: 'welcome', session: 's', world: 'w', agent: m.agent_id, schema_version: PROTOCOL_VERSION, server_time: 0, view_seq: 1, snapshot: { view_seq: 1, view: { entities }, context_digest: '' } };
      setImmediate(() => this.deliver(this.encode(welcome)));
    } else if (m.type === 'begin_generation') this.lastGeneration = m.req_id;
    else if (m.type === 'ping') setImmediate(() => this.deliver(this.encode({ type: 'pong', client_time: m.client_time, server_time: Date.now(), sim_time: 0 })));
  }

  close(): void {
    this.readyState = 3;
  }
}

const provider = fork(path.join(here, 'provider.ts'), ['10'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const url = await new Promise<string>((resolve) => provider.on('message', (m: FromProvider) => m.type === 'listening' && resolve(m.url)));
const model = openAIProvider({ model: 'bench', baseURL: `${url}/v1`, apiKey: 'k' });
const agents: Agent[] = [];
for (let i = 0; i < N; i++) {
  const a = new Agent('ws://in-process', { token: 't', agentId: `g${String(i).padStart(4, '0')}`, WebSocket: FakeSocket, codec: 'msgpack', pingIntervalMs: 0, verifyDigests: true, reconnect: false });
  await a.ready();
  agents.push(a);
}

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const med = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const q = (xs: readonly number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

const perRound = { aP50: [] as number[], aMax: [] as number[], bP50: [] as number[], bMax: [] as number[], cpu: [] as number[], deltaWave: [] as number[], regenerated: [] as number[] };
const perAgent = { cancelled: [] as number[], delta: [] as number[], between: [] as number[] };
let seq = 21;
for (let r = -3; r < ROUNDS; r++) {
  const round = 1000 + r;
  const cancelledAt = new Array<number>(N).fill(NaN);
  let flowing = 0;
  let settled = 0;
  let allFlowing!: () => void;
  let allSettled!: () => void;
  const flowingP = new Promise<void>((resolve) => (allFlowing = resolve));
  const settledP = new Promise<void>((resolve) => (allSettled = resolve));
  const offs = agents.map((a, i) => a.on('message', (m) => {
    if (m.type === 'cancelled' && Number.isNaN(cancelledAt[i])) cancelledAt[i] = stamp();
  }));
  let ended = 0;
  let allEnded!: () => void;
  const endedP = new Promise<void>((resolve) => (allEnded = resolve));
  let regenerated = 0;
  let regeneratedAt = NaN;
  for (const a of agents) {
    let first = true;
    a.act(async ({ signal, attempt }) => {
      if (attempt > 1) {
        // The regeneration: a new model request, read until its first token.
        for await (const _token of model.stream({ messages: [{ role: 'user', content: promptFor(a.agentId, round + 100_000) }], signal })) break;
        if (++regenerated === N) regeneratedAt = performance.now();
        return null;
      }
      try {
        for await (const _token of model.stream({ messages: [{ role: 'user', content: promptFor(a.agentId, round) }], signal })) {
          if (first && ++flowing === N) allFlowing();
          first = false;
        }
      } finally {
        if (++ended === N) allEnded();
      }
      return null;
    }, { regenerateOnStale: REGENERATE, maxAttempts: 2, reqIdBase: `${a.agentId}-r${round}` }).then(
      (res) => (REGENERATE && res.attempts.length === 2 ? undefined : Promise.reject(new Error(`${a.agentId}: the generation was not cancelled`))),
      (err: unknown) => (!REGENERATE && isWorldlineError(err, 'GENERATION_CANCELLED') ? undefined : Promise.reject(err)),
    ).finally(() => {
      if (++settled === N) allSettled();
    });
  }
  await flowingP;
  await sleep(20);
  const closes = new Promise<number[]>((resolve) => {
    const on = (m: FromProvider): void => {
      if (m.type !== 'closes' || m.round !== round) return;
      provider.off('message', on);
      resolve(m.closes.map((c) => c.at));
    };
    provider.on('message', on);
  });
  provider.send({ type: 'closes', round, expect: N, timeoutMs: 10_000 } satisfies ToProvider);
  seq++;
  const frames = FakeSocket.all.map((s) => {
    const from = s.viewSeq++;
    return [
      s.encode({ type: 'cancelled', req_id: s.lastGeneration, reason: 'stale', stale_due_to: [{ view_seq: from + 1, global_seq: seq, kind: 'Say' }], server_time: Date.now() }),
      s.encode({ type: 'observation_delta', view_seq: from + 1, from_seq: from, context_digest: '', global_seq: seq, sim_time: seq, server_time: Date.now(), ops: [
        { op: 'replace', path: '/entities/room/lines', value: lines(seq) },
        { op: 'replace', path: '/entities/room/count', value: seq + 1 },
        { op: 'replace', path: '/entities/speaker/said', value: { text: `line ${seq}`, line: seq + 1 } },
      ] }),
    ] as const;
  });
  const marks = new Float64Array(3 * N + 1);
  const t0 = stamp();
  const c0 = cpu();
  let deltaWave = NaN;
  let wave0 = NaN;
  if (!REGENERATE) {
    FakeSocket.all.forEach((s, i) => setImmediate(() => {
      marks[3 * i] = performance.now();
      s.deliver(frames[i]![0]);
      marks[3 * i + 1] = performance.now();
      s.deliver(frames[i]![1]);
      marks[3 * i + 2] = performance.now();
      if (i === N - 1) setImmediate(() => (marks[3 * N] = performance.now()));
    }));
  } else {
    FakeSocket.all.forEach((s, i) => setImmediate(() => {
      marks[3 * i] = performance.now();
      s.deliver(frames[i]![0]);
      marks[3 * i + 1] = performance.now();
    }));
    await endedP;
    await sleep(5);
    wave0 = performance.now();
    FakeSocket.all.forEach((s, i) => setImmediate(() => {
      s.deliver(frames[i]![1]);
      if (i === N - 1) deltaWave = performance.now() - wave0;
    }));
  }
  await settledP;
  await Promise.all(agents.map((a) => a.settled()));
  const cpuPerAgent = ((cpu() - c0) * 1000) / N;
  const closedAt = await closes;
  for (const off of offs) off();
  if (r < 0) continue;
  const a = cancelledAt.map((x) => x - t0);
  const b = closedAt.map((x) => x - t0);
  perRound.aP50.push(med(a));
  perRound.aMax.push(Math.max(...a));
  perRound.bP50.push(med(b));
  perRound.bMax.push(q(b, 0.99));
  perRound.cpu.push(cpuPerAgent);
  if (REGENERATE) {
    perRound.deltaWave.push(deltaWave);
    perRound.regenerated.push(regeneratedAt - wave0);
    continue;
  }
  for (let i = 0; i < N; i++) {
    perAgent.cancelled.push(1000 * (marks[3 * i + 1]! - marks[3 * i]!));
    perAgent.delta.push(1000 * (marks[3 * i + 2]! - marks[3 * i + 1]!));
    perAgent.between.push(1000 * (marks[3 * i + 3]! - marks[3 * i + 2]!));
  }
}
const f = (x: number): string => x.toFixed(2);
if (REGENERATE) {
  console.log(`${N} agents regenerating, ${ROUNDS} rounds, medians over the rounds: the Say deltas, from the first handed over to the last handled ${f(med(perRound.deltaWave))} ms (max ${f(Math.max(...perRound.deltaWave))}); every regeneration at its first token ${f(med(perRound.regenerated))} ms; CPU per agent until settled ${med(perRound.cpu).toFixed(0)} µs`);
  provider.kill();
  process.exit(0);
}
console.log(`${N} agents, ${ROUNDS} rounds, medians over the rounds: Cancelled decoded, from the first frame handed over: p50 ${f(med(perRound.aP50))} ms, last ${f(med(perRound.aMax))} ms; stream closed at the provider: p50 ${f(med(perRound.bP50))} ms, p99 ${f(med(perRound.bMax))} ms; CPU per agent until settled ${med(perRound.cpu).toFixed(0)} µs`);
console.log(`per agent, medians: handing over its Cancelled ${med(perAgent.cancelled).toFixed(1)} µs (p90 ${q(perAgent.cancelled, 0.9).toFixed(1)}), its delta ${med(perAgent.delta).toFixed(1)} µs, promise work before the next agent ${med(perAgent.between).toFixed(1)} µs`);
provider.kill();
process.exit(0);
