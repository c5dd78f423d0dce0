/**
 * The arena-v1 load runner (../shared/workloads/arena-v1.md): starts the server as a child process (or targets
 * one by URL), forks worker processes that each drive a share of the clients, runs the warm-up and the measured
 * window, and turns what the workers and /proc report into one result.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arenaEntityId } from '../../server/worlds/arena.js';
import { Subprotocol } from '../../server/protocol/index.js';
import { tmpDir } from '../lib.js';
import type { FromWorker, ToWorker, WorkerConfig, WorkerResult } from './ipc.js';
import { cpuPercent, machineBusyPercent, mergeHistograms, parsePromHistogram, percentiles, promCounterDelta, promGauge, promMeanMs, promQuantile, promSumDeltaByLabel, type Percentiles } from './stats.js';
import { clockTicks, readCpu, readMachineCpu, readMem, scrapeMetrics, spawnServer, track, type ServerProcess } from './server-proc.js';

export interface ArenaOptions {
  readonly clients: number;
  /** Entities in the world (arena-v1: max(200, clients)). */
  readonly entities: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly codec: Subprotocol;
  /** Load-generator processes (default: 2, or 3 from 1,000 clients). */
  readonly workers?: number;
  readonly tickMs: number;
  readonly moveHz: number;
  readonly radius: number;
  readonly maxStep: number;
  readonly pingEveryMs: number;
  readonly sampleEveryMs: number;
  readonly cancelEveryMs: number;
  /** Target a running server: ws://127.0.0.1:PORT/v1/worlds/{w}/ws, with its HS256 secret file. */
  readonly url?: string;
  readonly tokenSecretFile?: string;
  readonly serverPid?: number;
  readonly tenant: string;
  /** Server world name (default: arena for 200 entities, arena-E otherwise; see docs/benchmarks.md). */
  readonly world?: string;
  readonly from: 'tsx' | 'dist';
  /** Log durability of a server the runner starts (arena-v1 runs use batch). */
  readonly durability?: 'batch' | 'none' | 'always';
  /** CPU-profile the load generators and a server the runner starts (node --cpu-prof) into this directory. */
  readonly cpuProfDir?: string;
  /**
   * Scheduling niceness of the load-generator processes (default 10). Clients belong on other machines; on one
   * shared box a generator woken by each frame the server sends would otherwise preempt the server mid-fan-out and
   * stretch every tick. 0 runs them at the server's priority.
   */
  readonly genNice?: number;
  /**
   * Each load-generator process puts all its clients on one WebSocket, a channel each (the SDK's Link), instead of a
   * socket each. Not arena-v1's client model (a client is a connection there, as for Colyseus): for what channels
   * save the server, never for the headline.
   */
  readonly channels?: boolean;
  readonly log?: (line: string) => void;
}

export const defaultArenaOptions: Omit<ArenaOptions, 'clients' | 'entities'> = {
  warmupMs: 5000, measureMs: 20_000, codec: Subprotocol.PROTO, tickMs: 50, moveHz: 10, radius: 150, maxStep: 2,
  pingEveryMs: 25, sampleEveryMs: 250, cancelEveryMs: 250, tenant: 'default', from: 'tsx',
};

export interface ArenaResult {
  readonly clients: number;
  readonly entities: number;
  readonly requestedEntities: number;
  /** True when the world had fewer entities than clients and clients shared agents (i mod E). */
  readonly sharedAgents: boolean;
  readonly world: string;
  readonly durability: string;
  readonly codec: string;
  readonly workers: number;
  /** Niceness the load generators ran at (see ArenaOptions.genNice). */
  readonly generatorNice: number;
  readonly warmupS: number;
  readonly measureS: number;
  readonly tickMs: number;
  /** Client receive time minus the tick's start on the server (ms). */
  readonly delivery: Percentiles;
  /** Median width (ms) of the pong bracket the tick start was taken from: the figures over-state by at most this. */
  readonly deliveryResolutionMs: number;
  readonly deliveryUnresolvedShare: number;
  /** Server side, from /metrics: quantum start to frame handed to uWS (ms). */
  readonly serverDelivery: { readonly p50: number; readonly p99: number };
  /** Mean and p99 (ms) of the server's quantum (synchronous commit work) and fan-out per tick, from /metrics. */
  readonly serverQuantum: { readonly meanMs: number; readonly p99Ms: number };
  readonly serverFanOut: { readonly meanMs: number; readonly p99Ms: number };
  /**
   * What can hold the server's deliveries back besides its tick's own work, over the measured window: the log's
   * fsyncs (deliveries wait for durability), garbage-collection pauses by kind (ms per second of wall time), and the
   * event loop's delay (p99 and max, from prom-client's monitor, reset at each scrape).
   */
  readonly serverStalls: {
    readonly fsync: { readonly meanMs: number; readonly p99Ms: number };
    readonly gcMsPerSec: Readonly<Record<string, number>>;
    readonly loopDelayP99Ms: number;
    readonly loopDelayMaxMs: number;
  };
  /** Timer ticks the server skipped in the measured window because it could not keep up. */
  readonly tickOverruns: number;
  readonly intentRtt: Percentiles;
  readonly cancelToHalt: Percentiles;
  /** Generations the world cancelled as stale before the client's cancel reached it (not in cancelToHalt). */
  readonly cancelStaleAtBegin: number;
  /** Pongs the tick clock was built from. */
  readonly pongs: number;
  readonly perClient: { readonly messagesPerSec: number; readonly bytesPerSec: number; readonly bytesPerTick: number; readonly intentsPerSec: number };
  readonly server: { readonly pid: number | null; readonly cpuPercent: number | null; readonly peakRssMB: number | null; readonly rssMB: number | null };
  readonly generators: ReadonlyArray<{ readonly index: number; readonly clients: number; readonly cpuPercent: number }>;
  /**
   * The share of all the machine's cores that was busy over the window (/proc/stat): server, generators and anything
   * else. Near 100 the processes were queuing for cores, and latency measures that contention as much as the server.
   */
  readonly machineBusyPercent: number | null;
  readonly correctness: { readonly samples: number; readonly correct: number; readonly share: number; readonly lagging: number; readonly failedFetch: number; readonly examples: readonly string[] };
  readonly errors: {
    readonly total: number;
    readonly connectFailed: number;
    readonly closes: number;
    readonly errorFrames: Readonly<Record<string, number>>;
    readonly viewErrors: Readonly<Record<string, number>>;
    readonly radiusViolations: number;
    readonly intentsRejected: number;
    readonly intentsUnanswered: number;
  };
  readonly snapshots: number;
  readonly intentResults: Readonly<Record<string, number>>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const addCounts = (rs: ReadonlyArray<Readonly<Record<string, number>>>): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
  return out;
};
const r1 = (x: number): number => Math.round(x * 10) / 10;

/** Which agent client i plays: entity i, or i mod E when the world has fewer entities than clients. */
export function agentFor(i: number, entities: number): string {
  return arenaEntityId(i % entities);
}

/** Spreads clients over loopback source addresses, 200 each, so a per-IP connection cap does not bind. */
export function localAddressFor(i: number): string {
  return `127.0.0.${1 + Math.floor(i / 200)}`;
}

/** Splits n clients into k contiguous shares that differ by at most one. */
export function shares(n: number, k: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = 0;
  for (let w = 0; w < k; w++) {
    const size = Math.floor(n / k) + (w < n % k ? 1 : 0);
    out.push([start, start + size]);
    start += size;
  }
  return out;
}

/** Runs arena-v1 once. Every child process is killed before this returns or throws. */
export async function runArena(o: ArenaOptions): Promise<ArenaResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  let server: ServerProcess | undefined;
  let url: string;
  let httpBase: string;
  let worldId: string;
  let secret: string;
  let pid: number | undefined = o.serverPid;
  let entities = o.entities;
  let world = o.world ?? (o.entities === 200 ? 'arena' : `arena-${o.entities}`);
  const dataDir = tmpDir('arena');
  const workers: ChildProcess[] = [];
  try {
    if (o.url) {
      if (!o.tokenSecretFile) throw new Error('--url needs --token-secret FILE (the server\'s HS256 secret, e.g. DATA/jwt-secret)');
      const u = new URL(o.url);
      if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) throw new Error(`only loopback targets: ${u.hostname}`);
      url = o.url;
      httpBase = `http://${u.host}`;
      worldId = decodeURIComponent(u.pathname.split('/')[3] ?? '');
      // The world measured is the one the URL names, whatever --world or --entities would have picked for a child server.
      world = worldId;
      secret = fs.readFileSync(o.tokenSecretFile, 'utf8').trim();
    } else {
      const env = {
        // arena-v1 at 2,000 clients sends 20,000 intents/s: above the default tenant quota, which is not under test.
        WORLDLINE_INTENTS_PER_SECOND_PER_TENANT: '1000000',
        WORLDLINE_CONNECTIONS_PER_IP: '100000',
        WORLDLINE_DURABILITY: o.durability ?? 'batch',
      };
      const spawnOpts = { dataDir, tickMs: o.tickMs, from: o.from, env, ...(o.cpuProfDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] } : {}) };
      try {
        server = await spawnServer({ ...spawnOpts, world });
      } catch (err) {
        if (world === 'arena' || o.world !== undefined) throw err;
        // The server has no arena-E world yet (see docs/benchmarks.md): fall back to the 200-entity arena with
        // clients sharing agents, and say so in the result.
        log(`  server has no world ${world} (${String((err as Error).message).split('\n').find((l) => l.includes('world')) ?? 'refused'}); using arena (200 entities), clients share agents`);
        world = 'arena';
        entities = 200;
        fs.rmSync(dataDir, { recursive: true, force: true });
        server = await spawnServer({ ...spawnOpts, world });
      }
      url = server.wsUrl;
      httpBase = server.httpBase;
      worldId = server.worldId;
      secret = server.secret;
      pid = server.pid;
    }

    const k = Math.max(1, Math.min(o.workers ?? (o.clients >= 1000 ? 3 : 2), o.clients));
    const parts = shares(o.clients, k);
    const ready: Array<Extract<FromWorker, { type: 'ready' }>> = [];
    const results: WorkerResult[] = [];
    const pongs: Array<Extract<FromWorker, { type: 'pongs' }>> = [];
    let fatal: string | undefined;
    const messageWaiters: Array<() => void> = [];
    const wake = (): void => {
      for (const w of messageWaiters.splice(0)) w();
    };
    for (let w = 0; w < k; w++) {
      const profArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
      const child = fork(path.join(here, 'worker.ts'), [], { execArgv: ['--import', 'tsx', ...profArgs], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      track(child);
      workers.push(child);
      child.on('message', (m: FromWorker) => {
        if (m.type === 'ready') ready.push(m);
        else if (m.type === 'result') results.push(m.result);
        else if (m.type === 'pongs') {
          pongs.push(m);
          if (pongs.length === k) {
            // One clock for all: the pinging worker's pongs resolve every worker's deliveries.
            const serverTimes = pongs.flatMap((p) => p.serverTimes);
            const simTimes = pongs.flatMap((p) => p.simTimes);
            for (const c of workers) c.send({ type: 'clock', serverTimes, simTimes } satisfies ToWorker);
          }
        }
        else fatal = `worker ${m.index}: ${m.message}`;
        wake();
      });
      child.on('exit', (code) => {
        if (code !== 0 && results.length < k) fatal ??= `worker ${w} exited with ${code}`;
        wake();
      });
      const [a, b] = parts[w]!;
      const clients = [];
      for (let i = a; i < b; i++) clients.push({ agent: agentFor(i, entities), localAddress: localAddressFor(i) });
      const cfg: WorkerConfig = {
        index: w, url, httpBase, worldId, tenant: o.tenant, codec: o.codec, clients, secret, radius: o.radius, moveHz: o.moveHz, maxStep: o.maxStep,
        clockPinger: w === 0, pingEveryMs: o.pingEveryMs, sampleEveryMs: o.sampleEveryMs * k, cancelEveryMs: w === 0 ? o.cancelEveryMs : 0, tickMs: o.tickMs,
        connectConcurrency: 50, connectTimeoutMs: 15_000, ...(o.channels ? { channels: true } : {}),
      };
      child.send({ type: 'start', cfg } satisfies ToWorker);
    }
    const until = async (cond: () => boolean, ms: number, what: string): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (fatal) throw new Error(fatal);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.min(left, 1000));
          messageWaiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    };
    const tConnect = Date.now();
    await until(() => ready.length === k, 30_000 + o.clients * 30, 'clients to connect');
    // Lowered only once connected: a saturated server would otherwise starve the connection phase at 2,000 clients.
    const nice = o.genNice ?? 10;
    if (nice !== 0) for (const c of workers) if (c.pid !== undefined) os.setPriority(c.pid, nice);
    const connectFailed = sum(ready.map((r) => r.failed));
    // Nothing to measure: say why and fail, rather than a table of NaN and an exit code of 0.
    if (connectFailed >= o.clients) throw new Error(`no client connected to ${url}: ${ready.find((r) => r.firstError)?.firstError ?? 'no error reported'}`);
    log(`  ${o.clients} clients connected in ${((Date.now() - tConnect) / 1000).toFixed(1)} s${connectFailed ? `, ${connectFailed} FAILED (${ready.find((r) => r.firstError)?.firstError ?? ''})` : ''}`);

    const t0 = Date.now() + 100;
    const warmupEnd = t0 + o.warmupMs;
    const measureEnd = warmupEnd + o.measureMs;
    const stopAt = measureEnd + Math.max(500, 5 * o.tickMs);
    for (const c of workers) c.send({ type: 'go', warmupEnd, measureEnd, stopAt } satisfies ToWorker);
    const sleepUntil = (t: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
    await sleepUntil(warmupEnd);
    const cpu0 = pid ? readCpu(pid) : undefined;
    const machine0 = readMachineCpu();
    const w0 = Date.now();
    const text0 = await scrapeMetrics(httpBase);
    const m0 = parsePromHistogram(text0, 'worldline_observation_delivery_seconds');
    await sleepUntil(measureEnd);
    const cpu1 = pid ? readCpu(pid) : undefined;
    const machine1 = readMachineCpu();
    const w1 = Date.now();
    const mem = pid ? readMem(pid) : { hwmKb: undefined, rssKb: undefined };
    const text1 = await scrapeMetrics(httpBase);
    const m1 = parsePromHistogram(text1, 'worldline_observation_delivery_seconds');
    const round3 = (v: number): number => Math.round(v * 1000) / 1000;
    const tickWork = (name: string): { meanMs: number; p99Ms: number } => ({ meanMs: round3(promMeanMs(text0, text1, name)), p99Ms: round3(promQuantile(parsePromHistogram(text0, name), parsePromHistogram(text1, name), 0.99)) });
    await until(() => results.length === k, stopAt - Date.now() + 20_000, 'worker results');
    for (const c of workers) c.send({ type: 'exit' } satisfies ToWorker);
    // A profiled worker writes its profile as it exits: let it, before anything kills it.
    if (o.cpuProfDir) await until(() => workers.every((c) => c.exitCode !== null || c.signalCode !== null), 20_000, 'workers writing their CPU profiles').catch(() => undefined);

    const secs = o.measureMs / 1000;
    const delivery = mergeHistograms(results.map((r) => r.delivery));
    const widths = mergeHistograms(results.map((r) => r.bracketWidth));
    const rtt = mergeHistograms(results.map((r) => r.rtt));
    const cancel = mergeHistograms(results.map((r) => r.cancel));
    const deliveries = sum(results.map((r) => r.deliveries));
    const unresolved = sum(results.map((r) => r.unresolved));
    const intentResults = addCounts(results.map((r) => r.intentResults));
    const errorFrames = addCounts(results.map((r) => r.errorFrames));
    const viewErrors = addCounts(results.map((r) => r.viewErrors));
    const radiusViolations = sum(results.map((r) => r.radiusViolations));
    const closes = sum(results.map((r) => r.closes));
    const intentsUnanswered = sum(results.map((r) => r.intentsUnanswered));
    const intentsRejected = intentResults['rejected'] ?? 0;
    const s = results.map((r) => r.samples);
    const correct = sum(s.map((x) => x.correct));
    const nSamples = correct + sum(s.map((x) => x.incorrect)) + sum(s.map((x) => x.lagging));
    const bytes = sum(results.map((r) => r.bytes));
    const result: ArenaResult = {
      clients: o.clients, entities, requestedEntities: o.entities, sharedAgents: entities < o.clients, world, durability: o.url ? 'unknown (--url)' : o.durability ?? 'batch', codec: o.codec, workers: k, generatorNice: o.genNice ?? 10,
      warmupS: o.warmupMs / 1000, measureS: secs, tickMs: o.tickMs,
      delivery: percentiles(delivery),
      deliveryResolutionMs: widths.totalCount ? widths.getValueAtPercentile(50) / 1000 : NaN,
      deliveryUnresolvedShare: deliveries ? Math.round((unresolved / deliveries) * 10_000) / 10_000 : 0,
      serverDelivery: { p50: promQuantile(m0, m1, 0.5), p99: promQuantile(m0, m1, 0.99) },
      // Where a tick's time goes on the server (its /metrics): the quantum's synchronous work, and the fan-out.
      serverQuantum: tickWork('worldline_quantum_seconds'),
      serverFanOut: tickWork('worldline_fanout_seconds'),
      serverStalls: {
        fsync: tickWork('worldline_log_fsync_seconds'),
        gcMsPerSec: Object.fromEntries(Object.entries(promSumDeltaByLabel(text0, text1, 'nodejs_gc_duration_seconds', 'kind')).map(([k, v]) => [k, Math.round((v * 1000 * 10) / ((w1 - w0) / 1000)) / 10])),
        loopDelayP99Ms: round3(promGauge(text1, 'nodejs_eventloop_lag_p99_seconds') * 1000),
        loopDelayMaxMs: round3(promGauge(text1, 'nodejs_eventloop_lag_max_seconds') * 1000),
      },
      tickOverruns: promCounterDelta(text0, text1, 'worldline_tick_overruns_total'),
      intentRtt: percentiles(rtt),
      cancelToHalt: percentiles(cancel),
      cancelStaleAtBegin: sum(results.map((r) => r.staleAtBegin)),
      pongs: results[0]?.pongs ?? 0,
      perClient: {
        messagesPerSec: r1(sum(results.map((r) => r.messages)) / o.clients / secs),
        bytesPerSec: Math.round(bytes / o.clients / secs),
        bytesPerTick: Math.round(bytes / o.clients / secs / (1000 / o.tickMs)),
        intentsPerSec: r1(sum(results.map((r) => r.intentsSent)) / o.clients / secs),
      },
      server: {
        pid: pid ?? null,
        cpuPercent: cpu0 && cpu1 ? cpuPercent(cpu0, cpu1, w1 - w0, clockTicks()) : null,
        peakRssMB: mem.hwmKb !== undefined ? Math.round(mem.hwmKb / 102.4) / 10 : null,
        rssMB: mem.rssKb !== undefined ? Math.round(mem.rssKb / 102.4) / 10 : null,
      },
      generators: results.map((r) => ({ index: r.index, clients: r.clients, cpuPercent: r.cpuPercent })).sort((a, b) => a.index - b.index),
      machineBusyPercent: machine0 && machine1 ? machineBusyPercent(machine0, machine1) : null,
      correctness: { samples: nSamples, correct, share: nSamples ? Math.round((correct / nSamples) * 10_000) / 10_000 : NaN, lagging: sum(s.map((x) => x.lagging)), failedFetch: sum(s.map((x) => x.failedFetch)), examples: s.flatMap((x) => x.examples).slice(0, 8) },
      errors: {
        total: connectFailed + closes + sum(Object.values(errorFrames)) + sum(Object.values(viewErrors)) + radiusViolations + intentsRejected + intentsUnanswered,
        connectFailed, closes, errorFrames, viewErrors, radiusViolations, intentsRejected, intentsUnanswered,
      },
      snapshots: sum(results.map((r) => r.snapshots)),
      intentResults,
    };
    delivery.destroy();
    widths.destroy();
    rtt.destroy();
    cancel.destroy();
    return result;
  } finally {
    for (const c of workers) if (c.exitCode === null) c.kill('SIGKILL');
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Share of all cores busy at which a run's latency is said to measure contention for cores. */
export const SATURATED_MACHINE_PERCENT = 90;

/** A warning line when the machine's cores were nearly all busy over the window (undefined otherwise). */
export function saturationNote(r: Pick<ArenaResult, 'machineBusyPercent'>): string | undefined {
  const m = r.machineBusyPercent;
  if (m === null || !(m >= SATURATED_MACHINE_PERCENT)) return undefined;
  return `  machine ${m}% busy over the window (all cores): server and load generators were queuing for cores, so latency here measures that contention as much as the server`;
}

/** One line per run for the console. */
export function summaryRow(r: ArenaResult): Record<string, string | number> {
  return {
    clients: r.clients,
    entities: r.entities + (r.sharedAgents ? '*' : ''),
    'p50 ms': r.delivery.p50,
    'p90 ms': r.delivery.p90,
    'p99 ms': r.delivery.p99,
    'max ms': r.delivery.max,
    'srv p99 ms': r.serverDelivery.p99,
    'quantum ms': r.serverQuantum.meanMs,
    'fan-out ms': r.serverFanOut.meanMs,
    'fsync p99 ms': r.serverStalls.fsync.p99Ms,
    'gc ms/s': r1(sum(Object.values(r.serverStalls.gcMsPerSec))),
    'loop max ms': r.serverStalls.loopDelayMaxMs,
    skipped: r.tickOverruns,
    'rtt p99 ms': r.intentRtt.p99,
    'msg/s/cl': r.perClient.messagesPerSec,
    'B/s/cl': r.perClient.bytesPerSec,
    'B/tick/cl': r.perClient.bytesPerTick,
    'srv CPU %': r.server.cpuPercent ?? 'n/a',
    'RSS MB': r.server.peakRssMB ?? 'n/a',
    'gen CPU %': r.generators.map((g) => g.cpuPercent).join('/'),
    'machine %': r.machineBusyPercent ?? 'n/a',
    correct: `${r.correctness.correct}/${r.correctness.samples}`,
    errors: r.errors.total,
  };
}
