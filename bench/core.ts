/**
 * Core benchmark (`npm run bench -- core`): on arena-v1, in process.
 * 1. throughput: committed intents/s with 200 agents, each tick carrying every agent's Move intents plus the
 *    random walk of all 200 entities, with delta generation for every observer and each effect appended to the
 *    real log under `batch` durability (and, for comparison, to a no-op log port). Reported as the median of
 *    500 ms windows, with the CPU time per committed intent beside it: the whole process's (every thread: V8's GC
 *    helpers, the log's frame writer) and the main thread's alone (Linux), which moves least with the machine's load.
 * 2. delta cost per effect at 2,000 / 20,000 / 200,000 entities with constant local density (the plane grows
 *    with the entity count; every 10th entity is an observing agent), with a no-op log port so only the core's
 *    apply + observation + delta work is timed: the median over windows of 20,000 effects each (after a warm-up
 *    window) of the window's time divided by its effects, in wall time and in process CPU time (the CPU figure is
 *    the steadier one on a shared machine; it includes V8's parallel GC threads).
 * Figures are medians of repeated windows from one run; --smoke runs shorter and smaller and writes core-smoke.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import seedrandom from 'seedrandom';
import type { AppendResult, EventLogPort, LogMeta, LogRecord, SnapshotRecord } from '../server/core/index.js';
import { WorldRuntime, type QuantumReport } from '../server/core/index.js';
import { openLog } from '../server/log/index.js';
import { arenaEntityId, makeArena } from '../server/worlds/index.js';
import { median, table, tmpDir, writeResult, type BenchOptions } from './lib.js';

/** Accepts every record and keeps none: isolates the core's own cost. */
class NullLog implements EventLogPort {
  readonly meta: LogMeta;
  lastSeq = 0;
  bytes = 0;
  private static readonly done: AppendResult = { seq: 0, hash: new Uint8Array(32) };
  constructor(worldId: string, worldSeed: string) {
    this.meta = { formatVersion: 1, logId: 'null', worldId, worldSeed, createdAt: 0 };
  }
  append(_kind: string, payload: Uint8Array): Promise<AppendResult> {
    this.lastSeq++;
    this.bytes += payload.length;
    return Promise.resolve(NullLog.done);
  }
  records(): Iterable<LogRecord> {
    return [];
  }
  async writeSnapshot(): Promise<void> {}
  latestSnapshot(): SnapshotRecord | undefined {
    return undefined;
  }
  snapshots(): readonly SnapshotRecord[] {
    return [];
  }
}

const wallClock = { now: () => Date.now() };

/** CPU time of this process's main thread in microseconds (Linux: /proc), or undefined elsewhere. */
function mainThreadCpuUs(): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1_000_000) / 100; // utime + stime, in clock ticks of 10 ms
  } catch {
    return undefined;
  }
}

interface ThroughputResult extends Record<string, number | string> {
  log: string;
  agents: number;
  intents_per_tick: number;
  committed_intents_per_s: number;
  effects_per_s: number;
  deltas_per_s: number;
  ops_per_s: number;
  rejected: number;
}

async function throughput(logMode: 'batch' | 'null', seconds: number, perAgent: number): Promise<ThroughputResult> {
  const agents = 200;
  const world = makeArena({ entities: agents });
  const dir = logMode === 'batch' ? tmpDir('core') : undefined;
  const log = dir ? await openLog(dir, { create: { worldId: 'arena-bench', worldSeed: world.seed }, durability: 'batch' }) : new NullLog('arena-bench', world.seed);
  try {
    const rt = await WorldRuntime.open({ world, log, clock: wallClock });
    const ids = Array.from({ length: agents }, (_, i) => arenaEntityId(i));
    for (const id of ids) await rt.registerAgent(id);
    let deltas = 0;
    let ops = 0;
    rt.onDelivery((d) => {
      deltas += d.deltas.length;
      for (const x of d.deltas) ops += x.ops.length;
    });
    const rng = seedrandom.alea('bench');
    let committed = 0;
    let rejected = 0;
    const count = (o: { status: string }): void => {
      if (o.status === 'committed') committed++;
      else rejected++;
    };
    let req = 0;
    const windows: number[] = [];
    const effectsStart = rt.lastGlobalSeq;
    const inflight: Array<Promise<QuantumReport>> = [];
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCpuUs();
    const t0 = performance.now();
    let windowStart = t0;
    let windowCommitted = 0;
    while (performance.now() - t0 < seconds * 1000) {
      for (const id of ids) {
        const vs = rt.viewSeq(id);
        for (let b = 0; b < perAgent; b++) {
          const dx = Math.round((rng() * 4 - 2) * 100) / 100;
          const dy = Math.round((rng() * 4 - 2) * 100) / 100;
          void rt.submit({ req_id: `q${++req}`, agent_id: id, kind: 'Move', payload: { dx, dy }, context_seq: vs }).then(count);
        }
      }
      inflight.push(rt.tick());
      if (inflight.length > 2) await inflight.shift();
      const now = performance.now();
      if (now - windowStart >= 500) {
        windows.push(((committed - windowCommitted) * 1000) / (now - windowStart));
        windowStart = now;
        windowCommitted = committed;
      }
    }
    await Promise.all(inflight);
    await rt.drain();
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const main1 = mainThreadCpuUs();
    const effects = rt.lastGlobalSeq - effectsStart;
    return {
      log: logMode,
      agents,
      intents_per_tick: agents * perAgent,
      committed_intents_per_s: Math.round(windows.length > 0 ? median(windows) : committed / elapsed),
      committed_intents_per_s_overall: Math.round(committed / elapsed),
      windows: windows.length,
      cpu_us_per_intent: Math.round(((cpu.user + cpu.system) / committed) * 100) / 100,
      main_thread_cpu_us_per_intent: main0 === undefined || main1 === undefined ? 'n/a' : Math.round(((main1 - main0) / committed) * 100) / 100,
      effects_per_s: Math.round(effects / elapsed),
      deltas_per_s: Math.round(deltas / elapsed),
      ops_per_s: Math.round(ops / elapsed),
      rejected,
    };
  } finally {
    if (log instanceof NullLog) {
      /* nothing to close */
    } else {
      await log.close();
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface DeltaCostResult extends Record<string, number> {
  entities: number;
  agents: number;
  plane: number;
  windows: number;
  effects_per_window: number;
  us_per_effect: number;
  cpu_us_per_effect: number;
  deltas_per_effect: number;
  ops_per_effect: number;
}

/** Effects per measurement window of the delta-cost part: the same at every size, so GC and caches amortise alike. */
const WINDOW_EFFECTS = 20_000;

async function deltaCost(entities: number, windows: number): Promise<DeltaCostResult> {
  // Constant local density: 1 entity per 1000 square units, every 10th entity an agent; radius 150.
  const size = Math.round(Math.sqrt(entities * 1000));
  const world = makeArena({ entities, size, randomWalk: false, name: `arena-${entities}` });
  const log = new NullLog(`arena-${entities}`, world.seed);
  const rt = await WorldRuntime.open({ world, log, clock: wallClock });
  const agents: string[] = [];
  for (let i = 0; i < entities; i += 10) agents.push(arenaEntityId(i));
  for (const id of agents) await rt.registerAgent(id);
  let deltas = 0;
  let ops = 0;
  rt.onDelivery((d) => {
    deltas += d.deltas.length;
    for (const x of d.deltas) ops += x.ops.length;
  });
  const rng = seedrandom.alea('delta-cost');
  // Changes per quantum scale with the world too (one in ten entities moves per quantum), so each observer sees
  // the same number of changes per quantum at every size and the per-delta costs are amortised equally.
  const perQuantum = Math.max(200, Math.round(entities / 10));
  const quantaPerWindow = Math.max(1, Math.round(WINDOW_EFFECTS / perQuantum));
  const quantum = async (): Promise<number> => {
    const ps = [];
    for (let k = 0; k < perQuantum; k++) {
      const id = arenaEntityId(Math.floor(rng() * entities));
      ps.push(rt.emit({ kind: 'Move', payload: { entity_id: id, dx: Math.round((rng() * 10 - 5) * 100) / 100, dy: Math.round((rng() * 10 - 5) * 100) / 100 }, source_id: 'bench' }));
    }
    const r = await rt.flush();
    await Promise.all(ps);
    return r.committed;
  };
  // One warm-up window (JIT, the first full state hash) is run but not sampled.
  for (let q = 0; q < quantaPerWindow; q++) await quantum();
  const samples: number[] = [];
  const cpuSamples: number[] = [];
  let effects = 0;
  const deltasBefore = deltas;
  const opsBefore = ops;
  for (let w = 0; w < windows; w++) {
    let n = 0;
    const c = process.cpuUsage();
    const t = performance.now();
    for (let q = 0; q < quantaPerWindow; q++) n += await quantum();
    const wall = performance.now() - t;
    const cpu = process.cpuUsage(c);
    samples.push((wall * 1000) / n);
    cpuSamples.push((cpu.user + cpu.system) / n);
    effects += n;
  }
  return {
    entities,
    agents: agents.length,
    plane: size,
    windows,
    effects_per_window: quantaPerWindow * perQuantum,
    us_per_effect: Math.round(median(samples) * 100) / 100,
    cpu_us_per_effect: Math.round(median(cpuSamples) * 100) / 100,
    deltas_per_effect: Math.round(((deltas - deltasBefore) / effects) * 100) / 100,
    ops_per_effect: Math.round(((ops - opsBefore) / effects) * 100) / 100,
  };
}

/** Runs the core benchmark, prints a table per part and writes bench/results/core.json (core-smoke.json with --smoke). */
export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const started = performance.now();
  const loadAtStart = os.loadavg().map((l) => Math.round(l * 100) / 100);
  // Smoke: enough 500 ms windows (about 6) that their median rides out a stall of the shared machine.
  const seconds = opts.smoke ? 3 : 8;
  const tp: ThroughputResult[] = [];
  for (const mode of ['batch', 'null'] as const) tp.push(await throughput(mode, seconds, 10));
  console.log('\nthroughput (arena-v1, 200 agents x 10 Move intents per tick + random walk of 200 entities)');
  console.log(table(tp));
  const sizes = opts.smoke ? [2000, 20000] : [2000, 20000, 200000];
  const dc: DeltaCostResult[] = [];
  for (const n of sizes) dc.push(await deltaCost(n, opts.smoke ? 3 : 7));
  console.log('\ndelta cost per effect (constant local density, no-op log port)');
  console.log(table(dc));
  const ratio = (key: 'us_per_effect' | 'cpu_us_per_effect'): number | null => {
    const first = dc[0]?.[key] ?? 0;
    return first > 0 ? Math.round(((dc.at(-1)?.[key] ?? 0) / first) * 100) / 100 : null;
  };
  const result = {
    smoke: opts.smoke,
    command: `npm run bench -- core${opts.smoke ? ' --smoke' : ''}`,
    load_average_at_start: loadAtStart,
    load_average_at_end: os.loadavg().map((l) => Math.round(l * 100) / 100),
    seconds: Math.round((performance.now() - started) / 100) / 10,
    throughput: tp,
    delta_cost: dc,
    delta_cost_ratio_largest_to_smallest: ratio('us_per_effect'),
    delta_cost_cpu_ratio_largest_to_smallest: ratio('cpu_us_per_effect'),
    goal_committed_intents_per_s: 100_000,
  };
  const file = writeResult(opts.smoke ? 'core-smoke' : 'core', result);
  console.log(`\nwrote ${file}`);
  return result;
}
