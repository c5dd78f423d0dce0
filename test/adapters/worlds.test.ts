/**
 * The SDK's Worlds client against a real server: a matchmaker creates a world, an agent joins it, and when the world
 * is deleted the agent's reconnect meets WORLD_NOT_FOUND and it leaves with that error instead of retrying.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { Worlds, connect, isWorldlineError, type AgentEvents } from '../../adapters/client/index.js';
import { sharedTestServer, token } from '../e2e/harness.js';

const server = sharedTestServer();

describe('client SDK: Worlds', () => {
  it('creates a world, lists it, an agent plays in it, and deleting it ends the agent with WORLD_NOT_FOUND', async () => {
    const worlds = new Worlds(server().httpUrl + '/', { token: () => token(server(), undefined, 'admin') });
    const made = await worlds.create({ id: 'match-9', world: 'default', deleteAfterIdleSec: 600 });
    expect(made).toMatchObject({ id: 'match-9', world: 'default', tenant: 'default', ws_path: '/v1/worlds/match-9/ws', delete_after_idle_sec: 600 });
    expect((await worlds.list()).map((w) => w.id)).toEqual(['default', 'match-9']);
    expect(await worlds.get('match-9')).toMatchObject({ id: 'match-9', healthy: true });
    expect(worlds.wsUrl('match-9')).toBe(server().wsUrl.replace('/default/', '/match-9/'));

    const agent = await connect(worlds.wsUrl('match-9'), { token: await token(server(), 'ana', 'agent', { world: 'match-9' }), agentId: 'ana', WebSocket, pingIntervalMs: 0, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    const r = await agent.submit({ kind: 'Spawn', payload: { entity_id: 'ana', fields: { x: 1, y: 1 } } });
    expect(r.status).toBe('accepted');
    expect((await worlds.sessions('match-9')).map((x) => [x.agent_id, x.state])).toEqual([['ana', 'ready']]);
    const left = new Promise<AgentEvents['leave']>((resolve) => agent.on('leave', resolve));
    expect(await worlds.delete('match-9', { purge: true })).toEqual({ id: 'match-9', purged: true });
    const leave = await left;
    expect(isWorldlineError(leave.error, 'WORLD_NOT_FOUND')).toBe(true);
    expect(leave.error?.details).toMatchObject({ http_status: 404, world: 'match-9' });
    expect((await worlds.list()).map((w) => w.id)).toEqual(['default']);
  });

  it("refusals are WorldlineErrors with the server's code; an unreachable server is ADAPTER_UNAVAILABLE", async () => {
    const admin = new Worlds(server().httpUrl, { token: await token(server(), undefined, 'admin') });
    await expect(admin.create({ id: 'default', world: 'default' })).rejects.toMatchObject({ codeName: 'WORLD_EXISTS', details: { http_status: 409 } });
    const agent = new Worlds(server().httpUrl, { token: await token(server(), 'ana', 'agent') });
    await expect(agent.create({ id: 'x', world: 'default' })).rejects.toMatchObject({ codeName: 'FORBIDDEN' });
    await expect(admin.delete('nowhere')).rejects.toMatchObject({ codeName: 'WORLD_NOT_FOUND' });
    // A port nobody listens on.
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    await expect(new Worlds(`http://127.0.0.1:${port}`, { token: 't' }).list()).rejects.toMatchObject({ codeName: 'ADAPTER_UNAVAILABLE' });
  });
});
