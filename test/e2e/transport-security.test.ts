/**
 * Transport defects found by a security review, each over real sockets on 127.0.0.1: what one WebSocket can get
 * past the limits (quarantine, rate, Hello timeout, open generations) by opening channels on it, and protocol
 * promises about errors and closes.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { token, withServer } from './harness.js';

type RawFrame = Record<string, unknown>;

/** A raw JSON socket to a world, its frames collected (a channel member stays on each, as the server wrote it). */
async function raw(url: string, query = ''): Promise<{ ws: WebSocket; frames: RawFrame[]; closed: Promise<{ code: number; reason: string }>; next: (pred: (f: RawFrame) => boolean, timeoutMs?: number) => Promise<RawFrame> }> {
  const ws = new WebSocket(url + query, ['worldline.v1.json']);
  const frames: RawFrame[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(String(d)) as RawFrame));
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const next = async (pred: (f: RawFrame) => boolean, timeoutMs = 5000): Promise<RawFrame> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = frames.find(pred);
      if (f) return f;
      if (Date.now() > deadline) throw new Error(`no such frame; got ${frames.map((x) => `${String(x['channel'] ?? 0)}:${String(x['type'])}${x['name'] ? `:${String(x['name'])}` : ''}`).join(',')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { ws, frames, closed, next };
}

const hello = (channel: number, tok: string, agent: string): string => JSON.stringify({ ...(channel ? { channel } : {}), type: 'hello', token: tok, agent_id: agent, client_version: 'test', schema_version: '1.0.0' });
const forged = 'aaaa.bbbb.cccc';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** `p`, or a rejection after `ms` (a socket that stays open fails the test in seconds, not at the test timeout). */
const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> => Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`${what} within ${ms} ms`)))]);

describe('channels cannot get past the limits of their socket', () => {
  it('bad Hellos on channels quarantine the address, which then closes that socket and refuses Hellos on sockets opened before', async () => {
    await withServer({ quarantineAfter: 3, quarantineSec: 60 }, async (srv) => {
      const older = await raw(srv.wsUrl);
      const bad = await raw(srv.wsUrl);
      for (let ch = 1; ch <= 10; ch++) bad.ws.send(hello(ch, forged, 'mallory'));
      const closed = await within(bad.closed, 3000, 'the socket closes');
      expect(closed).toEqual({ code: 1008, reason: 'quarantined' });
      const names = bad.frames.filter((f) => f['type'] === 'error').map((f) => f['name']);
      expect(names.slice(0, 3)).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED']);
      expect(names[3]).toBe('AGENT_QUARANTINED');
      expect(names.filter((n) => n === 'UNAUTHORIZED')).toHaveLength(3);

      // A socket of that address opened before: a valid Hello on a new channel of it is refused, not welcomed...
      older.ws.send(hello(51, await token(srv, 'alice'), 'alice'));
      expect(await older.next((f) => f['type'] === 'error' && f['channel'] === 51)).toMatchObject({ name: 'AGENT_QUARANTINED', details: { key: 'ip:127.0.0.1' } });
      expect(await older.next((f) => f['type'] === 'close' && f['channel'] === 51)).toMatchObject({ code: 1008 });
      // ...and so is one on its own session.
      older.ws.send(hello(0, await token(srv, 'alice'), 'alice'));
      expect(await older.next((f) => f['type'] === 'error' && f['channel'] === undefined)).toMatchObject({ name: 'AGENT_QUARANTINED' });
      expect((await within(older.closed, 3000, 'the socket closes')).code).toBe(1008);
      expect(older.frames.some((f) => f['type'] === 'welcome')).toBe(false);
    });
  });

  it('Hellos on channels draw on a budget of the socket: reopening channels to retry Hellos does not refill it', async () => {
    // Ten channels at most: the socket's burst of Hellos is eleven (one per channel and its own), refilled at 5/s.
    await withServer({ messagesPerSecond: 5, quarantineAfter: 0, maxChannelsPerSocket: 10 }, async (srv) => {
      const c = await raw(srv.wsUrl);
      // Four rounds over the same ten channels, each reopened after its Hello was refused.
      for (let round = 0; round < 4; round++) {
        const before = c.frames.length;
        for (let ch = 1; ch <= 10; ch++) c.ws.send(hello(ch, forged, 'mallory'));
        for (const until = Date.now() + 3000; c.frames.slice(before).filter((f) => f['type'] === 'error').length < 10 && Date.now() < until; ) await sleep(10);
      }
      const names = c.frames.filter((f) => f['type'] === 'error').map((f) => f['name']);
      // Not 40 authentications for 40 fresh allowances: the burst, and what the rate refilled meanwhile.
      expect(names.filter((n) => n === 'UNAUTHORIZED').length).toBeLessThanOrEqual(16);
      expect(names.filter((n) => n === 'QUOTA_EXCEEDED').length).toBeGreaterThanOrEqual(24);
      c.ws.close();
    });
  });

  it('an agent process opening hundreds of channels at once (a Link reconnecting) has them all welcomed', async () => {
    await withServer({}, async (srv) => {
      const c = await raw(srv.wsUrl);
      const n = 600;
      const tokens = await Promise.all(Array.from({ length: n }, (_, i) => token(srv, `l${i}`)));
      for (let i = 0; i < n; i++) c.ws.send(hello(i + 1, tokens[i]!, `l${i}`));
      for (const until = Date.now() + 20_000; c.frames.filter((f) => f['type'] === 'welcome' || f['type'] === 'error').length < n && Date.now() < until; ) await sleep(20);
      expect(c.frames.filter((f) => f['type'] === 'error').map((f) => f['name'])).toEqual([]);
      expect(c.frames.filter((f) => f['type'] === 'welcome')).toHaveLength(n);
      c.ws.close();
    });
  }, 40_000);
});

describe('the Hello timeout', () => {
  it('closes a socket whose only Hello, on a channel, was refused; one with a channel welcomed stays', async () => {
    await withServer({ helloTimeoutSec: 1, quarantineAfter: 0 }, async (srv) => {
      const refused = await raw(srv.wsUrl);
      const carrying = await raw(srv.wsUrl);
      refused.ws.send(hello(1, forged, 'mallory'));
      carrying.ws.send(hello(1, await token(srv, 'ht-ch'), 'ht-ch'));
      expect(await refused.next((f) => f['type'] === 'error' && f['channel'] === 1)).toMatchObject({ name: 'UNAUTHORIZED' });
      await carrying.next((f) => f['type'] === 'welcome');
      const t0 = Date.now();
      expect(await within(refused.closed, 4000, 'the socket closes')).toEqual({ code: 1008, reason: 'no hello' });
      expect(Date.now() - t0).toBeLessThan(3000);
      await sleep(200);
      carrying.ws.send('{"channel":1,"type":"ping","client_time":1}');
      expect(await carrying.next((f) => f['type'] === 'pong')).toMatchObject({ channel: 1 });
      carrying.ws.close();
    });
  });
});

describe('a socket that carries channels', () => {
  it('a bad frame on its own channel 0, never joined, is refused there and closes nothing: the welcomed channels stay', async () => {
    await withServer({ quarantineAfter: 0 }, async (srv) => {
      const link = await raw(srv.wsUrl);
      link.ws.send(hello(1, await token(srv, 'link-a'), 'link-a'));
      await link.next((f) => f['type'] === 'welcome' && f['channel'] === 1);
      // A ping and an undecodable frame on channel 0, whose session never sent a Hello: each gets its error, on channel 0.
      link.ws.send('{"type":"ping","client_time":1}');
      link.ws.send('{"type":"no-such-message"}');
      await link.next((f) => f['type'] === 'error' && f['channel'] === undefined && f['name'] === 'MALFORMED_FRAME');
      expect(link.frames.filter((f) => f['type'] === 'error' && f['channel'] === undefined).map((f) => f['name'])).toEqual(['UNAUTHORIZED', 'MALFORMED_FRAME']);
      await sleep(100);
      link.ws.send('{"channel":1,"type":"ping","client_time":2}');
      expect(await link.next((f) => f['type'] === 'pong' && f['channel'] === 1)).toMatchObject({ client_time: 2 });
      expect(link.ws.readyState).toBe(WebSocket.OPEN);
      link.ws.close();
      // A socket without channels is still closed for a bad frame before its Hello.
      const plain = await raw(srv.wsUrl);
      plain.ws.send('{"type":"no-such-message"}');
      expect((await within(plain.closed, 4000, 'the socket closes')).code).toBe(1008);
    });
  });
});

describe('open generations', () => {
  it('are bounded per connection, over all its channels, not per session', async () => {
    // The conversation world changes only when someone speaks: nothing cancels the generations while they are counted.
    await withServer({ world: 'conversation' }, async (srv) => {
      const c = await raw(srv.wsUrl);
      const seqs: number[] = [];
      for (let ch = 1; ch <= 3; ch++) {
        c.ws.send(hello(ch, await token(srv, `gen-${ch}`, 'agent', { world: 'conversation' }), `gen-${ch}`));
        seqs.push((await c.next((f) => f['type'] === 'welcome' && f['channel'] === ch))['view_seq'] as number);
      }
      for (let ch = 1; ch <= 3; ch++) {
        for (let i = 0; i < 100; i++) c.ws.send(JSON.stringify({ channel: ch, type: 'begin_generation', req_id: `g-${i}`, context_seq: seqs[ch - 1] }));
      }
      c.ws.send('{"channel":3,"type":"ping","client_time":1}');
      await c.next((f) => f['type'] === 'pong');
      const refused = c.frames.filter((f) => f['type'] === 'error');
      expect(refused.map((f) => f['name'])).toEqual(Array.from({ length: 300 - 256 }, () => 'QUOTA_EXCEEDED'));
      expect(refused[0]).toMatchObject({ channel: 3, details: { limit: 256, req_id: 'g-56' } });
      // One cancelled on any channel makes room for one more.
      c.ws.send('{"channel":1,"type":"cancel_intent","req_id":"g-0"}');
      await c.next((f) => f['type'] === 'intent_result' && f['channel'] === 1);
      c.ws.send(JSON.stringify({ channel: 2, type: 'begin_generation', req_id: 'g-more', context_seq: seqs[1] }));
      c.ws.send(JSON.stringify({ channel: 2, type: 'begin_generation', req_id: 'g-more-2', context_seq: seqs[1] }));
      c.ws.send('{"channel":2,"type":"ping","client_time":2}');
      await c.next((f) => f['type'] === 'pong' && f['channel'] === 2);
      expect(c.frames.filter((f) => f['type'] === 'error').map((f) => f['details'] && (f['details'] as Record<string, unknown>)['req_id']).slice(-1)).toEqual(['g-more-2']);
      // A req_id longer than an intent's is refused before the server holds it.
      c.ws.send(JSON.stringify({ channel: 1, type: 'begin_generation', req_id: 'x'.repeat(60_000), context_seq: seqs[0] }));
      expect(await c.next((f) => f['type'] === 'error' && f['name'] === 'MALFORMED_FRAME')).toMatchObject({ channel: 1, details: { field: 'req_id' } });
      c.ws.close();
    });
  });
});

describe('quarantine keys', () => {
  it('a misbehaving admin token quarantines itself, not every admin token: another admin still connects, lists and lifts it', async () => {
    await withServer({ messagesPerSecond: 5, quarantineAfter: 3, quarantineSec: 60 }, async (srv) => {
      const agent = await raw(srv.wsUrl);
      agent.ws.send(hello(0, await token(srv, 'watched'), 'watched'));
      await agent.next((f) => f['type'] === 'welcome');
      // Same claims, another token (its exp differs).
      const adminA = await token(srv, undefined, 'admin', { ttl: 600 });
      const adminB = await token(srv, undefined, 'admin', { ttl: 601 });
      expect(adminA).not.toBe(adminB);
      const a = await raw(srv.wsUrl);
      a.ws.send(hello(0, adminA, 'watched'));
      await a.next((f) => f['type'] === 'welcome');
      for (let i = 0; i < 40; i++) a.ws.send(JSON.stringify({ type: 'ping', client_time: i }));
      const q = await a.next((f) => f['type'] === 'error' && f['name'] === 'AGENT_QUARANTINED');
      const key = (q['details'] as Record<string, unknown>)['key'] as string;
      expect(key).toMatch(/^admin:default:\*:tok_[0-9a-f]{16}$/);
      expect(key).not.toContain(adminA.slice(-16));
      await within(a.closed, 3000, 'the socket closes');

      const b = await raw(srv.wsUrl);
      b.ws.send(hello(0, adminB, 'watched'));
      await b.next((f) => f['type'] === 'welcome');
      b.ws.close();
      const rest = async (method: string, p: string, tok: string): Promise<{ status: number; json: Record<string, unknown> }> => {
        const res = await fetch(`${srv.httpUrl}${p}`, { method, headers: { authorization: `Bearer ${tok}` } });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      };
      expect((await rest('GET', '/v1/worlds/default/quarantine', adminA)).status).toBe(403);
      const listed = await rest('GET', '/v1/worlds/default/quarantine', adminB);
      expect(listed).toMatchObject({ status: 200, json: { quarantined: [{ key }] } });
      expect(await rest('DELETE', `/v1/worlds/default/quarantine/${encodeURIComponent(key)}`, adminB)).toEqual({ status: 200, json: { key, lifted: true } });
      expect((await rest('GET', '/v1/worlds/default/quarantine', adminA)).status).toBe(200);
      // No token in the logs.
      expect(JSON.stringify(srv.logLines)).not.toContain(adminA);
      agent.ws.close();
    });
  });

  it("a token refused in another tenant's (or another) world quarantines itself there, never that world's agent of the same name", async () => {
    await withServer({ worlds: ['acme/a=default', 'other/b=default', 'b2=default'], quarantineAfter: 3, quarantineSec: 60 }, async (srv) => {
      const urlOf = (id: string): string => srv.worlds.find((w) => w.id === id)!.wsUrl;
      // acme's agent bob, and then default's bob of world b2, knocking on other's world b (where an agent bob lives too).
      for (const intruder of [await token(srv, 'bob', 'agent', { tenant: 'acme', world: 'a' }), await token(srv, 'bob', 'agent', { world: 'b2' })]) {
        let quarantined: RawFrame | undefined;
        for (let i = 0; i < 3; i++) {
          const c = await raw(urlOf('b'));
          c.ws.send(hello(0, intruder, 'bob'));
          await within(c.closed, 3000, 'the refused socket closes');
          quarantined ??= c.frames.find((f) => f['name'] === 'AGENT_QUARANTINED');
        }
        const key = ((quarantined as RawFrame)['details'] as Record<string, unknown>)['key'];
        expect(key).toMatch(/^agent:(acme|default):bob:tok_[0-9a-f]{16}$/);
      }
      // World b's own bob never misbehaved: it joins.
      const bob = await raw(urlOf('b'));
      bob.ws.send(hello(0, await token(srv, 'bob', 'agent', { tenant: 'other', world: 'b' }), 'bob'));
      expect(await bob.next((f) => f['type'] === 'welcome' || f['type'] === 'error')).toMatchObject({ type: 'welcome', agent: 'bob' });
      bob.ws.close();
    });
  });
});

describe('HTTP errors', () => {
  it('an unknown path or method gets a catalogue error (code, name, message, recovery, details), not a bare name', async () => {
    await withServer({}, async (srv) => {
      for (const [method, p] of [['GET', '/nothing'], ['PUT', '/v1/worlds/default/intents']] as const) {
        const res = await fetch(`${srv.httpUrl}${p}`, { method, body: method === 'PUT' ? '{}' : null });
        expect(res.status).toBe(404);
        const body = (await res.json()) as { error: Record<string, unknown> };
        expect(body.error).toEqual({ code: 7017, name: 'ENDPOINT_NOT_FOUND', message: expect.stringContaining(`no endpoint for ${method} ${p}`), recovery: 'ABORT', details: { method, path: p } });
      }
    });
  });
});

describe('REST denials', () => {
  it('are logged as security events, with the client address, the code and the path, never the token', async () => {
    await withServer({}, async (srv) => {
      const secret = 'not-a-token-but-a-secret-0123456789';
      const observe = `${srv.httpUrl}/v1/worlds/default/agents/a2/observe`;
      expect((await fetch(`${observe}?token=${secret}`)).status).toBe(401);
      expect((await fetch(observe, { headers: { authorization: `Bearer ${await token(srv, 'a1')}` } })).status).toBe(403);
      const events = srv.logLines.filter((l) => l['msg'] === 'security event: rest-denied');
      expect(events).toEqual([
        expect.objectContaining({ event: 'rest-denied', code: 'UNAUTHORIZED', ip: '127.0.0.1', method: 'GET', path: '/v1/worlds/default/agents/a2/observe' }),
        expect.objectContaining({ event: 'rest-denied', code: 'FORBIDDEN', ip: '127.0.0.1', method: 'GET', path: '/v1/worlds/default/agents/a2/observe' }),
      ]);
      expect(JSON.stringify(srv.logLines)).not.toContain(secret);
    });
  });
});

describe('frame size', () => {
  it('a frame over maxPayloadLength closes the socket with 1009 and a reason, on a channel too; one past the read bound is cut (1006)', async () => {
    await withServer({ maxPayloadLength: 1024 }, async (srv) => {
      const plain = await raw(srv.wsUrl);
      plain.ws.send('x'.repeat(1025));
      expect(await within(plain.closed, 3000, 'the socket closes')).toEqual({ code: 1009, reason: 'frame of 1025 bytes is over maxPayloadLength (1024): send smaller frames' });
      const carrying = await raw(srv.wsUrl);
      carrying.ws.send(hello(1, await token(srv, 'big'), 'big'));
      await carrying.next((f) => f['type'] === 'welcome');
      carrying.ws.send(JSON.stringify({ channel: 1, type: 'ping', client_time: 1, pad: 'x'.repeat(30_000) }));
      expect((await within(carrying.closed, 3000, 'the socket closes')).code).toBe(1009);
      // Past max(2 x maxPayloadLength, maxPayloadLength + 64 KiB) uWS drops the connection before the server sees it.
      const huge = await raw(srv.wsUrl);
      huge.ws.send('x'.repeat(1024 + 64 * 1024 + 1));
      expect((await within(huge.closed, 3000, 'the socket closes')).code).toBe(1006);
    });
  });
});

describe('frames pipelined behind a Hello', () => {
  it('errors for them come after the Welcome, in order with the others (a bad intent, an unknown type, a second Hello)', async () => {
    await withServer({}, async (srv) => {
      for (let run = 0; run < 3; run++) {
        const c = await raw(srv.wsUrl);
        c.ws.send(hello(0, await token(srv, `pipe-${run}`), `pipe-${run}`));
        c.ws.send('{"type":"ping","client_time":1}');
        c.ws.send('{"type":"submit_intent","intent":{"req_id":"","kind":"Spawn","payload":{},"context_seq":0}}');
        c.ws.send('{"type":"ping","client_time":3}');
        c.ws.send('{"type":"no_such_type"}');
        c.ws.send(hello(0, await token(srv, `pipe-${run}`), `pipe-${run}`));
        c.ws.send('{"type":"ping","client_time":6}');
        await c.next((f) => f['type'] === 'pong' && f['client_time'] === 6);
        expect(c.frames.map((f) => `${String(f['type'])}${f['type'] === 'pong' ? `:${String(f['client_time'])}` : f['type'] === 'error' ? `:${String(f['name'])}` : ''}`)).toEqual([
          'welcome', 'pong:1', 'error:INVALID_INTENT', 'pong:3', 'error:MALFORMED_FRAME', 'error:INVALID_INTENT', 'pong:6',
        ]);
        c.ws.close();
      }
    });
  });

  it('a frame over the rate limit behind a Hello gets its QUOTA_EXCEEDED after the Welcome, in order', async () => {
    await withServer({ messagesPerSecond: 2, quarantineAfter: 0 }, async (srv) => {
      const c = await raw(srv.wsUrl);
      // The session's bucket holds a burst of 4 (its Hello is one of them): pings 1-3 pass, 4 and 5 are over.
      c.ws.send(hello(0, await token(srv, 'pipe-rate'), 'pipe-rate'));
      for (let i = 1; i <= 5; i++) c.ws.send(`{"type":"ping","client_time":${i}}`);
      await c.next((f) => f['type'] === 'pong' && f['client_time'] === 3);
      await sleep(200);
      expect(c.frames.map((f) => `${String(f['type'])}${f['type'] === 'pong' ? `:${String(f['client_time'])}` : f['type'] === 'error' ? `:${String(f['name'])}` : ''}`)).toEqual([
        'welcome', 'pong:1', 'pong:2', 'pong:3', 'error:QUOTA_EXCEEDED', 'error:QUOTA_EXCEEDED',
      ]);
      c.ws.close();
    });
  });

  it('a malformed frame behind a Hello still counts as a violation', async () => {
    await withServer({ quarantineAfter: 3, quarantineSec: 60 }, async (srv) => {
      const c = await raw(srv.wsUrl);
      c.ws.send(hello(0, await token(srv, 'pipe-bad'), 'pipe-bad'));
      for (let i = 0; i < 3; i++) c.ws.send('{"type":"no_such_type"}');
      expect((await within(c.closed, 3000, 'the socket closes')).code).toBe(1008);
      expect(c.frames.some((f) => f['type'] === 'error' && f['name'] === 'AGENT_QUARANTINED')).toBe(true);
    });
  });
});
