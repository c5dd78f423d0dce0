/**
 * Cancellation latency: N agents generate at once (each streaming from a fake OpenAI-compatible server over real
 * HTTP through the `openai` package), another agent speaks, and we time from the commit of that stale-making event
 * to (a) each agent's Cancelled frame arriving at its client and (b) the fake provider seeing each HTTP stream
 * closed. Server, clients and fake provider run in this one process over loopback, so one clock (performance.now)
 * serves all timestamps; on a 2-core machine they also share the CPU, which the figures include.
 *
 * Commit time is taken two ways: (a) and (b) from the server's runtime.onDelivery (the quantum is durable and its
 * deltas just went out: the instant the server decides the cancels), and (a') from the effect's own wall_time (when
 * the quantum committed it, before durability and fan-out; whole milliseconds, so ±1 ms).
 *
 * `npm run bench -- cancel` (once registered in bench/run.ts) or `node --import tsx bench/cancel.ts [--smoke]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { connect, type Agent } from '../adapters/client/index.js';
import { openAIProvider } from '../adapters/llm/openai.js';
import { loadConfig } from '../server/config.js';
import { isWorldlineError } from '../server/errors.js';
import { createLogger } from '../server/obs/logger.js';
import { startServer } from '../server/transport/server.js';
import { startFakeLlmServer } from '../test/adapters/fake-llm-server.js';
import { TestClient, startTestServer, token as mintToken } from '../test/e2e/harness.js';
import { latencyHistogram, table, tmpDir, writeResult, type BenchOptions } from './lib.js';

const GOAL_CANCELLED_P99_MS = 5;
const GOAL_HTTP_CLOSED_P99_MS = 10;

interface Scenario {
  readonly agents: number;
  readonly rounds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline) return false;
    await sleep(1);
  }
  return true;
}

const pct = (h: ReturnType<typeof latencyHistogram>, p: number): number => h.getValueAtPercentile(p) / 1000;

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const scenarios: Scenario[] = opts.smoke ? [{ agents: 10, rounds: 5 }, { agents: 200, rounds: 2 }] : [{ agents: 10, rounds: 60 }, { agents: 200, rounds: 12 }];
  const results: Array<Record<string, unknown>> = [];
  for (const sc of scenarios) results.push(await measure(sc));
  const rows = results.map((r) => ({
    agents: r['agents'] as number,
    samples: r['samples'] as number,
    'cancelled p50 ms': r['cancelledP50Ms'] as number,
    'cancelled p99 ms': r['cancelledP99Ms'] as number,
    'cancelled max ms': r['cancelledMaxMs'] as number,
    'from wall_time p99 ms': r['fromCommitWallTimeP99Ms'] as number,
    'http closed p50 ms': r['httpClosedP50Ms'] as number,
    'http closed p99 ms': r['httpClosedP99Ms'] as number,
    'http closed max ms': r['httpClosedMaxMs'] as number,
    'delta arrival p50 ms': r['deltaArrivalP50Ms'] as number,
  }));
  console.log(`\nCommit of a stale-making event to (a) Cancelled at the client and (b) the provider's HTTP stream closed; goals p99 ≤ ${GOAL_CANCELLED_P99_MS} ms and ≤ ${GOAL_HTTP_CLOSED_P99_MS} ms.`);
  console.log(table(rows));
  // The same (a) with bare protocol clients (no SDK, no model streams): the server's own cancel path.
  const raw: Array<Record<string, unknown>> = [];
  for (const n of [10, 200]) raw.push(await measureRaw(n, opts.smoke ? 5 : 30));
  console.log('\nCommit to Cancelled with bare protocol clients (no SDK or model streams in the process):');
  console.log(table(raw.map((r) => ({ clients: r['clients'] as number, samples: r['samples'] as number, 'cancelled p50 ms': r['cancelledP50Ms'] as number, 'cancelled p99 ms': r['cancelledP99Ms'] as number, 'cancelled max ms': r['cancelledMaxMs'] as number }))));
  const result = { smoke: opts.smoke, layout: 'server, SDK clients and fake provider in one process over loopback', goals: { cancelledP99Ms: GOAL_CANCELLED_P99_MS, httpClosedP99Ms: GOAL_HTTP_CLOSED_P99_MS }, scenarios: results, raw };
  const file = writeResult(opts.smoke ? 'cancel-smoke' : 'cancel', result);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  return result;
}

async function measure(sc: Scenario): Promise<Record<string, unknown>> {
  const dataDir = tmpDir('cancel');
  const cfg = loadConfig({ env: {}, overrides: { port: 0, dataDir, world: 'conversation', tickMs: 5, logLevel: 'silent', messagesPerSecond: 100_000, connectionsPerIp: 4096, quarantineAfter: 0 } });
  const srv = await startServer(cfg, { logger: createLogger({ level: 'silent' }) });
  // Long answers, slowly: every stream is still open when the cancel comes, and only the client's abort ends it.
  const fake = await startFakeLlmServer('openai', () => ({ tokens: Array.from({ length: 3000 }, (_, i) => ` w${i}`), delayMs: 10 }));
  const provider = openAIProvider({ model: 'bench', baseURL: `${fake.url}/v1`, apiKey: 'k' });
  const cancelled = latencyHistogram();
  const fromWallTime = latencyHistogram();
  const closed = latencyHistogram();
  const agents: Agent[] = [];
  let speaker: Agent | undefined;
  let commitAt = 0;
  let commitWallTime = 0;
  let watchReq = '';
  let cancelsThisRound = 0;
  let closesThisRound = 0;
  let lostRounds = 0;
  const deltaArrival = latencyHistogram();
  const offDelivery = srv.host.runtime.onDelivery((d) => {
    for (const e of d.effects) {
      if (e.req_id === watchReq && watchReq !== '') {
        commitAt = performance.now();
        commitWallTime = e.wall_time;
      }
    }
  });
  fake.onClientAbort = () => {
    if (commitAt === 0) return;
    closed.recordValue(Math.max(1, Math.round((performance.now() - commitAt) * 1000)));
    closesThisRound++;
  };
  try {
    const join = async (id: string): Promise<Agent> => {
      const token = await srv.auth.issue({ tenant: 'default', world: 'conversation', agent: id, role: 'agent' }, 3600);
      const a = await connect(srv.wsUrl, { token, agentId: id, WebSocket, codec: 'msgpack', pingIntervalMs: 0, verifyDigests: true });
      const r = await a.submit({ req_id: `spawn-${id}`, kind: 'Spawn', payload: { entity_id: id, fields: { kind: 'person' } } });
      if (r.status !== 'accepted' && r.status !== 'duplicate') throw new Error(`spawn ${id}: ${r.status} ${r.error?.message ?? ''}`);
      return a;
    };
    speaker = await join('speaker');
    for (let i = 0; i < sc.agents; i++) agents.push(await join(`g${String(i).padStart(4, '0')}`));
    for (const a of agents) {
      a.on('message', (m) => {
        // The delta that carries the same event left the server just before the Cancelled: its arrival time
        // separates transport and client event-loop delay from the cancellation path itself.
        if (commitAt !== 0 && m.type === 'observation_delta') deltaArrival.recordValue(Math.max(1, Math.round((performance.now() - commitAt) * 1000)));
      });
      a.on('cancelled', () => {
        if (commitAt === 0) return;
        const now = performance.now();
        cancelled.recordValue(Math.max(1, Math.round((now - commitAt) * 1000)));
        fromWallTime.recordValue(Math.max(1, Math.round((performance.timeOrigin + now - commitWallTime) * 1000)));
        cancelsThisRound++;
      });
    }
    for (let round = 0; round < sc.rounds; round++) {
      // Let every agent see the previous round's line, so generations start from the current view.
      await waitFor(() => agents.every((a) => a.viewSeq === srv.host.runtime.viewSeq(a.agentId)), 5000);
      commitAt = 0;
      cancelsThisRound = 0;
      closesThisRound = 0;
      const requestsBefore = fake.requests.length;
      const acts = agents.map((a) =>
        a.act(async ({ signal }) => {
          for await (const _t of provider.stream({ messages: [{ role: 'user', content: `round ${round}` }], signal })) {
            // The tokens are not used: this generation only ends by being cancelled.
          }
          return null;
        }, { regenerateOnStale: false, reqIdBase: `${a.agentId}-r${round}` }).then(
          () => 'finished',
          (err: unknown) => (isWorldlineError(err, 'GENERATION_CANCELLED') ? 'cancelled' : `error: ${String(err)}`),
        ),
      );
      // Every agent's stream is open (and its BeginGeneration, sent before the request, was handled first).
      await waitFor(() => fake.requests.length - requestsBefore >= sc.agents && fake.requests.slice(requestsBefore).every((r) => r.chunksWritten > 0), 10_000);
      await sleep(20);
      watchReq = `say-${round}`;
      await speaker.submit({ req_id: watchReq, kind: 'Say', payload: { text: `line ${round}` } });
      const ok = await waitFor(() => cancelsThisRound >= sc.agents && closesThisRound >= sc.agents, 10_000);
      if (!ok) lostRounds++;
      const outcomes = await Promise.all(acts);
      const bad = outcomes.filter((o) => o !== 'cancelled');
      if (bad.length) throw new Error(`round ${round}: ${bad.length} generations were not cancelled (${bad[0]})`);
      watchReq = '';
    }
  } finally {
    offDelivery();
    for (const a of agents) a.close();
    speaker?.close();
    await fake.close();
    await srv.shutdown();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const r = {
    agents: sc.agents,
    rounds: sc.rounds,
    samples: cancelled.totalCount,
    lostRounds,
    cancelledP50Ms: pct(cancelled, 50),
    cancelledP99Ms: pct(cancelled, 99),
    cancelledMaxMs: cancelled.maxValue / 1000,
    fromCommitWallTimeP50Ms: pct(fromWallTime, 50),
    fromCommitWallTimeP99Ms: pct(fromWallTime, 99),
    httpClosedP50Ms: pct(closed, 50),
    httpClosedP99Ms: pct(closed, 99),
    httpClosedMaxMs: closed.maxValue / 1000,
    httpClosedSamples: closed.totalCount,
    deltaArrivalP50Ms: pct(deltaArrival, 50),
    deltaArrivalP99Ms: pct(deltaArrival, 99),
  };
  return r;
}

/** Bare protocol clients (test/e2e harness) each begin a generation; a speaker moves; time commit → Cancelled. */
async function measureRaw(clients: number, rounds: number): Promise<Record<string, unknown>> {
  const srv = await startTestServer({ tickMs: 20, messagesPerSecond: 100_000, connectionsPerIp: 4096, quarantineAfter: 0, logLevel: 'silent' });
  const hist = latencyHistogram();
  let want = '';
  let commitWall = 0;
  // Commit time is the quantum's wall_time: the core may cancel as it applies the event, before the quantum is
  // durable and delivered, so onDelivery can come after the Cancelled frames.
  const off = srv.host.runtime.onDelivery((d) => {
    for (const e of d.effects) if (want !== '' && e.req_id === want) commitWall = e.wall_time;
  });
  const join = async (id: string, x: number): Promise<TestClient> => {
    const c = await TestClient.connect(srv.wsUrl, 'worldline.v1.msgpack', await mintToken(srv, id));
    c.hello(id);
    await c.waitFor((m) => m.type === 'welcome');
    c.send({ type: 'submit_intent', intent: { req_id: 'spawn', kind: 'Spawn', payload: { entity_id: id, fields: { x, y: 100 } }, context_seq: 0, priority: 0 } });
    await c.waitFor((m) => m.type === 'intent_result');
    return c;
  };
  try {
    const gens: TestClient[] = [];
    for (let i = 0; i < clients; i++) gens.push(await join(`raw${i}`, 100 + (i % 100)));
    const speaker = await join('raw-speaker', 150);
    for (let round = 0; round < rounds; round++) {
      await sleep(60);
      const marks = gens.map((g) => g.received.length);
      gens.forEach((g, i) => g.send({ type: 'begin_generation', req_id: `g${round}`, context_seq: srv.host.runtime.observe(`raw${i}`).view_seq }));
      await sleep(30 + clients / 5);
      commitWall = 0;
      want = `m${round}`;
      speaker.send({ type: 'submit_intent', intent: { req_id: want, kind: 'Move', payload: { dx: round % 2 ? 1 : -1, dy: 0 }, context_seq: srv.host.runtime.observe('raw-speaker').view_seq, priority: 0 } });
      const received = await Promise.all(gens.map(async (g, i) => {
        await g.waitFor((m) => m.type === 'cancelled' && m.req_id === `g${round}`, 5000, marks[i]);
        return performance.timeOrigin + performance.now();
      }));
      await waitFor(() => commitWall !== 0, 5000);
      // wall_time is whole milliseconds: latencies carry up to 1 ms of rounding.
      for (const t of received) hist.recordValue(Math.max(1, Math.round((t - commitWall) * 1000)));
      want = '';
    }
    for (const g of gens) g.close();
    speaker.close();
  } finally {
    off();
    await srv.shutdown();
    fs.rmSync(srv.dataDir, { recursive: true, force: true });
  }
  return { clients, rounds, commitClock: 'effect wall_time (whole ms)', samples: hist.totalCount, cancelledP50Ms: pct(hist, 50), cancelledP99Ms: pct(hist, 99), cancelledMaxMs: hist.maxValue / 1000 };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ smoke: process.argv.includes('--smoke') });
}
