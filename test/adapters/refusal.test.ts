/**
 * The SDK when the server refuses the WebSocket upgrade with an HTTP response: a final refusal (an unknown world, a
 * bad query token) ends the agent at once with the server's error instead of being retried maxAttempts times, while
 * a transient one (a server starting or draining answers 503) is retried with backoff like a lost connection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { Agent, refusalError, type AgentEvents } from '../../adapters/client/index.js';
import { isWorldlineError, type WorldlineError } from '../../server/errors.js';
import { sharedTestServer, token } from '../e2e/harness.js';

const server = sharedTestServer();

/** The server's count of refused upgrades (from /metrics). */
async function refusedUpgrades(): Promise<number> {
  const text = await (await fetch(`${server().httpUrl}/metrics`)).text();
  // Every code's series: an attempt refused for any reason counts once.
  const lines = text.split('\n').filter((l) => l.startsWith('worldline_upgrades_refused_total{code="'));
  return lines.reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

/** Starts an agent and records its drops and error events until it is welcomed or leaves. */
async function attempt(url: string, tok: string): Promise<{ error: unknown; drops: Array<AgentEvents['drop']>; errors: WorldlineError[]; agent: Agent }> {
  // Backoff this long would take over a minute to exhaust: a test that passes did not retry.
  const agent = new Agent(url, { token: tok, agentId: 'refused', WebSocket, pingIntervalMs: 0, reconnect: { initialDelayMs: 20, maxDelayMs: 2000, maxAttempts: 50 } });
  const drops: Array<AgentEvents['drop']> = [];
  const errors: WorldlineError[] = [];
  agent.on('drop', (d) => drops.push(d));
  agent.on('error', (e) => errors.push(e));
  const error = await agent.ready().then(
    () => undefined,
    (err: unknown) => err,
  );
  return { error, drops, errors, agent };
}

describe('client SDK: a refused WebSocket upgrade', () => {
  it('an unknown world ends the agent with WORLD_NOT_FOUND after one attempt', async () => {
    const before = await refusedUpgrades();
    const url = server().wsUrl.replace(/\/v1\/worlds\/[^/]+\/ws/, '/v1/worlds/nowhere/ws');
    const r = await attempt(url, await token(server(), 'refused'));
    expect(isWorldlineError(r.error, 'WORLD_NOT_FOUND')).toBe(true);
    expect((r.error as WorldlineError).message).toContain('no world "nowhere" here');
    expect((r.error as WorldlineError).details).toMatchObject({ http_status: 404 });
    expect(r.drops).toEqual([]);
    expect(r.agent.closed).toBe(true);
    expect((await refusedUpgrades()) - before).toBe(1);
    // Whatever it is asked next says why it left, act() as submit() does (not a bare "closed").
    await expect(r.agent.submit({ kind: 'Speak', payload: { text: 'hi' } })).rejects.toMatchObject({ codeName: 'WORLD_NOT_FOUND' });
    await expect(r.agent.act(async () => ({ kind: 'Speak', payload: { text: 'hi' } }))).rejects.toMatchObject({ codeName: 'WORLD_NOT_FOUND' });
  });

  it('a query token that is not a token ends the agent with UNAUTHORIZED after one attempt', async () => {
    const before = await refusedUpgrades();
    const r = await attempt(`${server().wsUrl}?token=not-a-token`, await token(server(), 'refused'));
    expect(isWorldlineError(r.error, 'UNAUTHORIZED')).toBe(true);
    expect(r.drops).toEqual([]);
    expect((await refusedUpgrades()) - before).toBe(1);
  });

  it('a 503 is retried with backoff; a bare 404 from something else then ends it, saying to check the URL', async () => {
    // Not a Worldline server: twice "starting" (Worldline's 503 body), then a plain-text 404 as a proxy would send.
    let upgrades = 0;
    const other = http.createServer((_req, res) => res.writeHead(400).end());
    other.on('upgrade', (_req, socket) => {
      upgrades++;
      const [status, type, body] = upgrades <= 2 ? [503, 'application/json', JSON.stringify({ error: { code: 7018, name: 'SERVER_UNAVAILABLE', message: 'server is starting: retry shortly', recovery: 'RETRY_WITH_DELAY', details: {} } })] : [404, 'text/plain', 'Not Found'];
      socket.end(`HTTP/1.1 ${status} X\r\ncontent-type: ${type}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const port = (other.address() as AddressInfo).port;
      const r = await attempt(`ws://127.0.0.1:${port}/v1/worlds/w/ws`, 't');
      expect(upgrades).toBe(3);
      expect(r.errors.map((e) => [e.codeName, e.message, e.details['http_status']])).toEqual([
        ['SERVER_UNAVAILABLE', 'server is starting: retry shortly', 503],
        ['SERVER_UNAVAILABLE', 'server is starting: retry shortly', 503],
      ]);
      expect(r.drops.map((d) => [d.code, d.willReconnect])).toEqual([
        [1006, true],
        [1006, true],
      ]);
      expect(isWorldlineError(r.error, 'WORLD_NOT_FOUND')).toBe(true);
      expect((r.error as WorldlineError).message).toBe(`the server answered the WebSocket upgrade to ws://127.0.0.1:${port}/v1/worlds/w/ws with HTTP 404 and no Worldline error: check the URL's host, port and path (/v1/worlds/{worldId}/ws)`);
    } finally {
      other.closeAllConnections();
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('names the error from the status when the body is not a Worldline error', () => {
    const name = (status: number, body = ''): string => refusalError('ws://h/v1/worlds/w/ws', status, body).codeName;
    expect([401, 403, 404, 400, 426, 429, 408, 500, 502, 503].map((s) => name(s))).toEqual(['UNAUTHORIZED', 'FORBIDDEN', 'WORLD_NOT_FOUND', 'CONFIG_INVALID', 'CONFIG_INVALID', 'ADAPTER_UNAVAILABLE', 'ADAPTER_UNAVAILABLE', 'ADAPTER_UNAVAILABLE', 'ADAPTER_UNAVAILABLE', 'ADAPTER_UNAVAILABLE']);
    expect(name(403, '{"error":{"code":5004,"name":"TENANT_ISOLATION_VIOLATION","message":"m"}}')).toBe('TENANT_ISOLATION_VIOLATION');
    expect(name(502, '{"error":"bad gateway"}')).toBe('ADAPTER_UNAVAILABLE');
  });
});
