/**
 * Crash loop: a child appends under group commit and reports each acknowledged seq; the test kill -9s it at seeded
 * moments (during appends, during startup and recovery), restarts, and checks that every acknowledged record is
 * present exactly once with its payload, seqs are contiguous and the log verifies.
 * WORLDLINE_CRASH_CYCLES=N runs more cycles (default 50).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { verifyLog } from '../../server/log/index.js';
import { readAll, useTempDirs } from '../helpers/log.js';

const tempDir = useTempDirs('worldline-crash-');
const CHILD = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));
const CYCLES = Number(process.env['WORLDLINE_CRASH_CYCLES'] ?? 50);

interface CycleResult {
  acks: Array<{ seq: number; id: string }>;
  killed: boolean;
  stderr: string;
}

/** Runs one child; kills it with SIGKILL after `killAfterAcks` acks (+ a small delay), or `earlyMs` after spawn. */
function runChild(dir: string, runId: number, plan: { killAfterAcks: number; delayMs: number; earlyMs: number | undefined }): Promise<CycleResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(runId)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acks: Array<{ seq: number; id: string }> = [];
    let pending = '';
    let stderr = '';
    let killScheduled = false;
    const kill = (): void => {
      if (killScheduled) return;
      killScheduled = true;
      setTimeout(() => child.kill('SIGKILL'), plan.delayMs);
    };
    if (plan.earlyMs !== undefined) setTimeout(() => kill(), plan.earlyMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith('ready')) continue;
        const [seq, id] = line.split(' ');
        acks.push({ seq: Number(seq), id: id! });
        if (plan.earlyMs === undefined && acks.length >= plan.killAfterAcks) kill();
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    // 'close' comes after the process exited and its pipes drained: every line it wrote has been seen.
    child.on('close', (_code, signal) => resolve({ acks, killed: signal === 'SIGKILL', stderr }));
  });
}

describe('crash loop', () => {
  it(`every acknowledged record survives ${CYCLES} kill -9 cycles exactly once`, async () => {
    const dir = tempDir();
    const rng = seedrandom('crash-loop');
    const acked = new Map<number, string>();
    let kills = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      // Mostly kill mid-append; sometimes right after spawn, i.e. during startup, recovery or the first segment.
      const early = rng() < 0.15;
      const plan = { killAfterAcks: 1 + Math.floor(rng() * 300), delayMs: Math.floor(rng() * 8), earlyMs: early ? Math.floor(rng() * 400) : undefined };
      const r = await runChild(dir, cycle, plan);
      if (r.killed) kills++;
      else expect(r.stderr, `cycle ${cycle}: the child died on its own`).toBe('');
      for (const { seq, id } of r.acks) {
        const before = acked.get(seq);
        expect(before, `cycle ${cycle}: seq ${seq} acknowledged twice (${before} and ${id}): an acknowledged record was lost`).toBeUndefined();
        acked.set(seq, id);
      }

      const hasLog = fs.existsSync(path.join(dir, 'segments')) && fs.readdirSync(path.join(dir, 'segments')).some((n) => n.endsWith('.wlseg'));
      if (!hasLog) {
        expect(acked.size, `cycle ${cycle}: records were acknowledged but no log exists`).toBe(0);
        continue;
      }
      // Reopening recovers (and takes over the dead child's lock); readAll checks seqs are contiguous from 1.
      const all = await readAll(dir);
      const idAt = new Map<number, string>();
      const seen = new Map<string, number>();
      for (const rec of all) {
        const { id } = JSON.parse(rec.payload.toString('utf8')) as { id: string };
        idAt.set(rec.seq, id);
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      for (const [seq, id] of acked) {
        expect(idAt.get(seq), `cycle ${cycle}: acknowledged seq ${seq} (${id})`).toBe(id);
      }
      for (const [id, count] of seen) expect(count, `cycle ${cycle}: ${id} stored ${count} times`).toBe(1);
      const report = await verifyLog(dir);
      expect(report.problem, `cycle ${cycle}`).toBeUndefined();
      expect(report.lastSeq).toBe(all.length);
    }
    expect(kills).toBeGreaterThanOrEqual(Math.floor(CYCLES * 0.9));
    expect(acked.size).toBeGreaterThan(CYCLES * 10);
    expect(fs.readdirSync(path.join(dir, 'segments')).filter((n) => n.endsWith('.wlseg')).length).toBeGreaterThan(3);
  }, 240_000);
});
