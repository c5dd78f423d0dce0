/**
 * REST intents on a world as it is deleted: one queued before the deletion is committed (the deletion, as a shutdown,
 * commits queued intents before the log closes) and answered; one whose request reached the world before and whose
 * body arrives after is refused WORLD_NOT_FOUND. Both were never answered: the tick loop had stopped.
 */
import fs from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, token, type TestServer } from './harness.js';

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms))]);

async function post(srv: TestServer, p: string, tok: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${srv.httpUrl}${p}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const spawn = (agent: string, reqId: string, x: number): unknown => ({ intent: { req_id: reqId, kind: 'Spawn', payload: { entity_id: agent, fields: { x, y: 5 } }, context_seq: 0 } });

describe('REST intents on a world being deleted', () => {
  let srv: TestServer;
  beforeAll(async () => {
    // Long ticks: an intent waits in the queue up to a second for its quantum.
    srv = await startTestServer({ world: 'default', tickMs: 1000 });
  });
  afterAll(async () => {
    await srv.shutdown();
    fs.rmSync(srv.dataDir, { recursive: true, force: true });
  });

  it('an intent queued when the deletion starts is committed and answered; the world carries on with it when created again', async () => {
    await srv.createWorld({ id: 'queued', world: 'arena' });
    const tok = await token(srv, 'quinn', 'agent', { world: 'queued' });
    const host = srv.worlds.find((w) => w.id === 'queued')?.host;
    const answer = post(srv, '/v1/worlds/queued/intents', tok, spawn('quinn', 'q1', 7));
    for (const until = Date.now() + 3000; host?.runtime.pendingIntents !== 1 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 2));
    expect(host?.runtime.pendingIntents).toBe(1);
    await srv.deleteWorld('queued');
    const out = await within(answer, 5000, 'the queued intent');
    expect([out.status, out.json['status']]).toEqual([200, 'committed']);
    await srv.createWorld({ id: 'queued', world: 'arena' });
    const again = await post(srv, '/v1/worlds/queued/intents', tok, spawn('quinn', 'q1', 7));
    expect([again.json['status'], again.json['global_seq']]).toEqual(['committed', out.json['global_seq']]);
    await srv.deleteWorld('queued', { purge: true });
  });

  it.each([
    ['an intent', 'intents', 'agent'],
    ['an emit', 'emit', 'admin'],
  ] as const)('%s whose body arrives after the deletion started is refused WORLD_NOT_FOUND', async (_what, route, role) => {
    await srv.createWorld({ id: 'slow', world: 'arena' });
    const tok = await token(srv, role === 'agent' ? 'sid' : undefined, role, { world: 'slow' });
    const body = JSON.stringify(route === 'intents' ? spawn('sid', 's1', 9) : { kind: 'Walk', payload: { steps: [] } });
    const url = new URL(`${srv.httpUrl}/v1/worlds/slow/${route}`);
    const answer = new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      // Half the body: the server has found the world and waits for the rest.
      req.write(body.slice(0, 10));
      setTimeout(() => {
        void srv.deleteWorld('slow', { purge: true }).then(() => req.end(body.slice(10)), reject);
      }, 200);
    });
    const out = await within(answer, 5000, `the late ${route}`);
    expect(out.status).toBe(404);
    expect(out.json['error']).toMatchObject({ name: 'WORLD_NOT_FOUND', details: { world: 'slow' } });
  });
});
