/**
 * `npm run bench -- host`: the server's per-tick work on arena-v1 without sockets. A WorldHost in process at
 * arena-N (N entities, N agents, each subscribed with the proto codec, its frames counted and dropped), the real log
 * under `batch`, every agent's Move intent every other tick (10 Hz at a 20 Hz tick), ticks driven back to back.
 * Reports per tick, as medians of 10-tick windows: CPU (the process, every thread) and wall time, the quantum and
 * the fan-out (the server's own histograms), GC pause time, frames and bytes. It runs in a child process, so its
 * heap is its own and no other bench's (V8 flags for it: `--node-flags="--flag ..."`, to try one). This is the figure to A/B a change of the core or the fan-out on a shared machine: the load runner's
 * latency moves with the machine's load much more than this CPU per tick does.
 *
 *   npm run bench -- host [--agents N] [--ticks T] [--node-flags="--flag ..."]   (default 1,000 agents, 110 ticks; smoke: 200, 40)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import seedrandom from 'seedrandom';
import { track } from './cleanup.js';
import { median, table, UsageError, writeResult, type BenchOptions } from './lib.js';

const WARMUP_TICKS = 10;
const WINDOW_TICKS = 10;

export interface HostResult extends Record<string, number> {
  agents: number;
  ticks: number;
  cpu_ms_per_tick: number;
  wall_ms_per_tick: number;
  quantum_ms: number;
  fanout_ms: number;
  gc_ms_per_tick: number;
  frames_per_tick: number;
  bytes_per_frame: number;
  rss_mb: number;
}

/** The measurement itself, in the child process. */
async function measure(agents: number, ticks: number): Promise<HostResult> {
  const { WorldHost } = await import('../server/transport/world-host.js');
  const { resolveWorld, makeArena, arenaEntityId } = await import('../server/worlds/index.js');
  const { createLogger } = await import('../server/obs/logger.js');
  const { createMetrics } = await import('../server/obs/metrics.js');
  const { Subprotocol, WireSession } = await import('../server/protocol/index.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-bench-host-'));
  const metrics = createMetrics({ defaultMetrics: false });
  const world = resolveWorld(`arena-${agents}`) ?? makeArena({ entities: agents, name: `arena-${agents}` });
  const host = await WorldHost.open({ world, worldId: 'w', tenant: 't', dataDir: dir, durability: 'batch', segmentBytes: 64 << 20, tickMs: 1e9, logger: createLogger({ level: 'warn' }), metrics });
  try {
    const ids = Array.from({ length: agents }, (_, i) => arenaEntityId(i));
    const rt = host.runtime;
    for (const id of ids) await rt.registerAgent(id);
    let bytes = 0;
    let frames = 0;
    const codec = host.codecs[Subprotocol.PROTO];
    for (const id of ids) {
      host.subscribe({ agentId: id, codec, wire: new WireSession(), baseViewSeq: -1, copiesFrames: true, send: (f) => ((bytes += typeof f === 'string' ? f.length : f.byteLength), frames++, true) });
    }
    let gcMs = 0;
    const gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcMs += e.duration;
    });
    gc.observe({ entryTypes: ['gc'] });
    const rng = seedrandom.alea('bench-host');
    let req = 0;
    const cpuMs: number[] = [];
    const wallMs: number[] = [];
    const inflight: Array<Promise<unknown>> = [];
    let cpu0 = process.cpuUsage();
    let w0 = performance.now();
    let gc0 = 0;
    let bytes0 = 0;
    let frames0 = 0;
    let quantumMs = 0;
    for (let t = 0; t < ticks; t++) {
      if (t === WARMUP_TICKS) {
        bytes0 = bytes;
        frames0 = frames;
        gc0 = gcMs;
      }
      if (t >= WARMUP_TICKS && (t - WARMUP_TICKS) % WINDOW_TICKS === 0) {
        if (t > WARMUP_TICKS) {
          const c = process.cpuUsage(cpu0);
          cpuMs.push((c.user + c.system) / 1000 / WINDOW_TICKS);
          wallMs.push((performance.now() - w0) / WINDOW_TICKS);
        }
        cpu0 = process.cpuUsage();
        w0 = performance.now();
      }
      if (t % 2 === 0) {
        for (const id of ids) {
          const dx = Math.round((rng() * 4 - 2) * 100) / 100;
          void rt.submit({ req_id: `h${++req}`, agent_id: id, kind: 'Move', payload: { dx, dy: 1 }, context_seq: rt.viewSeq(id) });
        }
      }
      // Two quanta in flight at most, as a server whose log sync overlaps the next tick. tick() runs the quantum's
      // synchronous work (intents, effects, observation) before it returns; the fan-out follows durability.
      const q0 = performance.now();
      inflight.push(rt.tick());
      if (t >= WARMUP_TICKS) quantumMs += performance.now() - q0;
      if (inflight.length > 1) await inflight.shift();
    }
    await Promise.all(inflight);
    await new Promise((r) => setImmediate(r));
    gc.disconnect();
    const measured = ticks - WARMUP_TICKS;
    const json = await metrics.registry.getMetricsAsJSON();
    const meanMs = (name: string): number => {
      const m = json.find((x) => x.name === name) as { values: Array<{ metricName?: string; value: number }> } | undefined;
      const sum = m?.values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? NaN;
      const count = m?.values.find((v) => v.metricName?.endsWith('_count'))?.value ?? NaN;
      return Math.round(((1000 * sum) / count) * 100) / 100;
    };
    const r2 = (x: number): number => Math.round(x * 100) / 100;
    return {
      agents,
      ticks: measured,
      cpu_ms_per_tick: r2(median(cpuMs)),
      wall_ms_per_tick: r2(median(wallMs)),
      quantum_ms: r2(quantumMs / measured),
      fanout_ms: meanMs('worldline_fanout_seconds'),
      gc_ms_per_tick: r2((gcMs - gc0) / measured),
      frames_per_tick: Math.round((frames - frames0) / measured),
      bytes_per_frame: Math.round((bytes - bytes0) / Math.max(1, frames - frames0)),
      rss_mb: Math.round(process.memoryUsage().rss / 1e6),
    };
  } finally {
    await host.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const self = fileURLToPath(import.meta.url);

/** Runs the measurement in a child process (with `nodeFlags`); resolves with its result. */
function inChild(agents: number, ticks: number, nodeFlags: readonly string[]): Promise<HostResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', self, '--child', String(agents), String(ticks)], { stdio: ['ignore', 'pipe', 'inherit'] });
    track(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`bench host child exited with ${code}: ${out.slice(-500)}`));
      try {
        resolve(JSON.parse(line) as HostResult);
      } catch {
        reject(new Error(`bench host child printed no result: ${out.slice(-500)}`));
      }
    });
  });
}

export async function run(opts: BenchOptions & { readonly args?: readonly string[] }): Promise<HostResult> {
  let values;
  try {
    ({ values } = parseArgs({ args: [...(opts.args ?? [])], options: { agents: { type: 'string' }, ticks: { type: 'string' }, 'node-flags': { type: 'string' } }, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; host takes --agents N, --ticks T and --node-flags="--flag ..."`);
  }
  const nodeFlags = typeof values['node-flags'] === 'string' ? values['node-flags'].split(/\s+/).filter(Boolean) : [];
  const agents = Math.max(10, Number(values.agents ?? (opts.smoke ? 200 : 1000)));
  const ticks = Math.max(WARMUP_TICKS + 2 * WINDOW_TICKS, Number(values.ticks ?? (opts.smoke ? 40 : 110)));
  if (!Number.isInteger(agents) || !Number.isInteger(ticks)) throw new UsageError('--agents and --ticks take whole numbers');
  const loadAtStart = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const r = await inChild(agents, ticks, nodeFlags);
  console.log(`arena-${agents} in process: ${agents} agents subscribed (proto), Move intents every other tick, log on (batch)${nodeFlags.length ? `, node ${nodeFlags.join(' ')}` : ''}`);
  console.log(table([r]));
  const file = writeResult(opts.smoke ? 'host-smoke' : 'host', { command: `npm run bench -- host${opts.smoke ? ' --smoke' : ''}${opts.args?.length ? ' ' + opts.args.join(' ') : ''}`, loadavg: { start: loadAtStart, end: os.loadavg().map((l) => Math.round(l * 100) / 100) }, nodeFlags, result: r });
  console.log(`  -> ${file}`);
  return r;
}

if (process.argv[2] === '--child') {
  const r = await measure(Number(process.argv[3]), Number(process.argv[4]));
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}
