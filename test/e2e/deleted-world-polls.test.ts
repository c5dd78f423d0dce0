/**
 * A REST agent's long poll (GET .../observe?after=N) on a world created at runtime: it keeps an idle-limited world
 * alive for as long as it waits (docs/server.md), and when the world is deleted under it, it is told so
 * (WORLD_NOT_FOUND, as every later request is), not that the server is shutting down and to poll again.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestServer, type TestServer, token } from './harness.js';

const hosted = (srv: TestServer, id: string): boolean => srv.worlds.some((w) => w.id === id);

/** Spawns `agent` where the default world's NPCs never come (it sees nothing change) and returns its view_seq. */
async function spawnAlone(srv: TestServer, world: string, agent: string): Promise<{ tok: string; viewSeq: number }> {
  const tok = await token(srv, agent, 'agent', { world });
  const spawned = await call(srv, 'POST', `/v1/worlds/${world}/intents`, tok, { intent: { req_id: 's', kind: 'Spawn', payload: { entity_id: agent, fields: { x: 500, y: 500 } }, context_seq: 0 } });
  expect(spawned.json['status']).toBe('committed');
  const seen = await call(srv, 'GET', `/v1/worlds/${world}/agents/${agent}/observe`, tok);
  return { tok, viewSeq: seen.json['view_seq'] as number };
}

describe('long polls on worlds created at runtime', () => {
  let srv: TestServer;
  let admin: string;
  beforeAll(async () => {
    srv = await startTestServer({ world: 'default' });
    admin = await token(srv, undefined, 'admin');
  });
  afterAll(async () => {
    await srv.shutdown();
    fs.rmSync(srv.dataDir, { recursive: true, force: true });
  });

  it('a waiting long poll keeps an idle-limited world alive; the idle time counts from when it answers', async () => {
    expect((await call(srv, 'POST', '/v1/worlds', admin, { id: 'polled', world: 'default', delete_after_idle_sec: 1, purge_on_delete: true })).status).toBe(201);
    const { tok, viewSeq } = await spawnAlone(srv, 'polled', 'pat');
    const started = Date.now();
    const poll = await call(srv, 'GET', `/v1/worlds/polled/agents/pat/observe?after=${viewSeq}&timeout_ms=3500`, tok);
    // Nothing changed in its view: the poll waited its whole time and answered no deltas, the world still there.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3400);
    expect([poll.status, poll.json['kind'], poll.json['deltas']]).toEqual([200, 'deltas', []]);
    expect(hosted(srv, 'polled')).toBe(true);
    // Once nobody waits, it goes by itself (checked every second: within about three seconds).
    const deadline = Date.now() + 8000;
    while (hosted(srv, 'polled') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(hosted(srv, 'polled')).toBe(false);
  });

  it('a long poll waiting on a world that is deleted answers WORLD_NOT_FOUND, not that the server is shutting down', async () => {
    expect((await call(srv, 'POST', '/v1/worlds', admin, { id: 'doomed', world: 'default' })).status).toBe(201);
    const { tok, viewSeq } = await spawnAlone(srv, 'doomed', 'dan');
    const poll = call(srv, 'GET', `/v1/worlds/doomed/agents/dan/observe?after=${viewSeq}&timeout_ms=20000`, tok);
    await new Promise((r) => setTimeout(r, 300));
    expect((await call(srv, 'DELETE', '/v1/worlds/doomed?purge=true', admin)).status).toBe(200);
    const answer = await poll;
    expect(answer.status).toBe(404);
    expect(answer.json['error']).toMatchObject({ name: 'WORLD_NOT_FOUND', recovery: 'ABORT', details: { world: 'doomed' } });
    expect((answer.json['error'] as { message: string }).message).toMatch(/world doomed was deleted/);
  });

  it('a long poll waiting when the server shuts down is still told to poll again once it is back', async () => {
    const own = await startTestServer({ world: 'default' });
    try {
      const { tok, viewSeq } = await spawnAlone(own, 'default', 'sam');
      const poll = call(own, 'GET', `/v1/worlds/default/agents/sam/observe?after=${viewSeq}&timeout_ms=20000`, tok);
      await new Promise((r) => setTimeout(r, 300));
      await own.shutdown();
      const answer = await poll;
      expect([answer.status, (answer.json['error'] as { name: string }).name]).toEqual([503, 'SERVER_UNAVAILABLE']);
    } finally {
      await own.shutdown();
      fs.rmSync(own.dataDir, { recursive: true, force: true });
    }
  });
});
