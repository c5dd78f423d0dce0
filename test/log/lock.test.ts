/**
 * The data-directory lock: one live owner at a time, in this process or another; a lock left by a dead process
 * (kill -9) or a recycled pid is taken over.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openLog } from '../../server/log/index.js';
import { lockDir } from '../../server/log/lock.js';
import { isWorldlineError } from '../../server/errors.js';
import { appendRecords, rejectsWith, testLogOptions, useTempDirs } from '../helpers/log.js';

const tempDir = useTempDirs('worldline-lock-');
const OPEN_CHILD = fileURLToPath(new URL('./fixtures/open-child.ts', import.meta.url));

function openFromAnotherProcess(dir: string): Promise<{ ok: boolean; code?: number; codeName?: string; lastSeq?: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', OPEN_CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`open-child exited with ${code}: ${err}`));
      resolve(JSON.parse(out) as { ok: boolean; code?: number; codeName?: string; lastSeq?: number });
    });
  });
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(r.pid).toBeGreaterThan(0);
  return r.pid!;
}

describe('directory lock', () => {
  it('a second openLog in the same process gets LOG_LOCKED until the first closes', async () => {
    const dir = tempDir();
    const first = await openLog(dir, testLogOptions());
    await appendRecords(first, 3);
    const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_LOCKED');
    expect(e.code).toBe(7005);
    expect(e.details['pid']).toBe(process.pid);
    // The refused open did not disturb the owner.
    await appendRecords(first, 2);
    await first.close();
    const second = await openLog(dir, testLogOptions());
    expect(second.lastSeq).toBe(5);
    await second.close();
  });

  it('a second process gets LOG_LOCKED too, and opens once the owner closes', async () => {
    const dir = tempDir();
    const owner = await openLog(dir, testLogOptions());
    await appendRecords(owner, 4);
    expect(await openFromAnotherProcess(dir)).toEqual({ ok: false, code: 7005, codeName: 'LOG_LOCKED' });
    await owner.close();
    expect(await openFromAnotherProcess(dir)).toEqual({ ok: true, lastSeq: 4 });
  });

  it('a stale lock from a dead pid is taken over', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await appendRecords(log, 2);
    await log.close();
    const lockFile = path.join(dir, 'LOCK');
    expect(fs.existsSync(lockFile)).toBe(false);
    const pid = deadPid();
    fs.writeFileSync(lockFile, JSON.stringify({ pid, start: '1', host: null }));
    const taken = await openLog(dir, testLogOptions());
    expect(taken.lastSeq).toBe(2);
    expect((JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { pid: number }).pid).toBe(process.pid);
    await taken.close();
    expect(fs.existsSync(lockFile)).toBe(false);
  });

  it('a lock naming a live pid with a different start time (a recycled pid) is taken over', async () => {
    const dir = tempDir();
    await (await openLog(dir, testLogOptions())).close();
    fs.writeFileSync(path.join(dir, 'LOCK'), JSON.stringify({ pid: process.pid, start: 'not-my-start-time', host: null }));
    const log = await openLog(dir, testLogOptions());
    await log.close();
  });

  it('a half-written (empty or garbled) lock file is taken over', async () => {
    for (const content of ['', '{"pid":', 'garbage']) {
      const dir = tempDir();
      await (await openLog(dir, testLogOptions())).close();
      fs.writeFileSync(path.join(dir, 'LOCK'), content);
      const log = await openLog(dir, testLogOptions());
      await log.close();
    }
  });

  it('two contenders for one stale lock: the one that moved the other\'s fresh lock aside puts it back and is refused', () => {
    const dir = tempDir();
    const file = path.join(dir, 'LOCK');
    fs.writeFileSync(file, JSON.stringify({ pid: deadPid(), start: null, host: null }));
    // Contender A takes the stale lock over between contender B's judging it stale and B's moving it aside.
    const a = JSON.stringify({ pid: process.pid, start: null, host: 'contender-a' });
    let err: unknown;
    try {
      lockDir(dir, {
        beforeTakeover: () => {
          fs.rmSync(file);
          fs.writeFileSync(file, a);
        },
      });
    } catch (e) {
      err = e;
    }
    expect(isWorldlineError(err, 'LOG_LOCKED')).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toBe(a);
    // Nothing is left aside.
    expect(fs.readdirSync(dir).sort()).toEqual(['LOCK']);
  });

  it('an open that fails (corrupt log) releases the lock', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await appendRecords(log, 5);
    await log.close();
    const seg = path.join(dir, 'segments', '00000000000000000001.wlseg');
    const good = fs.readFileSync(seg);
    const bad = Buffer.from(good);
    bad[0]! ^= 0xff;
    fs.writeFileSync(seg, bad);
    await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
    fs.writeFileSync(seg, good);
    const again = await openLog(dir, testLogOptions());
    expect(again.lastSeq).toBe(5);
    await again.close();
  });
});
