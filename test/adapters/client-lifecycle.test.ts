/**
 * The client SDK's lifecycle events against a real server, as an agent author uses them: closing the agent from a
 * drop, resync or reconnect listener ends it for good (no new connection, no event after leave, no timer left
 * running), and each event fires once, in order. And connect() to an address where nothing listens says so.
 */
import net, { type AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { connect, type Agent, type ConnectOptions } from '../../adapters/client/index.js';
import { sharedTestServer, token } from '../e2e/harness.js';
import { spawnAt, tapSockets, waitUntil, type TapDecision } from './helpers.js';

const server = sharedTestServer({ quarantineAfter: 0, messagesPerSecond: 10_000 });

async function join(agentId: string, at: { x: number; y: number }, extra: Partial<ConnectOptions> = {}): Promise<Agent> {
  return spawnAt(await connect(server().wsUrl, { token: await token(server(), agentId), agentId, WebSocket, reconnect: { initialDelayMs: 5, maxDelayMs: 20 }, ...extra }), at);
}

/** Records the lifecycle events of an agent in order. */
function record(agent: Agent): string[] {
  const events: string[] = [];
  agent.on('drop', (e) => events.push(`drop ${e.code}`));
  agent.on('resync', (e) => events.push(`resync ${e.reason}`));
  agent.on('reconnect', (e) => events.push(`reconnect resumed=${e.resumed}`));
  agent.on('leave', (e) => events.push(`leave ${e.reason}`));
  return events;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('client SDK: closing the agent from its own lifecycle events', () => {
  it('close() in a drop listener ends the agent: it does not reconnect', async () => {
    const taps = tapSockets();
    const a = await join('life-drop', { x: 700, y: 120 }, { WebSocket: taps.WebSocket });
    const events = record(a);
    a.on('drop', () => a.close('gave up on drop'));
    taps.sockets[0]!.kill();
    await waitUntil(() => events.length >= 2, 'the drop and the leave');
    // Long enough for several reconnect attempts at 5-20 ms.
    await pause(150);
    expect(events).toEqual(['drop 1006', 'leave gave up on drop']);
    expect(taps.sockets).toHaveLength(1);
    expect(a.closed).toBe(true);
    expect(a.connected).toBe(false);
  });

  it('close() in a resync listener ends the agent: it does not reconnect for the snapshot', async () => {
    let corrupt = false;
    const taps = tapSockets((ev): TapDecision => {
      if (corrupt && typeof ev.data === 'string' && ev.data.startsWith('{"type":"observation_delta"') && /"value":\d+/.test(ev.data)) {
        corrupt = false;
        ev.data = ev.data.replace(/"value":(\d+)/, (_m, n: string) => `"value":${Number(n) + 1000}`);
      }
      return 'deliver';
    });
    const a = await join('life-resync-a', { x: 700, y: 200 }, { codec: 'json', WebSocket: taps.WebSocket });
    const b = await join('life-resync-b', { x: 710, y: 200 });
    const events = record(a);
    a.on('resync', () => a.close('gave up on resync'));
    corrupt = true;
    expect((await b.submit({ kind: 'Move', payload: { dx: 1, dy: 0 } })).status).toBe('accepted');
    await waitUntil(() => events.length >= 2, 'the resync and the leave');
    await pause(150);
    expect(events).toEqual(['resync digest-mismatch', 'leave gave up on resync']);
    expect(taps.sockets).toHaveLength(1);
    expect(a.closed).toBe(true);
    b.close();
  });

  it('close() in a reconnect listener ends the agent and leaves no ping timer running', async () => {
    const taps = tapSockets();
    let clockReads = 0;
    const a = await join('life-reconnect', { x: 700, y: 280 }, { WebSocket: taps.WebSocket, pingIntervalMs: 10, now: () => (clockReads++, performance.timeOrigin + performance.now()) });
    const events = record(a);
    a.on('reconnect', () => a.close('done after reconnect'));
    taps.sockets[0]!.kill();
    await waitUntil(() => events.length >= 3, 'drop, reconnect and leave');
    const readsAtLeave = clockReads;
    await pause(100);
    expect(events).toEqual(['drop 1006', 'reconnect resumed=true', 'leave done after reconnect']);
    // A ping timer still running would read the clock every 10 ms.
    expect(clockReads).toBe(readsAtLeave);
    expect(a.closed).toBe(true);
    expect(taps.sockets).toHaveLength(2);
  });
});

describe('client SDK: connect() where no server listens', () => {
  it('rejects saying it could not connect, why (ECONNREFUSED) and what to check, not that a connection was lost', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const url = `ws://127.0.0.1:${port}/v1/worlds/default/ws`;
    const err = await connect(url, { token: 't', agentId: 'nobody', WebSocket, reconnect: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ codeName: 'ADAPTER_UNAVAILABLE' });
    expect((err as Error).message).toBe(`could not connect to ${url} (1006) in 3 attempts: connect ECONNREFUSED 127.0.0.1:${port}: check that a Worldline server is running at that host and port`);
  });
});
