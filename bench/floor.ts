/**
 * `npm run bench -- floor`: the transport floor. What a Node + uWebSockets.js server pays on this machine to carry
 * arena-v1's traffic and nothing else: one binary frame per client per tick (20 Hz) and a small message from each
 * client at 10 Hz, over real loopback sockets, with the clients in worker processes as the load runner has them.
 * The server (bench/floor/server.ts) has Worldline's socket options, no world, codec or log.
 *
 * It bounds what any server in this stack can reach here: issue 4's goal is at most 20% of a core at 1,000 clients,
 * and the floor's CPU is spent before any world work. `--compare` runs Worldline's arena-v1 (bench/arena/runner.ts,
 * log on) at each count first and then the floor with the frame size Worldline sent, so the ratio comes from one run.
 *
 * Options: --clients 100,500,1000  --bytes N (frame size, default 700; with --compare, Worldline's bytes per client per tick)
 * --msg-bytes N (default 56, about arena-v1's proto SubmitIntent of 53 B)  --workers K  --warmup S (default 3)  --seconds S (default 15)  --compare.
 * `--smoke`: 50 clients, 1 s + 3 s. Writes bench/results/floor.json (floor-smoke.json).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { table, writeResult, type BenchOptions } from './lib.js';
import { cpuPercent, machineBusyPercent, mergeHistograms, percentiles, type Percentiles } from './arena/stats.js';
import { clockTicks, readCpu, readMachineCpu, readMem, track } from './arena/server-proc.js';
import { defaultArenaOptions, localAddressFor, runArena, shares, type ArenaResult } from './arena/runner.js';
import type { FloorClientConfig, FloorClientResult, FromFloorClient, ToFloorClient } from './floor/client.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const TICK_MS = 50;
const SEND_HZ = 10;

interface FloorOptions {
  readonly clients: number;
  readonly bytes: number;
  readonly msgBytes: number;
  readonly workers?: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface FloorResult {
  readonly clients: number;
  readonly connected: number;
  readonly frameBytes: number;
  readonly msgBytes: number;
  readonly workers: number;
  readonly measureS: number;
  readonly delivery: Percentiles;
  readonly server: { readonly cpuPercent: number | null; readonly peakRssMB: number | null; readonly fanOutMeanMs: number; readonly usPerSend: number; readonly dropped: number; readonly receivedPerSec: number };
  readonly perClient: { readonly messagesPerSec: number; readonly bytesPerSec: number };
  readonly generators: ReadonlyArray<{ readonly index: number; readonly cpuPercent: number }>;
  readonly machineBusyPercent: number | null;
  readonly closes: number;
}

interface ServerStats {
  readonly sockets: number;
  readonly ticks: number;
  readonly sends: number;
  readonly dropped: number;
  readonly fanOutMs: number;
  readonly received: number;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r2 = (x: number): number => Math.round(x * 100) / 100;

async function startServer(bytes: number): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'floor', 'server.ts'), '--bytes', String(bytes), '--tick-ms', String(TICK_MS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-10_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-10_000)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = /\{"port":(\d+)\}/.exec(out);
    if (m) return { child, port: Number(m[1]), output: () => out };
    if (child.exitCode !== null) throw new Error(`floor server exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`floor server did not listen within 20 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function serverStats(port: number): Promise<ServerStats> {
  const r = await fetch(`http://127.0.0.1:${port}/stats`, { signal: AbortSignal.timeout(5000) });
  return (await r.json()) as ServerStats;
}

/** One floor run at one client count, with a fresh server. */
export async function runFloor(o: FloorOptions): Promise<FloorResult> {
  const server = await startServer(o.bytes);
  const workers: ChildProcess[] = [];
  try {
    const pid = server.child.pid as number;
    const k = Math.max(1, Math.min(o.workers ?? (o.clients >= 1000 ? 3 : 2), o.clients));
    const ready: Array<Extract<FromFloorClient, { type: 'ready' }>> = [];
    const results: FloorClientResult[] = [];
    let fatal: string | undefined;
    const parts = shares(o.clients, k);
    for (let w = 0; w < k; w++) {
      const child = fork(path.join(here, 'floor', 'client.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      track(child);
      workers.push(child);
      child.on('message', (m: FromFloorClient) => {
        if (m.type === 'ready') ready.push(m);
        else if (m.type === 'result') results.push(m.result);
        else fatal = `floor client ${w}: ${m.message}`;
      });
      child.on('exit', (code) => {
        if (code !== 0 && results.length < k) fatal ??= `floor client ${w} exited with ${code}`;
      });
      const [a, b] = parts[w] as [number, number];
      const localAddresses: string[] = [];
      for (let i = a; i < b; i++) localAddresses.push(localAddressFor(i));
      const cfg: FloorClientConfig = { index: w, url: `ws://127.0.0.1:${server.port}/floor`, localAddresses, sendHz: SEND_HZ, msgBytes: o.msgBytes, connectConcurrency: 50, connectTimeoutMs: 15_000 };
      child.send({ type: 'start', cfg } satisfies ToFloorClient);
    }
    const until = async (cond: () => boolean, ms: number, what: string): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (fatal) throw new Error(fatal);
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(() => ready.length === k, 30_000 + o.clients * 30, 'floor clients to connect');
    // As the load runner does: generators at nice 10 once connected (clients belong on other machines).
    for (const c of workers) if (c.pid !== undefined) os.setPriority(c.pid, 10);
    const t0 = Date.now() + 100;
    const warmupEnd = t0 + o.warmupMs;
    const measureEnd = warmupEnd + o.measureMs;
    const stopAt = measureEnd + 500;
    for (const c of workers) c.send({ type: 'go', warmupEnd, measureEnd, stopAt } satisfies ToFloorClient);
    const sleepUntil = (t: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
    await sleepUntil(warmupEnd);
    const cpu0 = readCpu(pid);
    const machine0 = readMachineCpu();
    const s0 = await serverStats(server.port);
    const w0 = Date.now();
    await sleepUntil(measureEnd);
    const cpu1 = readCpu(pid);
    const machine1 = readMachineCpu();
    const w1 = Date.now();
    const s1 = await serverStats(server.port);
    const mem = readMem(pid);
    await until(() => results.length === k, stopAt - Date.now() + 20_000, 'floor client results');
    for (const c of workers) c.send({ type: 'exit' } satisfies ToFloorClient);
    const secs = o.measureMs / 1000;
    const delivery = mergeHistograms(results.map((r) => r.delivery));
    const ticks = s1.ticks - s0.ticks;
    const sends = s1.sends - s0.sends;
    const result: FloorResult = {
      clients: o.clients,
      connected: sum(ready.map((r) => r.connected)),
      frameBytes: o.bytes,
      msgBytes: o.msgBytes,
      workers: k,
      measureS: secs,
      delivery: percentiles(delivery),
      server: {
        cpuPercent: cpu0 && cpu1 ? cpuPercent(cpu0, cpu1, w1 - w0, clockTicks()) : null,
        peakRssMB: mem.hwmKb !== undefined ? r1(mem.hwmKb / 1024) : null,
        fanOutMeanMs: ticks > 0 ? Math.round(((s1.fanOutMs - s0.fanOutMs) / ticks) * 1000) / 1000 : NaN,
        usPerSend: sends > 0 ? r2(((s1.fanOutMs - s0.fanOutMs) * 1000) / sends) : NaN,
        dropped: s1.dropped - s0.dropped,
        receivedPerSec: Math.round(((s1.received - s0.received) * 1000) / (w1 - w0)),
      },
      perClient: {
        messagesPerSec: r1(sum(results.map((r) => r.messages)) / o.clients / secs),
        bytesPerSec: Math.round(sum(results.map((r) => r.bytes)) / o.clients / secs),
      },
      generators: results.map((r) => ({ index: r.index, cpuPercent: r.cpuPercent })).sort((a, b) => a.index - b.index),
      machineBusyPercent: machine0 && machine1 ? machineBusyPercent(machine0, machine1) : null,
      closes: sum(results.map((r) => r.closes)),
    };
    delivery.destroy();
    if (result.connected < o.clients) throw new Error(`only ${result.connected} of ${o.clients} floor clients connected (${ready.find((r) => r.firstError)?.firstError ?? ''})`);
    return result;
  } finally {
    for (const c of workers) if (c.exitCode === null) c.kill('SIGKILL');
    if (server.child.exitCode === null) {
      const exited = new Promise((r) => server.child.once('exit', r));
      server.child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  }
}

function floorRow(r: FloorResult): Record<string, string | number> {
  return {
    clients: r.clients,
    'frame B': r.frameBytes,
    'srv CPU %': r.server.cpuPercent ?? 'n/a',
    'fan-out ms': r.server.fanOutMeanMs,
    'us/send': r.server.usPerSend,
    'p50 ms': r.delivery.p50,
    'p99 ms': r.delivery.p99,
    'max ms': r.delivery.max,
    'msg/s/cl': r.perClient.messagesPerSec,
    'in/s': r.server.receivedPerSec,
    'RSS MB': r.server.peakRssMB ?? 'n/a',
    'gen CPU %': r.generators.map((g) => g.cpuPercent).join('/'),
    'machine %': r.machineBusyPercent ?? 'n/a',
    dropped: r.server.dropped,
    closes: r.closes,
  };
}

export async function run(opts: BenchOptions & { readonly args?: readonly string[] }): Promise<unknown> {
  const args = opts.args ?? [];
  const { values } = parseArgs({
    args: [...args],
    options: {
      clients: { type: 'string' }, bytes: { type: 'string' }, 'msg-bytes': { type: 'string', default: '56' }, workers: { type: 'string' },
      warmup: { type: 'string' }, seconds: { type: 'string' }, compare: { type: 'boolean', default: false },
    },
  });
  const num = (name: string, v: string | undefined, def: number): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} takes a positive number, got ${JSON.stringify(v)}`);
    return n;
  };
  const counts = values.clients !== undefined ? values.clients.split(',').map((c) => num('clients', c, 0)) : opts.smoke ? [50] : [100, 500, 1000];
  const warmupMs = num('warmup', values.warmup, opts.smoke ? 1 : 3) * 1000;
  const measureMs = num('seconds', values.seconds, opts.smoke ? 3 : 15) * 1000;
  const msgBytes = num('msg-bytes', values['msg-bytes'], 56);
  const workers = values.workers !== undefined ? num('workers', values.workers, 2) : undefined;
  const runs: Array<{ floor: FloorResult; worldline?: ArenaResult; cpuRatio?: number | null }> = [];
  for (const clients of counts) {
    let worldline: ArenaResult | undefined;
    let bytes = num('bytes', values.bytes, 700);
    if (values.compare) {
      console.log(`worldline arena-v1: ${clients} clients (log on, batch), warm-up ${defaultArenaOptions.warmupMs / 1000} s, measured ${defaultArenaOptions.measureMs / 1000} s`);
      worldline = await runArena({ ...defaultArenaOptions, clients, entities: Math.max(200, clients), ...(workers !== undefined ? { workers } : {}) });
      // The floor then carries the bytes per client per second Worldline sent, in one frame per tick (Worldline's are
      // a delta per tick plus pongs and intent results, most riding with the delta).
      if (values.bytes === undefined && worldline.perClient.bytesPerTick > 0) bytes = Math.max(16, worldline.perClient.bytesPerTick);
      console.log(`  worldline: server ${worldline.server.cpuPercent ?? 'n/a'}% of a core, p99 ${worldline.delivery.p99} ms, ${bytes} B per frame, machine ${worldline.machineBusyPercent ?? 'n/a'}% busy`);
    }
    console.log(`floor: ${clients} clients, ${bytes} B frames at ${1000 / TICK_MS} Hz, ${msgBytes} B messages at ${SEND_HZ} Hz, warm-up ${warmupMs / 1000} s, measured ${measureMs / 1000} s`);
    const floor = await runFloor({ clients, bytes, msgBytes, warmupMs, measureMs, ...(workers !== undefined ? { workers } : {}) });
    const fc = floor.server.cpuPercent;
    const wc = worldline?.server.cpuPercent;
    const cpuRatio = wc != null && fc != null && fc > 0 ? r2(wc / fc) : null;
    runs.push({ floor, ...(worldline ? { worldline, cpuRatio } : {}) });
    console.log(table([{ ...floorRow(floor), ...(worldline ? { 'worldline CPU %': wc ?? 'n/a', 'x floor': cpuRatio ?? 'n/a' } : {}) }]));
  }
  const cmd = `npm run bench -- floor${opts.smoke ? ' --smoke' : ''}${args.length ? ' ' + args.join(' ') : ''}`;
  const file = writeResult(opts.smoke ? 'floor-smoke' : 'floor', {
    smoke: opts.smoke, command: cmd, loadavg: os.loadavg(), tickMs: TICK_MS, sendHz: SEND_HZ,
    server: 'bench/floor/server.ts: native uWebSockets.js, Worldline\'s socket options, one shared frame per tick corked per socket',
    runs,
  });
  console.log(`  -> ${file}`);
  return runs;
}
