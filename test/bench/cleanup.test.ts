import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'orphan-runner.ts');

/** Running and not a zombie (a zombie waits for a reaper; it runs nothing). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

const leftovers: number[] = [];
afterEach(() => {
  for (const pid of leftovers.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe.skipIf(process.platform !== 'linux')('bench cleanup', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`a bench stopped by ${signal} kills its children and removes its scratch directory`, async () => {
      const runner = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      runner.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => runner.once('exit', (code, sig) => r({ code, signal: sig })));
      expect(await waitFor(() => out.includes('\n'), 20_000)).toBe(true);
      const { pid, dir } = JSON.parse(out.trim()) as { pid: number; dir: string };
      leftovers.push(pid);
      expect(alive(pid)).toBe(true);
      expect(fs.existsSync(dir)).toBe(true);
      runner.kill(signal);
      const end = await exited;
      expect(end).toEqual({ code: signal === 'SIGTERM' ? 143 : 130, signal: null });
      expect(await waitFor(() => !alive(pid), 5000)).toBe(true);
      expect(fs.existsSync(dir)).toBe(false);
    }, 30_000);
  }
});
