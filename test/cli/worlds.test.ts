/**
 * `worldline worlds`: a running server's worlds from the shell, with an admin token it signs from the data
 * directory's secret: create, list, get, sessions, delete, and the errors a user meets (unknown world, bad usage,
 * no server at the address).
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { main } from '../../server/cli/main.js';
import { sharedTestServer, withServer } from '../e2e/harness.js';
import { ipv6LoopbackProblem } from '../helpers/ipv6.js';

const server = sharedTestServer();
const noIpv6 = await ipv6LoopbackProblem();

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('worldline worlds', () => {
  it('creates, lists, describes and deletes a world on a running server', async () => {
    const at = ['--url', server().httpUrl, '--data', server().dataDir];
    const made = await run('worlds', 'create', 'cli-1', 'arena', '--idle', '600', ...at);
    expect(made.code, made.err).toBe(0);
    expect(JSON.parse(made.out)).toMatchObject({ id: 'cli-1', world: 'arena', tenant: 'default', delete_after_idle_sec: 600 });
    const list = await run('worlds', 'list', ...at);
    expect((JSON.parse(list.out) as { worlds: Array<{ id: string }> }).worlds.map((w) => w.id)).toEqual(['default', 'cli-1']);
    expect(JSON.parse((await run('worlds', 'get', 'cli-1', ...at)).out)).toMatchObject({ id: 'cli-1', healthy: true });
    expect(JSON.parse((await run('worlds', 'sessions', 'cli-1', ...at)).out)).toEqual({ sessions: [] });
    const gone = await run('worlds', 'delete', 'cli-1', '--purge', ...at);
    expect(JSON.parse(gone.out)).toEqual({ id: 'cli-1', purged: true });
    expect(server().worlds.map((w) => w.id)).toEqual(['default']);
    // --port (and --host) find a server as serve's own flags would have placed it.
    const byPort = await run('worlds', 'list', '--port', String(server().port), '--data', server().dataDir);
    expect((JSON.parse(byPort.out) as { worlds: Array<{ id: string }> }).worlds.map((w) => w.id)).toEqual(['default']);
  });

  it.skipIf(noIpv6 !== '')(`finds a server listening on IPv6 loopback with --host ::1, at the URLs the server gives${noIpv6 ? ` [skipped: ${noIpv6}]` : ''}`, async () => {
    await withServer({ host: '::1' }, async (srv) => {
      expect(srv.httpUrl).toBe(`http://[::1]:${srv.port}`);
      expect((await fetch(`${srv.httpUrl}/readyz`)).status).toBe(200);
      expect(new URL(srv.wsUrl).port).toBe(String(srv.port));
      const list = await run('worlds', 'list', '--host', '::1', '--port', String(srv.port), '--data', srv.dataDir);
      expect(list.code, list.err).toBe(0);
      expect((JSON.parse(list.out) as { worlds: Array<{ id: string }> }).worlds.map((w) => w.id)).toEqual(['default']);
    });
  });

  it("says what went wrong: the server's error, a usage error, no server at the address", async () => {
    const missing = await run('worlds', 'get', 'nowhere', '--url', server().httpUrl, '--data', server().dataDir);
    expect([missing.code, missing.err]).toEqual([1, 'worldline: WORLD_NOT_FOUND (5006): no world "nowhere" here: GET /v1/worlds lists the worlds your token reaches']);
    const usage = await run('worlds', 'create', 'only-an-id', '--url', server().httpUrl, '--data', server().dataDir);
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('usage: worldline worlds list | get ID | create ID WORLD');
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const down = await run('worlds', 'list', '--url', `http://127.0.0.1:${port}`, '--data', server().dataDir);
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/^worldline: ADAPTER_UNAVAILABLE \(6001\): no answer from http:\/\/127\.0\.0\.1:\d+ \(fetch failed\): is the server running there\? give its address with --url$/);
  });
});
