/**
 * Worlds created and deleted at runtime (POST and DELETE /v1/worlds, RunningServer.createWorld/deleteWorld): an admin
 * token creates a world of its tenant from a definition the server has, clients join it at once, it comes back after
 * a restart, and deleting it closes its sockets, unlists it (WORLD_NOT_FOUND from then on) and keeps or purges its data.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subprotocol } from '../../server/protocol/index.js';
import { defineWorld, loadConfig, startServer } from '../../server/index.js';
import { isWorldlineError } from '../../server/errors.js';
import { call, joinAndSpawn, startTestServer, TestClient, token, type Reply, type TestServer } from './harness.js';

const WORLDS = ['lobby=default', 'acme/talk=conversation'];

const errorOf = (r: Reply): unknown => (r.json['error'] as { name?: unknown } | undefined)?.name;

async function upgradeStatus(srv: TestServer, id: string): Promise<{ status: number; body: string }> {
  const url = srv.wsUrl.replace(/\/v1\/worlds\/[^/]+\/ws$/, `/v1/worlds/${id}/ws`);
  try {
    const c = await TestClient.connect(url, Subprotocol.JSON, 'x');
    c.close();
    return { status: 101, body: '' };
  } catch (err) {
    return err as { status: number; body: string };
  }
}

describe('worlds created and deleted at runtime', () => {
  let srv: TestServer;
  let dataDir: string;
  let admin: string;
  beforeAll(async () => {
    srv = await startTestServer({ worlds: WORLDS, maxWorlds: 5 });
    dataDir = srv.dataDir;
    admin = await token(srv, undefined, 'admin', { world: 'lobby' });
  });
  afterAll(async () => {
    await srv.shutdown();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('an admin token creates a world of its tenant; agents join it at once; it is listed; a restart brings it back', async () => {
    const made = await call(srv, 'POST', '/v1/worlds', admin, { id: 'match-1', world: 'default' });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ id: 'match-1', world: 'default', tenant: 'default', healthy: true, ws_path: '/v1/worlds/match-1/ws' });
    expect(srv.worlds.map((w) => w.id)).toEqual(['lobby', 'talk', 'match-1']);
    expect(((await call(srv, 'GET', '/v1/worlds', admin)).json['worlds'] as Array<{ id: string }>).map((w) => w.id)).toEqual(['lobby', 'match-1']);
    expect(await (await fetch(`${srv.httpUrl}/readyz`)).json()).toEqual({ status: 'ready', worlds: { lobby: 'ok', talk: 'ok', 'match-1': 'ok' } });

    const one = await call(srv, 'GET', '/v1/worlds/match-1', await token(srv, 'mia', 'agent', { world: 'match-1' }));
    expect([one.status, one.json['id'], one.json['ws_path']]).toEqual([200, 'match-1', '/v1/worlds/match-1/ws']);
    const notHers = await call(srv, 'GET', '/v1/worlds/lobby', await token(srv, 'mia', 'agent', { world: 'match-1' }));
    expect([notHers.status, errorOf(notHers)]).toEqual([403, 'FORBIDDEN']);
    const { c, seq } = await joinAndSpawn(srv, 'match-1', 'default', 'mia', { x: 10, y: 10 });
    // Who is in it: for its tenant's admins only.
    const who = await call(srv, 'GET', '/v1/worlds/match-1/sessions', admin);
    expect(who.json['sessions']).toEqual([{ session: expect.any(String), agent_id: 'mia', role: 'agent', codec: 'worldline.v1.msgpack', channel: 0, address: expect.any(String), state: 'ready', connected_at: expect.stringMatching(/Z$/) }]);
    expect(errorOf(await call(srv, 'GET', '/v1/worlds/match-1/sessions', await token(srv, 'mia', 'agent', { world: 'match-1' })))).toBe('FORBIDDEN');
    c.close();
    expect(srv.worlds.find((w) => w.id === 'lobby')!.host.runtime.state().entities['mia']).toBeUndefined();
    const listed = JSON.parse(fs.readFileSync(path.join(dataDir, 'created-worlds.json'), 'utf8')) as { worlds: Array<Record<string, unknown>> };
    expect(listed.worlds).toEqual([{ id: 'match-1', tenant: 'default', world: 'default', source: 'default', created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) }]);
    expect(srv.logLines.some((l) => l['msg'] === 'world created' && l['world'] === 'match-1')).toBe(true);
    const m = await (await fetch(`${srv.httpUrl}/metrics`)).text();
    expect(m).toContain('worldline_worlds{origin="configured"} 2');
    expect(m).toContain('worldline_worlds{origin="created"} 1');

    await srv.shutdown();
    srv = await startTestServer({ worlds: WORLDS, maxWorlds: 5 }, dataDir);
    const back = srv.worlds.find((w) => w.id === 'match-1');
    expect(back?.tenant).toBe('default');
    expect(back!.host.runtime.lastGlobalSeq).toBeGreaterThanOrEqual(seq);
    expect(back!.host.runtime.state().entities['mia']).toMatchObject({ x: 10, y: 10 });
  });

  it('refuses, each with its code: a taken id, a bad id, an unknown or module definition, a non-admin token, another tenant, past maxWorlds', async () => {
    const taken = await call(srv, 'POST', '/v1/worlds', admin, { id: 'lobby', world: 'default' });
    expect([taken.status, errorOf(taken)]).toEqual([409, 'WORLD_EXISTS']);
    const bad = await call(srv, 'POST', '/v1/worlds', admin, { id: '..', world: 'default' });
    expect([bad.status, errorOf(bad)]).toEqual([400, 'CONFIG_INVALID']);
    const missing = await call(srv, 'POST', '/v1/worlds', admin, { world: 'default' });
    expect((missing.json['error'] as { message: string }).message).toBe('the body needs a string id, e.g. {"id":"match-1","world":"arena"}');
    const unknown = await call(srv, 'POST', '/v1/worlds', admin, { id: 'x1', world: 'chess' });
    expect([unknown.status, errorOf(unknown)]).toEqual([400, 'CONFIG_INVALID']);
    expect((unknown.json['error'] as { message: string }).message).toBe('world "chess" is not a world definition this server has; one of: default, arena, conversation, arena-<entities>');
    // A client never makes the server load a file.
    fs.writeFileSync(path.join(dataDir, 'evil.mjs'), 'throw new Error("loaded")\n');
    const file = await call(srv, 'POST', '/v1/worlds', admin, { id: 'x2', world: path.join(dataDir, 'evil.mjs') });
    expect([file.status, errorOf(file)]).toEqual([400, 'CONFIG_INVALID']);
    const agent = await call(srv, 'POST', '/v1/worlds', await token(srv, 'mia', 'agent', { world: 'lobby' }), { id: 'x3', world: 'default' });
    expect([agent.status, errorOf(agent)]).toEqual([403, 'FORBIDDEN']);
    const other = await call(srv, 'POST', '/v1/worlds', admin, { id: 'x4', world: 'default', tenant: 'acme' });
    expect([other.status, errorOf(other)]).toEqual([403, 'TENANT_ISOLATION_VIOLATION']);
    // Three hosted, two more allowed: the arena-<E> family is creatable too.
    expect((await call(srv, 'POST', '/v1/worlds', admin, { id: 'x5', world: 'arena-50' })).status).toBe(201);
    expect((await call(srv, 'POST', '/v1/worlds', admin, { id: 'x6', world: 'conversation' })).status).toBe(201);
    const full = await call(srv, 'POST', '/v1/worlds', admin, { id: 'x7', world: 'default' });
    expect([full.status, errorOf(full)]).toEqual([429, 'QUOTA_EXCEEDED']);
    for (const id of ['x5', 'x6']) expect((await call(srv, 'DELETE', `/v1/worlds/${id}?purge=true`, admin)).status).toBe(200);
    expect(srv.worlds.map((w) => w.id)).toEqual(['lobby', 'talk', 'match-1']);
  });

  it('deleting closes its sockets, unlists it (WORLD_NOT_FOUND), keeps its data unless purged; a configured world cannot be deleted', async () => {
    const acmeAdmin = await token(srv, undefined, 'admin', { tenant: 'acme', world: 'talk' });
    const cross = await call(srv, 'DELETE', '/v1/worlds/match-1', acmeAdmin);
    expect([cross.status, errorOf(cross)]).toEqual([403, 'TENANT_ISOLATION_VIOLATION']);
    const agentTok = await call(srv, 'DELETE', '/v1/worlds/match-1', await token(srv, 'mia', 'agent', { world: 'match-1' }));
    expect([agentTok.status, errorOf(agentTok)]).toEqual([403, 'FORBIDDEN']);
    const configured = await call(srv, 'DELETE', '/v1/worlds/talk', acmeAdmin);
    expect([configured.status, errorOf(configured)]).toEqual([403, 'FORBIDDEN']);

    const { c } = await joinAndSpawn(srv, 'match-1', 'default', 'max', { x: 10, y: 10 });
    expect(await (await fetch(`${srv.httpUrl}/metrics`)).text()).toContain('worldline_sessions{codec="worldline.v1.msgpack",world="match-1"} 1');
    const gone = await call(srv, 'DELETE', '/v1/worlds/match-1', admin);
    expect([gone.status, gone.json]).toEqual([200, { id: 'match-1', purged: false }]);
    await c.waitClosed();
    expect(c.closed).toEqual({ code: 1001, reason: 'world match-1 was deleted' });
    const refused = await upgradeStatus(srv, 'match-1');
    expect(refused.status).toBe(404);
    expect(JSON.parse(refused.body).error.name).toBe('WORLD_NOT_FOUND');
    expect(errorOf(await call(srv, 'DELETE', '/v1/worlds/match-1', admin))).toBe('WORLD_NOT_FOUND');
    expect(srv.worlds.map((w) => w.id)).toEqual(['lobby', 'talk']);
    expect(JSON.parse(fs.readFileSync(path.join(dataDir, 'created-worlds.json'), 'utf8')).worlds).toEqual([]);
    const metrics = await (await fetch(`${srv.httpUrl}/metrics`)).text();
    expect(metrics).not.toContain('world="match-1"');
    expect(metrics).toContain('worldline_worlds{origin="created"} 0');
    expect(metrics).toContain('worldline_queue_depth{queue="intents",world="lobby"}');
    // Kept, and still its tenant's: another tenant cannot take the id over (and read the data), nor can the same
    // tenant run another definition on it.
    expect(fs.existsSync(path.join(dataDir, 'worlds', 'match-1', 'segments'))).toBe(true);
    const takeover = await call(srv, 'POST', '/v1/worlds', acmeAdmin, { id: 'match-1', world: 'default' });
    expect([takeover.status, errorOf(takeover), (takeover.json['error'] as { message: string }).message]).toEqual([409, 'WORLD_EXISTS', 'the id "match-1" holds the kept data of another tenant\'s deleted world: pick another id']);
    const otherDef = await call(srv, 'POST', '/v1/worlds', admin, { id: 'match-1', world: 'conversation' });
    expect([otherDef.status, errorOf(otherDef)]).toEqual([409, 'WORLD_EXISTS']);
    expect((otherDef.json['error'] as { message: string }).message).toContain('create it with world "default" to carry on from that data');
    const notFound = await call(srv, 'DELETE', '/v1/worlds/match-1', admin);
    expect((notFound.json['error'] as { message: string }).message).toContain('(its data is kept: DELETE it with ?purge=true to remove that)');
    const crossPurge = await call(srv, 'DELETE', '/v1/worlds/match-1?purge=true', acmeAdmin);
    expect([crossPurge.status, errorOf(crossPurge)]).toEqual([403, 'TENANT_ISOLATION_VIOLATION']);
    // A folder no runtime creation made (a configured world's, copied there) is never taken over or purged over REST.
    fs.mkdirSync(path.join(dataDir, 'worlds', 'stray', 'segments'), { recursive: true });
    const stray = await call(srv, 'POST', '/v1/worlds', admin, { id: 'stray', world: 'default' });
    expect([stray.status, errorOf(stray)]).toEqual([409, 'WORLD_EXISTS']);
    expect(errorOf(await call(srv, 'DELETE', '/v1/worlds/stray?purge=true', admin))).toBe('FORBIDDEN');
    expect(fs.existsSync(path.join(dataDir, 'worlds', 'stray', 'segments'))).toBe(true);
    // An id that is not one (here a/b, encoded) names no folder at all.
    expect(errorOf(await call(srv, 'DELETE', '/v1/worlds/..%2Fstray?purge=true', admin))).toBe('WORLD_NOT_FOUND');
    // Its tenant creates it again with its definition: it carries on from its log.
    const again = await srv.createWorld({ id: 'match-1', world: 'default' });
    expect(again.host.runtime.state().entities['max']).toBeDefined();
    await srv.deleteWorld('match-1');
    // Its kept data, purged afterwards by its tenant.
    expect(await call(srv, 'DELETE', '/v1/worlds/match-1?purge=true', admin)).toEqual({ status: 200, json: { id: 'match-1', purged: true } });
    expect(fs.existsSync(path.join(dataDir, 'worlds', 'match-1'))).toBe(false);
    // A purge renames the folder aside before deleting it, so one cut short (a kill -9) leaves no part of a folder
    // under the id; what it leaves aside goes at the next start.
    expect(fs.readdirSync(path.join(dataDir, 'worlds')).filter((n) => n.includes('~'))).toEqual([]);
    const bogus = await call(srv, 'DELETE', '/v1/worlds/lobby?purge=yes', admin);
    expect([bogus.status, errorOf(bogus)]).toEqual([400, 'CONFIG_INVALID']);
  });

  it('a start removes what a purge cut short left renamed aside, and nothing else', async () => {
    const aside = path.join(dataDir, 'worlds', 'gone~purging-0123456789abcdef');
    fs.mkdirSync(path.join(aside, 'segments'), { recursive: true });
    fs.writeFileSync(path.join(aside, 'segments', '00000000000000000001.seg'), 'x');
    await srv.shutdown();
    srv = await startTestServer({ worlds: WORLDS, maxWorlds: 5 }, dataDir);
    expect(fs.existsSync(aside)).toBe(false);
    expect(fs.readdirSync(path.join(dataDir, 'worlds')).length).toBeGreaterThan(0);
  });

  it('a create whose listing cannot be written is DATABASE_ERROR and hosts nothing (it would vanish at the next restart)', async () => {
    // The list is written through a temporary file; a directory in its place makes that write fail.
    const tmp = path.join(dataDir, 'created-worlds.json.tmp');
    fs.mkdirSync(tmp);
    try {
      const r = await call(srv, 'POST', '/v1/worlds', admin, { id: 'unlisted', world: 'default' });
      expect([r.status, errorOf(r)]).toEqual([500, 'DATABASE_ERROR']);
      expect((r.json['error'] as { message: string }).message).toContain('world unlisted was not created');
      expect(srv.worlds.map((w) => w.id)).not.toContain('unlisted');
      expect((await upgradeStatus(srv, 'unlisted')).status).toBe(404);
    } finally {
      fs.rmdirSync(tmp);
    }
    // Once the disk is fine again, the same id can be created.
    expect((await call(srv, 'POST', '/v1/worlds', admin, { id: 'unlisted', world: 'default' })).status).toBe(201);
    await srv.deleteWorld('unlisted', { purge: true });
  });

  it('a world created with delete_after_idle_sec deletes itself once nobody has been connected for that long, not while someone is', async () => {
    const bad = await call(srv, 'POST', '/v1/worlds', admin, { id: 'room', world: 'default', delete_after_idle_sec: 0.5 });
    expect([bad.status, (bad.json['error'] as { message: string }).message]).toEqual([400, 'delete_after_idle_sec must be a whole number of seconds from 1 to 2592000, got 0.5']);
    const made = await call(srv, 'POST', '/v1/worlds', admin, { id: 'room', world: 'default', delete_after_idle_sec: 1, purge_on_delete: true });
    expect(made.json).toMatchObject({ id: 'room', origin: 'created', delete_after_idle_sec: 1, purge_on_delete: true });
    // The world as it is read back, alone and in the list, says it will delete itself (and its data): it did not.
    expect((await call(srv, 'GET', '/v1/worlds/room', admin)).json).toMatchObject({ origin: 'created', created_at: expect.stringMatching(/Z$/), delete_after_idle_sec: 1, purge_on_delete: true });
    const listed = (await call(srv, 'GET', '/v1/worlds', admin)).json['worlds'] as Array<Record<string, unknown>>;
    expect(listed.find((w) => w['id'] === 'room')).toMatchObject({ delete_after_idle_sec: 1, purge_on_delete: true });
    expect(listed.find((w) => w['id'] === 'lobby')).toMatchObject({ origin: 'configured' });
    expect(listed.find((w) => w['id'] === 'lobby')).not.toHaveProperty('delete_after_idle_sec');
    const { c } = await joinAndSpawn(srv, 'room', 'default', 'rita', { x: 10, y: 10 });
    // Connected for well over the limit: kept.
    await new Promise((r) => setTimeout(r, 2600));
    expect(srv.worlds.map((w) => w.id)).toContain('room');
    c.close();
    await c.waitClosed();
    const left = Date.now();
    const deadline = left + 8000;
    while (srv.worlds.some((w) => w.id === 'room') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const after = Date.now() - left;
    expect(srv.worlds.map((w) => w.id)).not.toContain('room');
    // Checked every second: between one and about three seconds after the last socket left.
    expect(after).toBeGreaterThanOrEqual(900);
    // Unlisted first; the folder, the registry and then the log line follow when the deletion settles (bounded wait: a
    // fixed 100 ms was not enough on a busy machine).
    const logged = (): boolean => srv.logLines.some((l) => l['msg'] === 'idle world deleted' && l['world'] === 'room');
    for (const until = Date.now() + 5000; !logged() && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
    expect(fs.existsSync(path.join(dataDir, 'worlds', 'room'))).toBe(false);
    expect(srv.logLines.some((l) => l['msg'] === 'idle world deleted' && l['world'] === 'room')).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(dataDir, 'created-worlds.json'), 'utf8')).worlds.map((w: { id: string }) => w.id)).not.toContain('room');
  });

  it('an agent playing over REST counts as presence too: the idle world stays while it does', async () => {
    expect((await call(srv, 'POST', '/v1/worlds', admin, { id: 'rest-room', world: 'default', delete_after_idle_sec: 1, purge_on_delete: true })).status).toBe(201);
    const tok = await token(srv, 'rex', 'agent', { world: 'rest-room' });
    const playUntil = Date.now() + 2600;
    for (let i = 0; Date.now() < playUntil; i++) {
      const r = await call(srv, 'POST', '/v1/worlds/rest-room/intents', tok, { intent: { req_id: `rx${i}`, kind: 'Spawn', payload: { entity_id: 'rex', fields: { x: 1, y: 1 } }, context_seq: 0 } });
      expect(r.status).toBe(200);
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(srv.worlds.map((w) => w.id)).toContain('rest-room');
    const deadline = Date.now() + 8000;
    while (srv.worlds.some((w) => w.id === 'rest-room') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(srv.worlds.map((w) => w.id)).not.toContain('rest-room');
  });

  it('one id at a time: a second create of an id being created is WORLD_EXISTS', async () => {
    const [a, b] = await Promise.allSettled([srv.createWorld({ id: 'race', world: 'default' }), srv.createWorld({ id: 'race', world: 'default' })]);
    expect(a.status).toBe('fulfilled');
    expect(b.status === 'rejected' && isWorldlineError(b.reason, 'WORLD_EXISTS')).toBe(true);
    await srv.deleteWorld('race', { purge: true });
  });
});

describe('the created-worlds list at start', () => {
  const fresh = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-created-'));

  it('a damaged list, an id that is also configured, or a definition given only in code and not given again, is CONFIG_INVALID', async () => {
    const dir = fresh();
    try {
      const cfg = loadConfig({ env: {}, overrides: { port: 0, dataDir: dir, logLevel: 'silent' } });
      fs.writeFileSync(path.join(dir, 'created-worlds.json'), '{"schema_version":1,"worlds":[{"id":"a"}]}');
      await expect(startServer(cfg)).rejects.toMatchObject({ codeName: 'CONFIG_INVALID', message: expect.stringContaining('entry 0 needs string id, tenant, world and created_at') });
      fs.writeFileSync(path.join(dir, 'created-worlds.json'), JSON.stringify({ schema_version: 1, worlds: [{ id: 'default', tenant: 'default', world: 'default', source: 'default', created_at: '2026-01-01T00:00:00Z' }] }));
      await expect(startServer(cfg)).rejects.toMatchObject({ codeName: 'CONFIG_INVALID', message: expect.stringContaining('is configured and also listed in') });
      fs.rmSync(path.join(dir, 'created-worlds.json'));
      // Created from a definition in code: it comes back only when that definition is given again.
      const mine = defineWorld({ name: 'mine', seed: 's', initialState: { entities: {} } });
      const srv = await startServer(cfg, { templates: [mine] });
      await srv.createWorld({ id: 'm1', world: 'mine' });
      await srv.shutdown();
      await expect(startServer(cfg)).rejects.toMatchObject({ codeName: 'CONFIG_INVALID', message: expect.stringContaining('runs the definition "mine" given in code') });
      const again = await startServer(cfg, { templates: [mine] });
      expect(again.worlds.map((w) => w.id)).toEqual(['default', 'm1']);
      await again.shutdown();
      // Created from a module a configured world ran, and the module is gone since.
      fs.writeFileSync(path.join(dir, 'created-worlds.json'), JSON.stringify({ schema_version: 1, worlds: [{ id: 'm2', tenant: 'default', world: 'market', source: path.join(dir, 'market.mjs'), created_at: '2026-11-21T00:00:00Z' }] }));
      await expect(startServer(cfg)).rejects.toMatchObject({ codeName: 'CONFIG_INVALID', message: expect.stringMatching(/^world "m2" \(created at runtime, listed in .*\) cannot be hosted again: world module .*market\.mjs does not exist; restore its definition, or remove the entry$/) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
