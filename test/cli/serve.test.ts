/**
 * `worldline serve`'s first lines: where it listens, and development tokens only while nothing but this machine can
 * reach it (beyond loopback, its output is likely kept in logs, and an admin token there is a key left lying about).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runServe, runToken } from '../../server/cli/serve.js';
import { hostedWorlds, loadConfig } from '../../server/config.js';
import { ipv6LoopbackProblem } from '../helpers/ipv6.js';

const noIpv6 = await ipv6LoopbackProblem();

async function serveOutput(overrides: Record<string, unknown> & { config?: string }, prepare?: (dir: string) => void): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-'));
  const lines: string[] = [];
  try {
    prepare?.(dir);
    const { config, ...keys } = overrides;
    const code = await runServe({ config, overrides: { port: 0, dataDir: dir, logLevel: 'silent', ...keys } }, { out: (l) => lines.push(l), err: (l) => lines.push(l) }, { waitForSignal: false });
    expect(code).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return lines.join('\n');
}

describe('worldline serve', () => {
  it('on loopback: the URL, health, and two development tokens', async () => {
    const out = await serveOutput({ host: '127.0.0.1' });
    expect(out).toMatch(/^worldline serving world "default" at ws:\/\/127\.0\.0\.1:\d+\/v1\/worlds\/default\/ws/);
    expect(out).toMatch(/dev token, agent "agent-1" \(24 h\): ey/);
    expect(out).toMatch(/dev token, admin \(24 h\): +ey/);
  });

  it('beyond loopback: the URL and how to mint tokens, but no token', async () => {
    const out = await serveOutput({ host: '0.0.0.0' });
    expect(out).toMatch(/^worldline serving world "default" at ws:\/\/0\.0\.0\.0:\d+\//);
    expect(out).toMatch(/tokens: npx worldline token --agent NAME .* \(none printed: the server listens on 0\.0\.0\.0\)/);
    expect(out).not.toMatch(/ey[A-Za-z0-9_-]{10,}\./);
  });

  it.skipIf(noIpv6 !== '')(`on IPv6 loopback: the URLs it prints bracket the address (ws://[::1]:PORT/...), and tokens are printed${noIpv6 ? ` [skipped: ${noIpv6}]` : ''}`, async () => {
    const out = await serveOutput({ host: '::1' });
    expect(out).toMatch(/^worldline serving world "default" at ws:\/\/\[::1\]:\d+\/v1\/worlds\/default\/ws/);
    expect(out).toMatch(/health: http:\/\/\[::1\]:\d+\/readyz {3}metrics: http:\/\/\[::1\]:\d+\/metrics/);
    expect(out).toMatch(/dev token, admin \(24 h\): +ey/);
  });

  it('several worlds: the URL and tenant of each, and tokens for each', async () => {
    const out = await serveOutput({ worlds: ['north=default', 'acme/talk=conversation'] });
    expect(out).toMatch(/^worldline serving world "north" \(tenant default\) at ws:\/\/127\.0\.0\.1:\d+\/v1\/worlds\/north\/ws/m);
    expect(out).toMatch(/^worldline serving world "talk" \(tenant acme\) at ws:\/\/127\.0\.0\.1:\d+\/v1\/worlds\/talk\/ws/m);
    const tokens = [...out.matchAll(/dev token, agent "agent-1" \(24 h\): (ey\S+)/g)].map((m) => JSON.parse(Buffer.from(m[1]!.split('.')[1]!, 'base64url').toString()) as Record<string, string>);
    expect(tokens.map((t) => [t['tenant'], t['world']])).toEqual([['default', 'north'], ['acme', 'talk']]);
    expect(out).toMatch(/more tokens: npx worldline token --agent NAME .* --world ID/);
  });

  it('worlds created at runtime (back after a restart) are named on one line, without tokens each', async () => {
    const out = await serveOutput({}, (dir) => {
      const made = (id: string): Record<string, string> => ({ id, tenant: 'default', world: 'default', source: 'default', created_at: '2026-11-21T00:00:00Z' });
      fs.writeFileSync(path.join(dir, 'created-worlds.json'), JSON.stringify({ schema_version: 1, worlds: [made('m1'), made('m2')] }));
    });
    expect(out).toMatch(/^worldline serving world "default" \(tenant default\) at ws:/m);
    expect(out).not.toMatch(/serving world "m1"/);
    expect(out).toMatch(/^ {2}and 2 worlds created at runtime \(GET \/v1\/worlds lists them\): m1, m2$/m);
    expect([...out.matchAll(/dev token, agent/g)]).toHaveLength(1);
  });

  it('the command line: --world given twice hosts both (a module among them), and SIGTERM closes both', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-cli-'));
    const repo = path.resolve(import.meta.dirname, '../..');
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/arena/serve-entry.ts', 'serve', '--world', 'north=default', '--world', './test/fixtures/worlds/market.mjs', '--port', '0', '--data', dir], { cwd: repo, env: { ...process.env, WORLDLINE_LOG_LEVEL: 'warn' } });
    try {
      let out = '';
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no URLs within 30 s: ${out}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (/health:/.test(out)) {
            clearTimeout(t);
            resolve();
          }
        });
        child.once('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      expect(out).toMatch(/serving world "north" \(tenant default\) at ws:\/\/127\.0\.0\.1:\d+\/v1\/worlds\/north\/ws/);
      expect(out).toMatch(/serving world "market" \(tenant default\) at ws:\/\/127\.0\.0\.1:\d+\/v1\/worlds\/market\/ws/);
      const code = new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
      child.kill('SIGTERM');
      expect(await code).toBe(0);
      expect(fs.readdirSync(path.join(dir, 'worlds')).sort()).toEqual(['market', 'north']);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("Ctrl-C (SIGINT), as the README says: a going-away close for a connected client, the log flushed to its last seq, exit 0; a restart opens the world at that seq", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-sigint-'));
    const repo = path.resolve(import.meta.dirname, '../..');
    const start = (): { child: ReturnType<typeof spawn>; url: Promise<string>; out: () => string } => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'bench/arena/serve-entry.ts', 'serve', '--port', '0', '--data', dir], { cwd: repo, env: { ...process.env, WORLDLINE_LOG_LEVEL: 'info' } });
      let out = '';
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const url = new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no URL within 30 s: ${out}`)), 30_000);
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /at (ws:\/\/\S+) .*\n[\s\S]*health:/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(m[1]!);
          }
        });
        child.once('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      return { child, url, out: () => out };
    };
    const first = start();
    let second: ReturnType<typeof start> | undefined;
    try {
      const url = await first.url;
      const tok = /dev token, agent "agent-1" \(24 h\): (\S+)/.exec(first.out())![1]!;
      const ws = new WebSocket(`${url}?token=${tok}`, 'worldline.v1.json');
      const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
      await new Promise((resolve) => ws.addEventListener('open', resolve));
      ws.send(JSON.stringify({ type: 'hello', agent_id: 'agent-1', schema_version: '1.0.0' }));
      await new Promise((resolve) => ws.addEventListener('message', resolve, { once: true }));
      const code = new Promise((resolve) => first.child.once('exit', (c, sig) => resolve(c ?? sig)));
      first.child.kill('SIGINT');
      expect(await code).toBe(0);
      expect(await closed).toBe(1001);
      expect(first.out()).toMatch(/SIGINT: shutting down/);
      const lastSeq = Number(/"lastSeq":(\d+),"msg":"shut down cleanly"/.exec(first.out())?.[1]);
      expect(lastSeq).toBeGreaterThan(0);
      second = start();
      await second.url;
      expect(Number(/"lastSeq":(\d+),"globalSeq":\d+,"restoredDeltas":\d+,"msg":"world open"/.exec(second.out())?.[1])).toBe(lastSeq);
    } finally {
      first.child.kill('SIGKILL');
      second?.child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--world on the command line replaces the worlds (and worldId) of the config file and the environment', async () => {
    // Flags come last and take precedence (docs/server.md, Configuration): worlds set lower down must not win over them.
    expect(hostedWorlds(loadConfig({ env: { WORLDLINE_WORLDS: 'lobby=default' }, overrides: { world: 'arena' } }))).toEqual([{ id: 'arena', tenant: 'default', world: 'arena' }]);
    expect(hostedWorlds(loadConfig({ env: { WORLDLINE_WORLD: 'conversation', WORLDLINE_WORLD_ID: 'talk' }, overrides: { world: 'arena' } }))).toEqual([{ id: 'arena', tenant: 'default', world: 'arena' }]);
    // Several --world flags are the worlds list; without a flag the environment's worlds stay.
    expect(hostedWorlds(loadConfig({ env: { WORLDLINE_WORLDS: 'lobby=default' }, overrides: { worlds: ['a=arena', 'b=default'] } })).map((w) => w.id)).toEqual(['a', 'b']);
    expect(hostedWorlds(loadConfig({ env: { WORLDLINE_WORLDS: 'lobby=default' } })).map((w) => w.id)).toEqual(['lobby']);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-cfg-')), 'worldline.config.json');
    fs.writeFileSync(file, JSON.stringify({ worlds: ['lobby=default'] }));
    try {
      const out = await serveOutput({ config: file, world: 'arena' });
      expect(out).toMatch(/^worldline serving world "arena" at ws:\/\/127\.0\.0\.1:\d+\/v1\/worlds\/arena\/ws/);
      expect(out).not.toMatch(/lobby/);
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('stdout closed by its reader (serve | head -1): the server keeps answering, and SIGTERM still shuts it down gracefully, exit 0', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-epipe-'));
    const repo = path.resolve(import.meta.dirname, '../..');
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/arena/serve-entry.ts', 'serve', '--port', '0', '--data', dir], { cwd: repo, env: { ...process.env, WORLDLINE_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | string | null>((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
      const health = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no health URL within 30 s: ${out}${err}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /health: (\S+)/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(m[1] as string);
          }
        });
        child.once('exit', () => reject(new Error(`exited early: ${out}${err}`)));
      });
      // The reader goes away: every later write to the child's stdout fails with EPIPE.
      child.stdout.destroy();
      expect((await fetch(health)).status).toBe(200);
      // Records to snapshot at shutdown (the wandering NPCs'): the log grows (bounded wait).
      const segments = path.join(dir, 'worlds', 'default', 'segments');
      const logBytes = (): number => fs.readdirSync(segments).reduce((n, f) => n + fs.statSync(path.join(segments, f)).size, 0);
      const before = logBytes();
      for (let i = 0; i < 100 && logBytes() <= before; i++) await new Promise((r) => setTimeout(r, 100));
      // Shutting down writes to stdout (a line saying so, the log's last lines): dropped, not a crash nor a hang.
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running 20 s after SIGTERM'), 20_000))]);
      expect(code, err).toBe(0);
      expect(err).not.toMatch(/EPIPE|Unhandled|Error/);
      // The graceful shutdown ran to its end: the final snapshot is written, and the log closed (its lock let go).
      expect(fs.existsSync(path.join(dir, 'worlds', 'default', 'LOCK'))).toBe(false);
      expect(fs.readdirSync(path.join(dir, 'worlds', 'default', 'snapshots')).filter((f) => f.endsWith('.wlsnap')).length).toBeGreaterThan(0);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('token --world picks a hosted world (configured or created at runtime) by id, with its tenant; without it, the first world', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-token-'));
    const claims = async (world: string | undefined): Promise<Record<string, string>> => {
      const lines: string[] = [];
      // stdout has the token alone (stderr, the first time, says a new secret was made).
      expect(await runToken({ agent: 'bob', world, overrides: { dataDir: dir, worlds: ['north=default', 'acme/talk=conversation'] } }, { out: (l) => lines.push(l), err: () => undefined })).toBe(0);
      return JSON.parse(Buffer.from(lines[0]!.split('.')[1]!, 'base64url').toString()) as Record<string, string>;
    };
    try {
      expect(await claims('talk')).toMatchObject({ tenant: 'acme', world: 'talk', agent: 'bob', role: 'agent' });
      expect(await claims(undefined)).toMatchObject({ tenant: 'default', world: 'north' });
      expect(await claims('elsewhere')).toMatchObject({ tenant: 'default', world: 'elsewhere' });
      // A world created at runtime (listed in DATA/created-worlds.json), with its tenant.
      fs.writeFileSync(path.join(dir, 'created-worlds.json'), JSON.stringify({ schema_version: 1, worlds: [{ id: 'match-7', tenant: 'acme', world: 'arena', source: 'arena', created_at: '2026-11-21T00:00:00Z' }] }));
      expect(await claims('match-7')).toMatchObject({ tenant: 'acme', world: 'match-7' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the printed token command names what serve was told: its data folder, its one world and tenant; the token it makes is accepted', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-hint-'));
    try {
      const lines: string[] = [];
      const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
      expect(await runServe({ overrides: { port: 0, dataDir: dir, logLevel: 'silent', worlds: ['acme/talk=conversation'] } }, io, { waitForSignal: false })).toBe(0);
      const hint = lines.find((l) => l.includes('more tokens:'))!;
      expect(hint).toContain(`--data ${dir}`);
      expect(hint).toContain('--world talk --tenant acme');
      // Typed as printed (its flags parsed as main.ts does), it signs with the server's secret and names its world.
      const flags = hint.slice(hint.indexOf('token ') + 6).replace('[--role agent|viewer|engine|admin] ', '').split(' ');
      const v = Object.fromEntries(flags.flatMap((f, i) => (f.startsWith('--') ? [[f.slice(2), flags[i + 1]]] : [])));
      const out: string[] = [];
      const errs: string[] = [];
      expect(await runToken({ agent: 'bob', world: v['world'], tenant: v['tenant'], overrides: { dataDir: v['data'] } }, { out: (l) => out.push(l), err: (l) => errs.push(l) })).toBe(0);
      expect(errs).toEqual([]);
      expect(JSON.parse(Buffer.from(out[0]!.split('.')[1]!, 'base64url').toString())).toMatchObject({ tenant: 'acme', world: 'talk', agent: 'bob' });
      const { createAuthenticator } = await import('../../server/transport/auth.js');
      const auth = createAuthenticator({ authMode: 'jwt', jwtSecretFile: '', jwtPublicKeyFile: '', jwksFile: '', jwtIssuer: '', jwtAudience: '', tokensFile: '', dataDir: dir });
      expect(await auth.authenticate(out[0]!)).toMatchObject({ tenant: 'acme', world: 'talk', agent: 'bob' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('token in a data folder no server has used warns on stderr that it made a new secret', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-token-new-'));
    try {
      const out: string[] = [];
      const errs: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => errs.push(l) };
      expect(await runToken({ agent: 'bob', overrides: { dataDir: dir } }, io)).toBe(0);
      expect(out).toHaveLength(1);
      expect(errs.join('\n')).toMatch(/did not exist, so a new secret was made there: this token works only with a server started with --data/);
      // The second time the secret is there: no warning.
      expect(await runToken({ agent: 'bob', overrides: { dataDir: dir } }, io)).toBe(0);
      expect(errs).toHaveLength(1);
      // An engine token that names an agent is issued (it observes the agent) but can never drive the world: said.
      expect(await runToken({ agent: 'bob', role: 'engine', overrides: { dataDir: dir } }, io)).toBe(0);
      expect(errs[1]).toMatch(/engine token with --agent bob observes that agent and never drives the world/);
      expect(await runToken({ role: 'engine', overrides: { dataDir: dir } }, io)).toBe(0);
      expect(errs).toHaveLength(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with a static token file: where it listens is still printed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-tokens-'));
    const file = path.join(dir, 'tokens.json');
    fs.writeFileSync(file, JSON.stringify({ 's3cret-token-value-1234': { tenant: 'default', world: 'default', agent: 'a1', role: 'agent' } }));
    try {
      const out = await serveOutput({ authMode: 'tokens', tokensFile: file });
      expect(out).toMatch(/^worldline serving world "default" at ws:\/\//);
      expect(out).not.toMatch(/s3cret/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
