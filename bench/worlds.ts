/**
 * `npm run bench -- worlds`: what hosting more worlds costs a server with no clients. A real server (uWS, the log
 * under `batch`) hosts its configured default world, then N more worlds are created at runtime (the same way
 * POST /v1/worlds does) and deleted with purge. Reports, for each N: the time to create and to delete one world
 * (medians), the process's CPU (every thread, % of one core) and RSS while they tick idle, and what each world adds.
 * Every world ticks at 20 Hz on the server's one event loop and writes its log, so this is the floor a world costs
 * before any client joins.
 *
 *   npm run bench -- worlds [--world default] [--counts 10,50] [--seconds 8]   (smoke: 5 worlds, 2 s)
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { median, table, tmpDir, writeResult, type BenchOptions } from './lib.js';

interface Row extends Record<string, number | string> {
  worlds: number;
  create_ms: number;
  delete_ms: number;
  cpu_pct: number;
  rss_mb: number;
  cpu_pct_per_world: number;
  rss_mb_per_world: number;
}

async function idle(seconds: number): Promise<{ cpu: number; rss: number }> {
  // Let the new worlds' first snapshots and segment creation pass before measuring.
  await new Promise((r) => setTimeout(r, 1000));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const c = process.cpuUsage(c0);
  return { cpu: (100 * (c.user + c.system)) / 1000 / (performance.now() - t0), rss: process.memoryUsage().rss / 2 ** 20 };
}

export async function run(opts: BenchOptions & { args?: readonly string[] }): Promise<Row[]> {
  const { values } = parseArgs({ args: [...(opts.args ?? [])], options: { world: { type: 'string' }, counts: { type: 'string' }, seconds: { type: 'string' } }, allowPositionals: false });
  const world = values.world ?? 'default';
  const counts = (values.counts ?? (opts.smoke ? '5' : '10,50')).split(',').map(Number);
  const seconds = Number(values.seconds ?? (opts.smoke ? 2 : 8));
  const { loadConfig, startServer } = await import('../server/index.js');
  const dir = tmpDir('worlds');
  const srv = await startServer(loadConfig({ env: {}, overrides: { port: 0, dataDir: dir, logLevel: 'warn', maxWorlds: Math.max(...counts) + 1 } }));
  const rows: Row[] = [];
  try {
    const base = await idle(seconds);
    rows.push({ worlds: 1, create_ms: 0, delete_ms: 0, cpu_pct: base.cpu, rss_mb: base.rss, cpu_pct_per_world: 0, rss_mb_per_world: 0 });
    for (const n of counts) {
      const created: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await srv.createWorld({ id: `bench-${i}`, world });
        created.push(performance.now() - t);
      }
      const m = await idle(seconds);
      const deleted: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await srv.deleteWorld(`bench-${i}`, { purge: true });
        deleted.push(performance.now() - t);
      }
      rows.push({ worlds: n + 1, create_ms: median(created), delete_ms: median(deleted), cpu_pct: m.cpu, rss_mb: m.rss, cpu_pct_per_world: (m.cpu - base.cpu) / n, rss_mb_per_world: (m.rss - base.rss) / n });
    }
  } finally {
    await srv.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`worlds created at runtime from "${world}", idle (no clients), ${seconds} s each, CPU of every thread`);
  console.log(table(rows));
  console.log(`  -> ${writeResult('worlds', { command: `npm run bench -- worlds${opts.smoke ? ' --smoke' : ''}`, world, seconds, smoke: opts.smoke, rows })}`);
  return rows;
}
