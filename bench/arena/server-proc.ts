/**
 * The server under test as a child process: `worldline serve` on 127.0.0.1, port 0, a fresh data directory, the
 * log on under `batch`, run from source with tsx (default; always the code in the tree) or from dist/ (`npm run
 * build` first). The server refuses to start on the uWS `ws` shim, so a run here is always native uWS.
 * Also reads the server's CPU and memory from /proc and scrapes /metrics.
 */
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from '../cleanup.js';
import { parseProcStat, parseProcStatTotals, parseProcStatusKb } from './stats.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServerProcess {
  readonly pid: number;
  readonly wsUrl: string;
  readonly httpBase: string;
  readonly worldId: string;
  readonly dataDir: string;
  readonly secret: string;
  readonly output: () => string;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  readonly world: string;
  readonly dataDir: string;
  readonly tickMs: number;
  /** 'tsx': node --import tsx server/cli (the source); 'dist': node bin/worldline.js (needs npm run build). */
  readonly from: 'tsx' | 'dist';
  readonly env?: Readonly<Record<string, string>>;
  readonly startTimeoutMs?: number;
  /** Extra node options before the script (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
}

/** Whatever happens to the runner (an exit, an error, a signal), its children die with it: bench/cleanup.ts. */
export { track };

export async function spawnServer(o: SpawnOptions): Promise<ServerProcess> {
  fs.mkdirSync(o.dataDir, { recursive: true });
  const args = [...(o.nodeArgs ?? []), ...(o.from === 'dist'
    ? [path.join(repo, 'bin', 'worldline.js'), 'serve']
    : ['--import', 'tsx', path.join(repo, 'bench', 'arena', 'serve-entry.ts'), 'serve'])];
  args.push('--port', '0', '--host', '127.0.0.1', '--data', o.dataDir, '--world', o.world);
  const child = spawn(process.execPath, args, {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      WORLDLINE_DURABILITY: 'batch',
      WORLDLINE_TICK_MS: String(o.tickMs),
      WORLDLINE_LOG_LEVEL: 'warn',
      ...o.env,
    },
  });
  track(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const deadline = Date.now() + (o.startTimeoutMs ?? 30_000);
  let wsUrl: string | undefined;
  while (!wsUrl) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before listening:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start within ${o.startTimeoutMs ?? 30_000} ms:\n${out}`);
    }
    wsUrl = /at (ws:\/\/127\.0\.0\.1:\d+\/v1\/worlds\/[^/\s]+\/ws)/.exec(out)?.[1];
    if (!wsUrl) await new Promise((r) => setTimeout(r, 50));
  }
  const u = new URL(wsUrl);
  const httpBase = `http://${u.host}`;
  await waitReady(httpBase, deadline);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  return {
    pid: child.pid!, wsUrl, httpBase, dataDir: o.dataDir,
    worldId: decodeURIComponent(u.pathname.split('/')[3] ?? ''),
    secret: fs.readFileSync(path.join(o.dataDir, 'jwt-secret'), 'utf8').trim(),
    output: () => out,
    stop,
  };
}

/** Polls GET /readyz until 200. */
export async function waitReady(httpBase: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      const r = await fetch(`${httpBase}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${httpBase}/readyz not ready in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let clkTck: number | undefined;
/** Clock ticks per second for /proc CPU times (getconf CLK_TCK; 100 on Linux in practice). */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export function readCpu(pid: number): { utime: number; stime: number } | undefined {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The machine's CPU totals now (Linux /proc/stat), or undefined elsewhere. */
export function readMachineCpu(): { busy: number; total: number } | undefined {
  try {
    return parseProcStatTotals(fs.readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

export function readMem(pid: number): { hwmKb: number | undefined; rssKb: number | undefined } {
  try {
    const t = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return { hwmKb: parseProcStatusKb(t, 'VmHWM'), rssKb: parseProcStatusKb(t, 'VmRSS') };
  } catch {
    return { hwmKb: undefined, rssKb: undefined };
  }
}

export async function scrapeMetrics(httpBase: string): Promise<string> {
  try {
    const r = await fetch(`${httpBase}/metrics`, { signal: AbortSignal.timeout(5000) });
    return r.ok ? await r.text() : '';
  } catch {
    return '';
  }
}
