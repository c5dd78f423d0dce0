/**
 * Log benchmark: append throughput and ack latency for 256-byte records under each durability policy with 1, 16 and
 * 256 concurrent appenders, and the recovery scan speed of a 1 GiB log. `npm run bench -- log`.
 * Every figure is the median of several runs in this process; the reference loop (raw SHA-256 + CRC-32 over the
 * same frames) is measured in the same run so a smoke check can compare ratios, not absolute times.
 */
import fs from 'node:fs';
import path from 'node:path';
import { hash as sha256 } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { openLog, analyzeLog, analyzeLogParallel, type Durability } from '../server/log/index.js';
import { IdempotencyIndex } from '../server/core/idempotency.js';
import { decodeSnapshot, encodeSnapshotAsync, forEachIndexRow, type SnapshotDoc } from '../server/core/snapshot.js';
import { SCHEMA_VERSION } from '../server/core/types.js';
import { latencyHistogram, median, table, tmpDir, writeResult, type BenchOptions } from './lib.js';

const PAYLOAD = Buffer.alloc(256, 0x61);

interface AppendRun {
  durability: Durability;
  appenders: number;
  recordsPerSec: number;
  ackP50us: number;
  ackP99us: number;
  records: number;
}

async function appendRun(durability: Durability, appenders: number, maxRecords: number, maxMs: number): Promise<AppendRun> {
  const dir = tmpDir('log');
  try {
    const log = await openLog(dir, { create: { worldId: 'bench', worldSeed: '1' }, durability });
    const h = latencyHistogram();
    let started = 0;
    const t0 = performance.now();
    const deadline = t0 + maxMs;
    await Promise.all(
      Array.from({ length: appenders }, async () => {
        while (started < maxRecords && performance.now() < deadline) {
          started++;
          const t = performance.now();
          await log.append('effect', PAYLOAD);
          h.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    await log.close();
    const run = { durability, appenders, recordsPerSec: Math.round(started / secs), ackP50us: h.getValueAtPercentile(50), ackP99us: h.getValueAtPercentile(99), records: started };
    h.destroy();
    return run;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds a log of about `bytes` on disk quickly (durability none; the scan does not care). */
async function buildLog(dir: string, bytes: number): Promise<number> {
  const log = await openLog(dir, { create: { worldId: 'bench', worldSeed: '1' }, durability: 'none' });
  const perRecord = 49 + 'effect'.length + PAYLOAD.length;
  const n = Math.ceil(bytes / perRecord);
  let pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) {
    pending.push(log.append('effect', PAYLOAD));
    if (pending.length === 4096) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  await log.close();
  return n;
}

function dirBytes(dir: string): number {
  const seg = path.join(dir, 'segments');
  return fs.readdirSync(seg).reduce((n, f) => n + fs.statSync(path.join(seg, f)).size, 0);
}

/** Drops the page cache so a scan reads from the device (root only; returns false when not allowed). */
function dropCaches(): boolean {
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

/** The same per-frame work as the scan minus framing and I/O: SHA-256 and CRC-32 over each frame's bytes. */
function referenceMBps(seconds: number): number {
  const frame = Buffer.alloc(16 + 8 + 32 + 7 + PAYLOAD.length, 1);
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) {
      sha256('sha256', frame, 'buffer');
      crc32(frame);
    }
    n += 1000;
  }
  return (n * (49 + 6 + PAYLOAD.length)) / 2 ** 20 / ((performance.now() - t0) / 1000);
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const reps = opts.smoke ? 1 : 3;
  const rows: AppendRun[] = [];
  for (const durability of ['always', 'batch', 'none'] as const) {
    for (const appenders of [1, 16, 256]) {
      const maxRecords = opts.smoke ? 20_000 : durability === 'always' ? 20_000 : appenders === 1 ? 100_000 : 500_000;
      const maxMs = opts.smoke ? 500 : 3000;
      const runs: AppendRun[] = [];
      for (let r = 0; r < reps; r++) runs.push(await appendRun(durability, appenders, maxRecords, maxMs));
      rows.push({
        durability, appenders,
        recordsPerSec: median(runs.map((x) => x.recordsPerSec)),
        ackP50us: median(runs.map((x) => x.ackP50us)),
        ackP99us: median(runs.map((x) => x.ackP99us)),
        records: median(runs.map((x) => x.records)),
      });
    }
  }
  console.log(`append, 256-byte records, median of ${reps} run(s):`);
  console.log(table(rows.map((r) => ({ durability: r.durability, appenders: r.appenders, 'records/s': r.recordsPerSec, 'ack p50 µs': r.ackP50us, 'ack p99 µs': r.ackP99us }))));

  const target = opts.smoke ? 64 * 2 ** 20 : 2 ** 30;
  const dir = tmpDir('recovery');
  let recovery: Record<string, unknown>;
  try {
    const records = await buildLog(dir, target);
    const bytes = dirBytes(dir);
    const warm: number[] = [];
    const deepParallel: number[] = [];
    const oneThread: number[] = [];
    for (let r = 0; r < reps; r++) {
      let t = performance.now();
      const a = await analyzeLogParallel(dir);
      warm.push((performance.now() - t) / 1000);
      if (a.problem || a.lastSeq !== records) throw new Error(`bench log did not verify: ${a.problem?.reason ?? a.lastSeq}`);
      if (a.segments.length > 1 && !a.segments[0]!.viaSeal) throw new Error('recovery did not use the segment seals');
      t = performance.now();
      await analyzeLogParallel(dir, { deep: true });
      deepParallel.push((performance.now() - t) / 1000);
      t = performance.now();
      analyzeLog(dir, { deep: true });
      oneThread.push((performance.now() - t) / 1000);
    }
    let cold: number | undefined;
    if (dropCaches()) {
      const t = performance.now();
      await analyzeLogParallel(dir);
      cold = (performance.now() - t) / 1000;
    }
    const t = performance.now();
    const log = await openLog(dir, {});
    const openSecs = (performance.now() - t) / 1000;
    await log.close();
    const mb = bytes / 2 ** 20;
    const ref = referenceMBps(opts.smoke ? 0.3 : 1);
    recovery = {
      bytes, records, segments: fs.readdirSync(path.join(dir, 'segments')).length,
      scanMBpsWarm: Math.round(mb / median(warm)),
      scanMBpsCold: cold === undefined ? null : Math.round(mb / cold),
      scanMBpsOneThread: Math.round(mb / median(oneThread)),
      deepVerifyMBps: Math.round(mb / median(deepParallel)),
      openRecoverySecs: Number(openSecs.toFixed(2)),
      referenceMBps: Math.round(ref),
      scanToReferenceRatio: Number((mb / median(warm) / ref).toFixed(3)),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nrecovery scan of ${(Number(recovery['bytes']) / 2 ** 20).toFixed(0)} MiB (${String(recovery['records'])} records; recovery checks sealed segments by one file hash and the last segment frame by frame; deep verify re-derives every frame's CRC, seq and chain hash):`);
  console.log(table([{ 'warm MB/s': Number(recovery['scanMBpsWarm']), 'cold MB/s': recovery['scanMBpsCold'] === null ? 'n/a' : Number(recovery['scanMBpsCold']), 'deep verify MB/s': Number(recovery['deepVerifyMBps']), 'deep 1-thread MB/s': Number(recovery['scanMBpsOneThread']), 'openLog s': Number(recovery['openRecoverySecs']), 'ref MB/s (1 core)': Number(recovery['referenceMBps']) }]));

  const snapshot = await snapshotRun(opts.smoke ? 100 : 1024);
  console.log(`\nsnapshot of an idempotency index of 1,000 agents × ${snapshot.perAgent} outcomes${snapshot.perAgent === 1024 ? " (the default window, full)" : ""}, encoded while the event loop runs:`);
  console.log(table([{ entries: snapshot.entries, 'capture ms': snapshot.captureMs, 'encode ms': snapshot.encodeMs, 'max loop delay ms': snapshot.maxLoopDelayMs, MB: snapshot.mb, 'decode+load ms': snapshot.loadMs }]));

  const batch256 = rows.find((r) => r.durability === 'batch' && r.appenders === 256)!;
  const batch16 = rows.find((r) => r.durability === 'batch' && r.appenders === 16)!;
  const goals = {
    batch256RecordsPerSec: { goal: 250_000, measured: batch256.recordsPerSec, pass: batch256.recordsPerSec >= 250_000 },
    batch16AckP99us: { goal: 2000, measured: batch16.ackP99us, pass: batch16.ackP99us <= 2000 },
    recoveryMBps: { goal: 300, measured: recovery['scanMBpsWarm'], pass: Number(recovery['scanMBpsWarm']) >= 300 },
  };
  console.log('\ngoals:', Object.entries(goals).map(([k, g]) => `${k} ${g.pass ? 'PASS' : 'FAIL'} (${String(g.measured)} vs ${g.goal})`).join('; '));
  const file = writeResult(opts.smoke ? 'log-smoke' : 'log', { smoke: opts.smoke, reps, recordBytes: PAYLOAD.length, append: rows, recovery, snapshot, goals });
  console.log(`wrote ${file}`);
  return { append: rows, recovery, snapshot, goals };
}

/**
 * A snapshot's idempotency index at scale (server/core/snapshot.ts): 1,000 agents with `perAgent` committed outcomes
 * each, as ids and digests of the sizes the server makes. The capture is the one stall (taken at a quantum boundary);
 * the encoding yields to the event loop, whose longest delay while it runs is measured beside it.
 */
async function snapshotRun(perAgent: number): Promise<{ perAgent: number; entries: number; captureMs: number; encodeMs: number; maxLoopDelayMs: number; mb: number; loadMs: number }> {
  const idx = new IdempotencyIndex({ perAgent });
  for (let i = 0; i < perAgent; i++) {
    for (let a = 0; a < 1000; a++) idx.recordCommitted(`e${String(a).padStart(6, '0')}`, `m${a}-${i}`, 'qBGyfGAgMn_WfZ_poZHHxy', 1 + i * 1000 + a, `00000000-03ab-8dcd-a736-${String(i * 1000 + a).padStart(12, '0')}`, i);
  }
  const doc: SnapshotDoc = { schema_version: SCHEMA_VERSION, world_id: 'bench', global_seq: idx.size, uuid_counter: idx.size, effects_since_hash: 0, state: { entities: {}, relationships: {}, metadata: {} } as unknown as SnapshotDoc['state'], agents: [], idempotency: [] };
  const t0 = performance.now();
  const cap = idx.capture();
  const t1 = performance.now();
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const bytes = await encodeSnapshotAsync(doc, cap);
  h.disable();
  const t2 = performance.now();
  const back = new IdempotencyIndex({ perAgent });
  forEachIndexRow(decodeSnapshot(bytes, 'bench'), { committed: (a, r, d, g, u, t) => back.recordCommitted(a, r, d, g, u, t), rejected: (a, r, d, o) => back.record(a, r, d, o) });
  const t3 = performance.now();
  if (back.size !== idx.size) throw new Error(`snapshot index read back ${back.size} of ${idx.size} entries`);
  const r1 = (x: number): number => Number(x.toFixed(1));
  return { perAgent, entries: idx.size, captureMs: r1(t1 - t0), encodeMs: r1(t2 - t1), maxLoopDelayMs: r1(h.max / 1e6), mb: r1(bytes.length / 1e6), loadMs: r1(t3 - t2) };
}
