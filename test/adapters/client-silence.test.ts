/**
 * deadAfterMs judges silence, not the ping schedule: a connection whose server answers every ping is never dropped as
 * silent, however far apart the pings are, and one whose pings go unanswered is (fake socket, fake-socket.ts).
 */
import { describe, expect, it } from 'vitest';
import { connect, viewDigest } from '../../adapters/client/index.js';
import { fakeSockets, welcome, type FakeSocket } from './fake-socket.js';
import { waitUntil } from './helpers.js';

/** Answers every ping the SDK sends on `s` at once, as a live server does; returns a stop function. */
function answerPings(s: FakeSocket): () => void {
  let answered = 0;
  const t = setInterval(() => {
    const pings = s.of('ping');
    for (; answered < pings.length; answered++) s.deliver({ type: 'pong', client_time: pings[answered]!.client_time, server_time: 0, sim_time: 0 });
  }, 2);
  return () => clearInterval(t);
}

describe('client SDK: a silent server (deadAfterMs)', () => {
  it('keeps a connection whose pings are all answered when pingIntervalMs is longer than deadAfterMs', async () => {
    const f = fakeSockets();
    const p = connect('ws://fake/v1/worlds/w/ws', { token: 't', agentId: 'a', codec: 'json', WebSocket: f.WebSocket, pingIntervalMs: 150, deadAfterMs: 60, reconnect: { initialDelayMs: 1, maxDelayMs: 5 } });
    await waitUntil(() => (f.sockets[0]?.of('hello').length ?? 0) === 1, 'the first hello');
    const view = { entities: {} };
    f.sockets[0]!.deliver(welcome(0, { view, digest: await viewDigest(view) }));
    const agent = await p;
    const drops: number[] = [];
    agent.on('drop', (e) => drops.push(e.code));
    const stop = answerPings(f.sockets[0]!);
    try {
      // Six ping ticks, each answered within milliseconds: a healthy connection in a quiet world.
      await waitUntil(() => f.sockets[0]!.of('ping').length >= 3 + 6 || drops.length > 0, 'six ping ticks');
      expect(drops).toEqual([]);
      expect(f.sockets).toHaveLength(1);
    } finally {
      stop();
    }
    // Then the server stops answering: the next tick finds its ping unanswered for longer than deadAfterMs.
    await waitUntil(() => drops.length === 1, 'the silent connection dropped');
    expect(drops).toEqual([4004]);
    agent.close();
  });
});
