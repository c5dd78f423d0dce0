/**
 * Channels (docs/protocol.md "Channels") end to end: several SDK agents on one WebSocket through a Link, each with its
 * own session, view, intents and cancels; one agent leaving or refused leaves the others; a dropped shared socket
 * brings every agent back, resumed with no gap. Then the server's rules at the frame level, with a raw socket.
 */
import WebSocket from 'ws';
import { beforeAll, describe, expect, it } from 'vitest';
import { openLink, type Agent, type CodecName, type Link } from '../../adapters/client/index.js';
import { sharedTestServer, token, withServer, type TestServer } from '../e2e/harness.js';
import { listSessions, matchesServer as matchesServerOf, spawnAt, tapSockets, waitUntil } from './helpers.js';

const server = sharedTestServer({ quarantineAfter: 0, messagesPerSecond: 10_000 });
let srv: TestServer;
beforeAll(() => {
  srv = server();
});

async function join(link: Link, agentId: string, at: { x: number; y: number }): Promise<Agent> {
  return spawnAt(await link.connect({ token: await token(srv, agentId), agentId, reconnect: { initialDelayMs: 5, maxDelayMs: 50 } }), at);
}

const matchesServer = (agent: Agent): Promise<void> => matchesServerOf(srv, agent);

const sessions = (): ReturnType<typeof listSessions> => listSessions(srv);

describe.each<CodecName>(['json', 'msgpack', 'proto'])('a Link over %s', (codec) => {
  it('carries several agents on one socket, each with its own view, intents and cancels', async () => {
    const taps = tapSockets();
    const link = openLink(srv.wsUrl, { WebSocket: taps.WebSocket, codec });
    const a = await join(link, `ln-a-${codec}`, { x: 700, y: 700 });
    const b = await join(link, `ln-b-${codec}`, { x: 710, y: 700 });
    expect(taps.sockets).toHaveLength(1);
    expect(link.size).toBe(2);
    const mine = (await sessions()).filter((s) => s.agent_id.startsWith('ln-') && s.agent_id.endsWith(codec));
    expect(mine.map((s) => s.channel).sort()).toEqual([1, 2]);

    // b's moves reach a's view; a's generation is cancelled by them and regenerated against the new view.
    let moved = false;
    const res = await a.act(
      async ({ signal, attempt }) => {
        if (attempt === 1) {
          if (!moved) {
            moved = true;
            void b.submit({ req_id: `ln-b-move-${codec}`, kind: 'Move', payload: { dx: 5, dy: 0 } });
          }
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
        }
        return { kind: 'Move', payload: { dx: -1, dy: 0 } };
      },
      { maxAttempts: 3 },
    );
    expect(res.attempts[0]?.outcome).toBe('interrupted');
    expect(res.result?.status).toBe('accepted');
    await matchesServer(a);
    await matchesServer(b);
    expect(a.view.entities[`ln-b-${codec}`]).toMatchObject({ x: 715 });

    // One agent leaving closes its channel only.
    a.close();
    await waitUntil(() => link.size === 1, 'a leaves the link');
    expect((await b.submit({ req_id: `ln-b-after-${codec}`, kind: 'Move', payload: { dx: 1, dy: 0 } })).status).toBe('accepted');
    const left = async (): Promise<boolean> => !(await sessions()).some((s) => s.agent_id === `ln-a-${codec}`);
    for (let i = 0; i < 100 && !(await left()); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await left()).toBe(true);
    b.close();
    link.close();
  });

  it('a dropped shared socket brings every agent back on one new socket, resumed with no gap', async () => {
    const taps = tapSockets();
    const link = openLink(srv.wsUrl, { WebSocket: taps.WebSocket, codec });
    const a = await join(link, `lr-a-${codec}`, { x: 300, y: 650 });
    const b = await join(link, `lr-b-${codec}`, { x: 310, y: 650 });
    await matchesServer(a);
    await a.settled();
    const seen: Array<{ type: string; from: number; to: number }> = [];
    const start = a.viewSeq;
    a.on('observation', (o) => seen.push({ type: o.type, from: o.fromSeq, to: o.viewSeq }));
    let resumed = 0;
    a.on('reconnect', () => resumed++);
    b.on('reconnect', () => resumed++);
    taps.sockets[0]?.kill();
    // While both are away, b's world moves on: a resumes with the deltas it missed.
    await waitUntil(() => resumed === 2, 'both agents reconnect', 10_000);
    expect(taps.sockets).toHaveLength(2);
    expect((await b.submit({ req_id: `lr-b-move-${codec}`, kind: 'Move', payload: { dx: 3, dy: 0 } })).status).toBe('accepted');
    await matchesServer(a);
    await matchesServer(b);
    await a.settled();
    // Every delta chains from the previous one: no gap, no duplicate, no snapshot.
    expect(seen.length).toBeGreaterThan(0);
    let prev = start;
    for (const o of seen) {
      expect(o).toMatchObject({ type: 'delta', from: prev });
      prev = o.to;
    }
    expect(prev).toBe(a.viewSeq);
    a.close();
    b.close();
    link.close();
  });

  it('an agent refused on its channel leaves with the server error; the others on the link stay', async () => {
    const link = openLink(srv.wsUrl, { WebSocket, codec });
    const a = await join(link, `lf-a-${codec}`, { x: 100, y: 100 });
    const other = await token(srv, 'someone-else');
    const refused = link.connect({ token: other, agentId: `lf-b-${codec}` });
    await expect(refused).rejects.toMatchObject({ codeName: 'FORBIDDEN' });
    expect((await a.submit({ req_id: `lf-a-move-${codec}`, kind: 'Move', payload: { dx: 1, dy: 0 } })).status).toBe('accepted');
    a.close();
    link.close();
  });
});

/** A raw JSON socket to the default world, its frames collected. */
async function raw(url: string): Promise<{ ws: WebSocket; frames: Array<Record<string, unknown>>; closed: Promise<number>; next: (pred: (f: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>> }> {
  const ws = new WebSocket(url, ['worldline.v1.json']);
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Record<string, unknown>));
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const next = async (pred: (f: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    await waitUntil(() => frames.some(pred), 'a frame');
    return frames.find(pred) as Record<string, unknown>;
  };
  return { ws, frames, closed, next };
}

const hello = (channel: number, tok: string, agent: string): string => JSON.stringify({ channel, type: 'hello', token: tok, agent_id: agent, client_version: 'test', schema_version: '1.0.0' });

describe('channels at the frame level', () => {
  it('a channel opens with a Hello, answers on its channel, closes with close; only a hello opens one', async () => {
    const c = await raw(srv.wsUrl);
    c.ws.send(hello(4, await token(srv, 'raw-1'), 'raw-1'));
    const w = await c.next((f) => f['type'] === 'welcome');
    expect(Object.keys(w)[0]).toBe('channel');
    expect(w['channel']).toBe(4);
    c.ws.send('{"channel":4,"type":"ping","client_time":7}');
    expect(await c.next((f) => f['type'] === 'pong')).toMatchObject({ channel: 4, client_time: 7 });
    c.ws.send('{"channel":4,"type":"close","code":1000,"reason":"bye"}');
    expect(await c.next((f) => f['type'] === 'close')).toMatchObject({ channel: 4, code: 1000, reason: 'bye' });
    // A frame other than hello on a channel not open (closed, or never opened) opens nothing: it is answered with a close.
    c.frames.length = 0;
    c.ws.send('{"channel":4,"type":"ping","client_time":8}');
    expect(await c.next((f) => f['type'] === 'close')).toMatchObject({ channel: 4, code: 1008 });
    c.ws.send('{"channel":3,"type":"ping","client_time":8}');
    expect(await c.next((f) => f['type'] === 'close' && f['channel'] === 3)).toMatchObject({ code: 1008 });
    expect(c.frames.some((f) => f['type'] === 'pong')).toBe(false);
    // The socket itself is still open: hellos open channels again, in any order of numbers.
    c.ws.send(hello(9, await token(srv, 'raw-1'), 'raw-1'));
    expect(await c.next((f) => f['type'] === 'welcome')).toMatchObject({ channel: 9 });
    c.ws.send(hello(2, await token(srv, 'raw-1b'), 'raw-1b'));
    expect(await c.next((f) => f['type'] === 'welcome' && f['channel'] === 2)).toMatchObject({ agent: 'raw-1b' });
    c.ws.close();
  });

  it('a channel refused at Hello is closed with the error on it; the socket and its other channels stay', async () => {
    const c = await raw(srv.wsUrl);
    c.ws.send(hello(1, await token(srv, 'raw-2'), 'raw-2'));
    await c.next((f) => f['type'] === 'welcome' && f['channel'] === 1);
    c.ws.send(hello(2, 'not-a-token', 'raw-3'));
    expect(await c.next((f) => f['type'] === 'error' && f['channel'] === 2)).toMatchObject({ name: 'UNAUTHORIZED' });
    expect(await c.next((f) => f['type'] === 'close' && f['channel'] === 2)).toMatchObject({ code: 1008 });
    c.ws.send('{"channel":1,"type":"ping","client_time":1}');
    expect(await c.next((f) => f['type'] === 'pong')).toMatchObject({ channel: 1 });
    // A channel member that is not the frame's first is refused, on the socket's own session.
    c.ws.send('{"type":"ping","channel":1,"client_time":2}');
    expect(await c.next((f) => f['type'] === 'error' && f['channel'] === undefined)).toMatchObject({ name: 'MALFORMED_FRAME', details: { field: 'channel' } });
    c.ws.close();
  });

  it('maxChannelsPerSocket caps the channels of a socket (QUOTA_EXCEEDED, close 1013), and 0 turns channels off', async () => {
    await withServer({ maxChannelsPerSocket: 1 }, async (s) => {
      const c = await raw(s.wsUrl);
      c.ws.send(hello(1, await token(s, 'cap-1'), 'cap-1'));
      await c.next((f) => f['type'] === 'welcome');
      c.ws.send(hello(2, await token(s, 'cap-2'), 'cap-2'));
      expect(await c.next((f) => f['type'] === 'error' && f['channel'] === 2)).toMatchObject({ name: 'QUOTA_EXCEEDED', details: { limit: 1 } });
      expect(await c.next((f) => f['type'] === 'close' && f['channel'] === 2)).toMatchObject({ code: 1013 });
      c.ws.send('{"channel":1,"type":"close"}');
      expect(await c.next((f) => f['type'] === 'close' && f['channel'] === 1)).toMatchObject({ code: 1000 });
      c.ws.send(hello(3, await token(s, 'cap-1'), 'cap-1'));
      expect(await c.next((f) => f['type'] === 'welcome' && f['channel'] === 3)).toBeTruthy();
      c.ws.close();
    });
    await withServer({ maxChannelsPerSocket: 0 }, async (s) => {
      const c = await raw(s.wsUrl);
      c.ws.send(hello(1, await token(s, 'off-1'), 'off-1'));
      expect(await c.next((f) => f['type'] === 'error' && f['channel'] === 1)).toMatchObject({ name: 'QUOTA_EXCEEDED', message: expect.stringMatching(/does not multiplex/) });
      c.ws.close();
    });
  });

  it('a socket that only carries channels is not closed by the Hello timeout of its own session', async () => {
    await withServer({ helloTimeoutSec: 1 }, async (s) => {
      const c = await raw(s.wsUrl);
      c.ws.send(hello(1, await token(s, 'ht-1'), 'ht-1'));
      await c.next((f) => f['type'] === 'welcome');
      await new Promise((r) => setTimeout(r, 1500));
      c.ws.send('{"channel":1,"type":"ping","client_time":3}');
      expect(await c.next((f) => f['type'] === 'pong')).toMatchObject({ channel: 1 });
      expect(c.frames.some((f) => f['type'] === 'error')).toBe(false);
      c.ws.close();
    });
  });
});
