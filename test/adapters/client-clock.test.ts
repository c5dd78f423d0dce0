/**
 * Clock sync across a reconnect (fake socket, so each server's clock and each pong's timing are the test's): the
 * offset describes the server the agent is connected to now.
 */
import { describe, expect, it } from 'vitest';
import { connect, viewDigest } from '../../adapters/client/index.js';
import { fakeSockets, welcome, type FakeSocket } from './fake-socket.js';
import { waitUntil } from './helpers.js';

describe('client SDK clock sync', () => {
  it('after a reconnect to a server with another clock, the offset is the new server\'s, not an old sample with a shorter round trip', async () => {
    let local = 1_000_000;
    const f = fakeSockets();
    const p = connect('ws://fake/v1/worlds/w/ws', { token: 't', agentId: 'a', codec: 'json', WebSocket: f.WebSocket, pingIntervalMs: 0, now: () => local, reconnect: { initialDelayMs: 1, maxDelayMs: 5 } });
    await waitUntil(() => (f.sockets[0]?.of('hello').length ?? 0) === 1, 'the first hello');
    const view = { entities: { e: { x: 0 } } };
    f.sockets[0]!.deliver(welcome(0, { view, digest: await viewDigest(view) }));
    const agent = await p;
    expect(agent.clock).toBeUndefined();
    expect(Number.isFinite(agent.serverNow())).toBe(true);
    /** Answers the socket's pings, each after rttMs of local time, from a server whose clock is local + offsetMs. */
    const pong = (s: FakeSocket, offsetMs: number, rttMs: number): void => {
      for (const ping of s.of('ping')) {
        local += rttMs;
        s.deliver({ type: 'pong', client_time: ping.client_time, server_time: local - rttMs / 2 + offsetMs, sim_time: 0 });
      }
    };
    pong(f.sockets[0]!, 10_000, 1);
    expect(agent.clock).toMatchObject({ offsetMs: 10_000, rttMs: 1, samples: 3 });

    f.sockets[0]!.drop(1006);
    await waitUntil(() => (f.sockets[1]?.of('hello').length ?? 0) === 1, 'the hello of the reconnect');
    f.sockets[1]!.deliver(welcome(0));
    // Until the new server answers, the old estimate stands.
    expect(agent.clock?.offsetMs).toBe(10_000);
    pong(f.sockets[1]!, -5_000, 20);
    expect(agent.clock).toMatchObject({ offsetMs: -5_000, rttMs: 20, samples: 6 });
    expect(agent.serverNow()).toBe(local - 5_000);
    agent.close();
  });
});
