/**
 * The data directory's lock after a kill -9: the killed server stays a zombie until its parent reaps it (seen for about
 * a second after `kill -9` in a container), and a zombie still answers kill(pid, 0). Its lock is stale all the same.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockDir } from '../../server/log/lock.js';

const procState = (pid: number): { state: string; start: string } | undefined => {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] as string, start: fields[19] as string };
  } catch {
    return undefined;
  }
};

describe.runIf(fs.existsSync('/proc/self/stat'))('a lock held by a zombie', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const fn of cleanup.splice(0)) fn();
  });

  it('is taken over: the process is dead, only not reaped yet', async () => {
    // `sleep 0` runs in the background of a shell that then becomes `sleep 5`, which never waits for its child: the
    // child stays a zombie until `sleep 5` ends.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    cleanup.push(() => parent.kill('SIGKILL'));
    const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
    let seen = procState(pid);
    for (const until = Date.now() + 3000; seen?.state !== 'Z' && Date.now() < until; seen = procState(pid)) await new Promise((r) => setTimeout(r, 10));
    expect(seen?.state).toBe('Z');
    // It answers kill(pid, 0) as a live process would.
    expect(process.kill(pid, 0)).toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-zombie-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'LOCK'), JSON.stringify({ pid, start: seen?.start, host: null }));
    const lock = lockDir(dir);
    expect((JSON.parse(fs.readFileSync(path.join(dir, 'LOCK'), 'utf8')) as { pid: number }).pid).toBe(process.pid);
    lock.release();
    expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
  });
});
