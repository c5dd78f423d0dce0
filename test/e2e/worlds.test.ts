/**
 * Several worlds on one server (config `worlds`): each has its own URL, log, data folder, state and tenant; a token
 * reaches only its own world, over the WebSocket and REST alike; every world comes back after a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subprotocol } from '../../server/protocol/index.js';
import type { WorldHost } from '../../server/transport/world-host.js';
import { TestClient, is, joinAndSpawn, startTestServer, token, type TestServer } from './harness.js';

const WORLDS = ['north=default', 'south=default', 'acme/talk=conversation'];

const hostOf = (srv: TestServer, id: string): WorldHost => {
  const w = srv.worlds.find((x) => x.id === id);
  if (!w) throw new Error(`no world ${id}`);
  return w.host;
};

const urlOf = (srv: TestServer, id: string): string => srv.worlds.find((x) => x.id === id)!.wsUrl;

describe('one server, several worlds', () => {
  let srv: TestServer;
  let dataDir: string;
  beforeAll(async () => {
    srv = await startTestServer({ worlds: WORLDS, quarantineAfter: 0 });
    dataDir = srv.dataDir;
  });
  afterAll(async () => {
    await srv.shutdown();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('hosts each world at its own URL with its own tenant, state and data folder, and reports each in /readyz', async () => {
    expect(srv.worlds.map((w) => [w.id, w.tenant])).toEqual([['north', 'default'], ['south', 'default'], ['talk', 'acme']]);
    expect(urlOf(srv, 'talk')).toMatch(/\/v1\/worlds\/talk\/ws$/);
    expect(srv.wsUrl).toBe(urlOf(srv, 'north'));
    for (const id of ['north', 'south', 'talk']) expect(fs.existsSync(path.join(dataDir, 'worlds', id, 'segments'))).toBe(true);
    const ready = await (await fetch(`${srv.httpUrl}/readyz`)).json();
    expect(ready).toEqual({ status: 'ready', worlds: { north: 'ok', south: 'ok', talk: 'ok' } });
    // The conversation world is not the default world: each host runs the world it was given.
    expect(hostOf(srv, 'talk').runtime.world.name).toBe('conversation');
    expect(hostOf(srv, 'north').runtime.world.name).toBe('default');

    const n = await joinAndSpawn(srv, 'north', 'default', 'nina', { x: 100, y: 100 });
    expect(hostOf(srv, 'north').runtime.state().entities['nina']).toBeDefined();
    expect(hostOf(srv, 'south').runtime.state().entities['nina']).toBeUndefined();
    expect(hostOf(srv, 'talk').runtime.state().entities['nina']).toBeUndefined();
    // global_seq is per world: south's first agent action does not continue north's numbering.
    const s = await joinAndSpawn(srv, 'south', 'default', 'sam', { x: 100, y: 100 });
    expect(hostOf(srv, 'south').runtime.state().entities['sam']).toBeDefined();
    expect(hostOf(srv, 'north').runtime.state().entities['sam']).toBeUndefined();
    expect(hostOf(srv, 'south').runtime.lastGlobalSeq).toBeGreaterThanOrEqual(s.seq);
    n.c.close();
    s.c.close();
    // Every world's lines (its sessions' too) name it.
    expect(srv.logLines.find((l) => l['msg'] === 'session joined' && l['agent_id'] === 'sam')?.['world']).toBe('south');
    expect(srv.logLines.filter((l) => l['msg'] === 'world open').map((l) => l['world'])).toEqual(['north', 'south', 'talk']);
  });

  it('a token reaches only its own world: another world of its tenant is FORBIDDEN, another tenant is TENANT_ISOLATION_VIOLATION', async () => {
    // A north token on south's URL.
    const c1 = await TestClient.connect(urlOf(srv, 'south'), Subprotocol.JSON, await token(srv, 'nina', 'agent', { world: 'north' }));
    c1.hello('nina');
    expect((await c1.waitFor(is('error'))).name).toBe('FORBIDDEN');
    // A default-tenant admin, which may see every world of its tenant, still cannot reach acme's.
    const c2 = await TestClient.connect(urlOf(srv, 'talk'), Subprotocol.JSON, await token(srv, undefined, 'admin', { world: 'north' }));
    c2.hello('A');
    expect((await c2.waitFor(is('error'))).name).toBe('TENANT_ISOLATION_VIOLATION');
    // And acme's token on a default-tenant world.
    const c3 = await TestClient.connect(urlOf(srv, 'north'), Subprotocol.PROTO, await token(srv, 'A', 'agent', { tenant: 'acme', world: 'talk' }));
    c3.hello('A');
    expect((await c3.waitFor(is('error'))).name).toBe('TENANT_ISOLATION_VIOLATION');
    for (const c of [c1, c2, c3]) c.close();
    // A world this server does not host is refused at the upgrade, before any token is verified: the refusal names no
    // hosted world (acme's talk is not default's to know of, nor anyone's without a token), only how to list them.
    const refused = await TestClient.connect(urlOf(srv, 'north').replace('/north/', '/west/'), Subprotocol.JSON).catch((e: { status: number; body: string }) => e);
    expect((refused as { status: number }).status).toBe(404);
    const body = JSON.parse((refused as { body: string }).body) as { error: { name: string; code: number; message: string; recovery: string } };
    expect(body.error).toMatchObject({ name: 'WORLD_NOT_FOUND', code: 5006, message: 'no world "west" here: GET /v1/worlds lists the worlds your token reaches' });
  });

  it('REST routes by the path world and applies the same isolation', async () => {
    const post = async (world: string, t: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await fetch(`${srv.httpUrl}/v1/worlds/${world}/intents`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const southToken = await token(srv, 'rest-s', 'agent', { world: 'south' });
    const ok = await post('south', southToken, { intent: { req_id: 'r1', kind: 'Spawn', payload: { entity_id: 'rest-s', fields: { x: 5, y: 5 } }, context_seq: 0, priority: 0 } });
    expect(ok.status).toBe(200);
    expect(ok.json['status']).toBe('committed');
    await hostOf(srv, 'south').caughtUp();
    expect(hostOf(srv, 'south').runtime.state().entities['rest-s']).toBeDefined();
    expect(hostOf(srv, 'north').runtime.state().entities['rest-s']).toBeUndefined();
    const wrongWorld = await post('north', southToken, { intent: { req_id: 'r2', kind: 'Spawn', payload: { entity_id: 'rest-s', fields: { x: 5, y: 5 } }, context_seq: 0, priority: 0 } });
    expect(wrongWorld.status).toBe(403);
    expect((wrongWorld.json['error'] as { name: string }).name).toBe('FORBIDDEN');
    const wrongTenant = await post('talk', southToken, { intent: { req_id: 'r3', kind: 'Speak', payload: { text: 'hi' }, context_seq: 0, priority: 0 } });
    expect((wrongTenant.json['error'] as { name: string }).name).toBe('TENANT_ISOLATION_VIOLATION');
    const unknown = await post('west', southToken, {});
    expect(unknown.status).toBe(404);
    expect(unknown.json['error']).toMatchObject({ name: 'WORLD_NOT_FOUND', message: 'no world "west" here: GET /v1/worlds lists the worlds your token reaches' });
    // Without a token too: nothing names another world, let alone another tenant's.
    const anonymous = await fetch(`${srv.httpUrl}/v1/worlds/west/agents/x/observe`);
    expect(anonymous.status).toBe(404);
    expect(await anonymous.text()).not.toMatch(/north|south|talk/);
  });

  it('GET /v1/worlds lists the worlds a token may reach: its own, or all of its tenant for an admin', async () => {
    const list = async (t: string | undefined): Promise<{ status: number; ids?: string[]; body: Record<string, unknown> }> => {
      const res = await fetch(`${srv.httpUrl}/v1/worlds`, t ? { headers: { authorization: `Bearer ${t}` } } : {});
      const body = (await res.json()) as Record<string, unknown>;
      return { status: res.status, body, ...(Array.isArray(body['worlds']) ? { ids: (body['worlds'] as Array<{ id: string }>).map((w) => w.id) } : {}) };
    };
    const adminToken = await token(srv, undefined, 'admin', { world: 'north' });
    // The worlds keep ticking (their NPCs wander) while the request is served: its global_seq lies between the
    // world's before the request and after the answer.
    const before = hostOf(srv, 'south').runtime.lastGlobalSeq;
    const admin = await list(adminToken);
    const after = hostOf(srv, 'south').runtime.lastGlobalSeq;
    expect(admin.ids).toEqual(['north', 'south']);
    expect((admin.body['worlds'] as unknown[])[0]).toMatchObject({ id: 'north', world: 'default', tenant: 'default', healthy: true, ws_path: '/v1/worlds/north/ws' });
    const southSeq = (admin.body['worlds'] as Array<{ global_seq: number }>)[1]!.global_seq;
    expect(southSeq).toBeGreaterThanOrEqual(before);
    expect(southSeq).toBeLessThanOrEqual(after);
    expect((await list(await token(srv, 'nina', 'agent', { world: 'north' }))).ids).toEqual(['north']);
    expect((await list(await token(srv, undefined, 'admin', { tenant: 'acme', world: 'talk' }))).ids).toEqual(['talk']);
    const none = await list(undefined);
    expect(none.status).toBe(401);
    expect((none.body['error'] as { name: string }).name).toBe('UNAUTHORIZED');
  });

  it('labels the per-world gauges with the world', async () => {
    const text = await (await fetch(`${srv.httpUrl}/metrics`)).text();
    for (const id of ['north', 'south', 'talk']) {
      expect(text).toMatch(new RegExp(`^worldline_queue_depth\\{queue="intents",world="${id}"\\} \\d+$`, 'm'));
      expect(text).toMatch(new RegExp(`^worldline_log_disk_bytes\\{kind="segments",world="${id}"\\} [1-9]\\d*$`, 'm'));
    }
  });

  it('every world comes back after a restart, each with its own state and numbering', async () => {
    const before = new Map(['north', 'south', 'talk'].map((id) => [id, { seq: hostOf(srv, id).runtime.lastGlobalSeq, ids: Object.keys(hostOf(srv, id).runtime.state().entities).sort() }]));
    await srv.shutdown();
    srv = await startTestServer({ worlds: WORLDS, quarantineAfter: 0 }, dataDir);
    for (const [id, b] of before) {
      const h = hostOf(srv, id);
      expect(h.runtime.lastGlobalSeq, id).toBeGreaterThanOrEqual(b.seq);
      // The worlds keep running (wanderers move), but none gains or loses an entity by the restart.
      expect(Object.keys(h.runtime.state().entities).sort(), id).toEqual(b.ids);
    }
    expect(hostOf(srv, 'north').runtime.state().entities['nina']).toBeDefined();
    expect(hostOf(srv, 'south').runtime.state().entities['nina']).toBeUndefined();
  });
});
