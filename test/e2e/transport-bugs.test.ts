import net from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Subprotocol } from '../../server/protocol/index.js';
import { TestClient, is, token, withServer } from './harness.js';
import { MAX_POLLS_PER_AGENT } from '../../server/transport/rest.js';

/** Collects the process's unhandled rejections while `fn` runs (vitest would otherwise only report them at the end). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (err: unknown): void => {
    seen.push(err);
  };
  process.on('unhandledRejection', listener);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}

describe('transport review', () => {
  it('REST: a request refused before its body is read leaves no unhandled rejection behind (bad JSON, bad world, bad token)', async () => {
    await withServer({}, async (srv) => {
      const t = await token(srv, 'a1');
      const seen = await unhandledDuring(async () => {
        const wrongWorld = await fetch(`${srv.httpUrl}/v1/worlds/elsewhere/intents`, { method: 'POST', headers: { authorization: `Bearer ${t}` }, body: 'not json' });
        expect(wrongWorld.status).toBe(404);
        const badToken = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: '{' });
        expect(badToken.status).toBe(401);
      });
      expect(seen).toEqual([]);
    });
  });

  it('WS: an engine whose socket closes while its Hello is being verified does not stay attached', async () => {
    await withServer({}, async (srv) => {
      // Token verification that takes a while (a remote JWKS, a loaded machine): the socket goes away meanwhile.
      const verify = srv.auth.authenticate.bind(srv.auth);
      (srv.auth as { authenticate: typeof verify }).authenticate = async (t) => {
        await new Promise((r) => setTimeout(r, 150));
        return verify(t);
      };
      const t = await token(srv, undefined, 'engine');
      const gone = await TestClient.connect(srv.wsUrl, Subprotocol.JSON);
      gone.hello('', { token: t });
      await new Promise((r) => setTimeout(r, 20));
      gone.close();
      await gone.waitClosed();
      await new Promise((r) => setTimeout(r, 300));
      expect(srv.host.engine.attached).toBe(false);
      // A new engine may attach (one engine per world: a ghost would refuse it with FORBIDDEN).
      const next = await TestClient.connect(srv.wsUrl, Subprotocol.JSON);
      next.hello('', { token: t });
      await next.waitFor(is('welcome'), 2000);
      next.close();
    });
  });

  it('REST: an agent quarantined on its WebSocket cannot go on acting or observing over REST', async () => {
    await withServer({ messagesPerSecond: 5, quarantineAfter: 3, quarantineSec: 60 }, async (srv) => {
      const t = await token(srv, 'q1');
      const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, t);
      c.hello('q1');
      const w = await c.waitFor(is('welcome'));
      for (let i = 0; i < 30; i++) c.send({ type: 'ping', client_time: i });
      await c.waitFor((m) => m.type === 'error' && m.name === 'AGENT_QUARANTINED');
      await c.waitClosed();
      const post = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'POST', headers: { authorization: `Bearer ${t}` }, body: JSON.stringify({ intent: { req_id: 'r1', kind: 'Spawn', payload: { entity_id: 'q1', fields: { x: 1, y: 1 } }, context_seq: w.view_seq } }) });
      expect(post.status).toBe(403);
      expect(((await post.json()) as { error: { name: string } }).error.name).toBe('AGENT_QUARANTINED');
      const obs = await fetch(`${srv.httpUrl}/v1/worlds/default/agents/q1/observe`, { headers: { authorization: `Bearer ${t}` } });
      expect(obs.status).toBe(403);
      expect(((await obs.json()) as { error: { name: string } }).error.name).toBe('AGENT_QUARANTINED');
    });
  });

  it('REST: a long poll whose client goes away stops waiting at once (not at its timeout)', async () => {
    await withServer({}, async (srv) => {
      const t = await token(srv, 'lp');
      const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, t);
      c.hello('lp');
      await c.waitFor(is('welcome'));
      const waiters = (srv.host as unknown as { waiters: Map<string, Set<unknown>> }).waiters;
      const snap = (await (await fetch(`${srv.httpUrl}/v1/worlds/default/agents/lp/observe`, { headers: { authorization: `Bearer ${t}` } })).json()) as { view_seq: number };
      const ac = new AbortController();
      const poll = fetch(`${srv.httpUrl}/v1/worlds/default/agents/lp/observe?after=${snap.view_seq}&timeout_ms=60000`, { headers: { authorization: `Bearer ${t}` }, signal: ac.signal }).catch(() => 'aborted');
      const deadline = Date.now() + 3000;
      while (!waiters.has('lp') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(waiters.get('lp')?.size).toBe(1);
      ac.abort();
      expect(await poll).toBe('aborted');
      const gone = Date.now() + 2000;
      while (waiters.has('lp') && Date.now() < gone) await new Promise((r) => setTimeout(r, 10));
      expect(waiters.has('lp')).toBe(false);
      c.close();
    });
  });

  it('REST: at most MAX_POLLS_PER_AGENT long polls wait for one agent at once; one more is QUOTA_EXCEEDED', async () => {
    // The conversation world changes only when someone speaks: nothing answers the polls while the test counts them.
    await withServer({ world: 'conversation' }, async (srv) => {
      const t = await token(srv, 'many', 'agent', { world: 'conversation' });
      const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, t);
      c.hello('many');
      await c.waitFor(is('welcome'));
      const url = (after: number): string => `${srv.httpUrl}/v1/worlds/conversation/agents/many/observe?after=${after}&timeout_ms=20000`;
      const snap = (await (await fetch(`${srv.httpUrl}/v1/worlds/conversation/agents/many/observe`, { headers: { authorization: `Bearer ${t}` } })).json()) as { view_seq: number };
      const ac = new AbortController();
      const polls = Array.from({ length: MAX_POLLS_PER_AGENT }, () => fetch(url(snap.view_seq), { headers: { authorization: `Bearer ${t}` }, signal: ac.signal }).catch(() => 'aborted'));
      const deadline = Date.now() + 5000;
      while (srv.host.pollsWaiting('many') < MAX_POLLS_PER_AGENT && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(srv.host.pollsWaiting('many')).toBe(MAX_POLLS_PER_AGENT);
      const extra = await fetch(url(snap.view_seq), { headers: { authorization: `Bearer ${t}` } });
      expect(extra.status).toBe(429);
      expect(((await extra.json()) as { error: { name: string; details: Record<string, unknown> } }).error).toMatchObject({ name: 'QUOTA_EXCEEDED', details: { retry_after_ms: 1000 } });
      ac.abort();
      expect(await Promise.all(polls)).toEqual(polls.map(() => 'aborted'));
      c.close();
    });
  });

  it('WS: a socket without a successful Hello is closed after helloTimeoutSec; one that joined stays', async () => {
    await withServer({ helloTimeoutSec: 1 }, async (srv) => {
      const idle = await TestClient.connect(srv.wsUrl, Subprotocol.JSON);
      const joined = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'ht'));
      joined.hello('ht');
      await joined.waitFor(is('welcome'));
      const t0 = Date.now();
      const closed = await idle.waitClosed(5000);
      expect(closed.code).toBe(1008);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(idle.received.filter(is('error')).map((e) => e.message).join()).toContain('no successful Hello');
      await new Promise((r) => setTimeout(r, 300));
      expect(joined.closed).toBeUndefined();
      joined.close();
    });
  });

  it.each([Subprotocol.JSON, Subprotocol.MSGPACK, Subprotocol.PROTO])('WS %s: frames pipelined behind the Hello are handled after the Welcome, in order, not refused as frames before Hello', async (codec) => {
    await withServer({}, async (srv) => {
      const c = await TestClient.connect(srv.wsUrl, codec, await token(srv, 'pipe'));
      c.hello('pipe');
      for (let i = 1; i <= 4; i++) c.send({ type: 'ping', client_time: i });
      c.send({ type: 'submit_intent', intent: { req_id: 'p1', kind: 'Spawn', payload: { entity_id: 'pipe', fields: { x: 1, y: 1 } }, context_seq: 0, priority: 0 } });
      const r = await c.waitFor(is('intent_result'));
      expect(r).toMatchObject({ req_id: 'p1', status: 'accepted' });
      const types = c.received.map((m) => m.type);
      expect(types[0]).toBe('welcome');
      expect(c.received.filter(is('pong')).map((m) => m.client_time)).toEqual([1, 2, 3, 4]);
      expect(types).not.toContain('error');
      expect(c.closed).toBeUndefined();
      c.close();
    });
  });

  it.each([Subprotocol.JSON, Subprotocol.MSGPACK, Subprotocol.PROTO])('WS %s: a Hello from another major version is refused and the socket stays open for a corrected Hello', async (codec) => {
    await withServer({}, async (srv) => {
      const c = await TestClient.connect(srv.wsUrl, codec, await token(srv, 'v2'));
      c.hello('v2', { schema_version: '2.0.0' });
      const e = await c.waitFor(is('error'));
      expect(e.name).toBe('SCHEMA_VERSION_MISMATCH');
      await new Promise((r) => setTimeout(r, 50));
      expect(c.closed).toBeUndefined();
      c.hello('v2');
      await c.waitFor(is('welcome'));
      c.close();
    });
  });

  it('WS: a quarantined agent cannot keep acting through a second connection it opened before', async () => {
    await withServer({ messagesPerSecond: 5, quarantineAfter: 3, quarantineSec: 60 }, async (srv) => {
      const t = await token(srv, 'q2');
      const a = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, t);
      const b = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, t);
      a.hello('q2');
      b.hello('q2');
      await a.waitFor(is('welcome'));
      const w = await b.waitFor(is('welcome'));
      for (let i = 0; i < 30; i++) a.send({ type: 'ping', client_time: i });
      await a.waitFor((m) => m.type === 'error' && m.name === 'AGENT_QUARANTINED');
      b.send({ type: 'submit_intent', intent: { req_id: 'after-quarantine', kind: 'Spawn', payload: { entity_id: 'q2', fields: { x: 5, y: 5 } }, context_seq: w.view_seq, priority: 0 } });
      const r = await b.waitFor((m) => (m.type === 'error' && m.name === 'AGENT_QUARANTINED') || (m.type === 'intent_result' && m.req_id === 'after-quarantine'));
      expect(r.type).toBe('error');
      b.close();
    });
  });

  it('REST: a long poll in progress at shutdown is answered at once, not when its timeout ends', async () => {
    await withServer({}, async (srv) => {
      const t = await token(srv, 'lp');
      const spawn = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'POST', headers: { authorization: `Bearer ${t}` }, body: JSON.stringify({ intent: { req_id: 's', kind: 'Spawn', payload: { entity_id: 'lp', fields: { x: 1, y: 1 } }, context_seq: 0 } }) });
      expect(spawn.status).toBe(200);
      const snap = (await (await fetch(`${srv.httpUrl}/v1/worlds/default/agents/lp/observe`, { headers: { authorization: `Bearer ${t}` } })).json()) as { view_seq: number };
      const t0 = Date.now();
      const poll = fetch(`${srv.httpUrl}/v1/worlds/default/agents/lp/observe?after=${snap.view_seq}&timeout_ms=10000`, { headers: { authorization: `Bearer ${t}` } });
      await new Promise((r) => setTimeout(r, 100));
      await srv.shutdown();
      const res = await poll;
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { name: string; recovery: string } }).error).toMatchObject({ name: 'SERVER_UNAVAILABLE', recovery: 'RETRY_WITH_DELAY' });
    });
  });

  it('WS: an engine that reconnects (a restarted game) may count its frame_number from 1 again', async () => {
    await withServer({ engineDisconnect: 'pause' }, async (srv) => {
      const t = await token(srv, undefined, 'engine');
      const first = await TestClient.connect(srv.wsUrl, Subprotocol.PROTO, t);
      first.hello('');
      await first.waitFor(is('welcome'));
      for (let f = 1; f <= 5; f++) first.send({ type: 'time_tick', sim_time: f, delta_time: 0.02, frame_number: f });
      first.send({ type: 'ping', client_time: 1 });
      await first.waitFor(is('pong'));
      first.close();
      await first.waitClosed();
      const ticks = srv.host.engine.ticks;
      const second = await TestClient.connect(srv.wsUrl, Subprotocol.PROTO, t);
      second.hello('');
      await second.waitFor(is('welcome'));
      second.send({ type: 'time_tick', sim_time: 1, delta_time: 0.02, frame_number: 1 });
      second.send({ type: 'ping', client_time: 2 });
      await second.waitFor(is('pong'));
      expect(second.received.filter((m) => m.type === 'error').map((m) => (m as { name: string }).name)).toEqual([]);
      expect(srv.host.engine.ticks).toBe(ticks + 1);
      second.close();
    });
  });

  it.each([Subprotocol.JSON, Subprotocol.PROTO])('WS %s: an emit with a req_id that the core refuses outright is answered by an intent_result for that req_id', async (codec) => {
    await withServer({}, async (srv) => {
      const agent = await TestClient.connect(srv.wsUrl, codec, await token(srv, 'watcher'));
      agent.hello('watcher');
      await agent.waitFor(is('welcome'));
      const admin = await TestClient.connect(srv.wsUrl, codec, await token(srv, undefined, 'admin'));
      // An admin observing an agent (it must say Hello to one) emits an event of a kind the world does not know.
      admin.hello('watcher');
      await admin.waitFor(is('welcome'));
      admin.send({ type: 'emit', kind: 'NoSuchKind', payload: {}, priority: 0, req_id: 'e1' });
      const r = await admin.waitFor((m) => (m.type === 'intent_result' && m.req_id === 'e1') || m.type === 'error');
      expect(r).toMatchObject({ type: 'intent_result', req_id: 'e1', status: 'rejected', error: { name: 'INVALID_INTENT' } });
      agent.close();
      admin.close();
    });
  });

  it('REST: path parameters are percent-decoded (an agent id or req_id with a space or non-ASCII characters)', async () => {
    await withServer({}, async (srv) => {
      const agent = 'Zoë the 2nd';
      const t = await token(srv, agent);
      const headers = { authorization: `Bearer ${t}` };
      const spawn = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'POST', headers, body: JSON.stringify({ intent: { req_id: 'spawn 1', kind: 'Spawn', payload: { entity_id: 'zoe', fields: { x: 3, y: 3 } }, context_seq: 0 } }) });
      expect(spawn.status).toBe(200);
      const obs = await fetch(`${srv.httpUrl}/v1/worlds/default/agents/${encodeURIComponent(agent)}/observe`, { headers });
      expect(obs.status).toBe(200);
      expect(((await obs.json()) as { agent_id: string }).agent_id).toBe(agent);
      const cancel = await fetch(`${srv.httpUrl}/v1/worlds/default/intents/${encodeURIComponent('spawn 1')}/cancel`, { method: 'POST', headers, body: '{}' });
      expect(cancel.status).toBe(200);
      expect(((await cancel.json()) as { status: string }).status).toBe('already_completed');
    });
  });

  it('WebSocket: the world id in the path is percent-decoded as REST decodes it; a bad escape is refused with a 400', async () => {
    await withServer({}, async (srv) => {
      const encoded = srv.wsUrl.replace('/v1/worlds/default/ws', '/v1/worlds/%64efault/ws');
      const c = await TestClient.connect(encoded, Subprotocol.JSON, await token(srv, 'pat'));
      c.hello('pat');
      expect((await c.waitFor(is('welcome'))).world).toBe('default');
      c.close();
      const refused = await TestClient.connect(srv.wsUrl.replace('/default/', '/%E0%A4%A/'), Subprotocol.JSON).then(
        () => undefined,
        (err: { status: number; body: string }) => err,
      );
      expect(refused?.status).toBe(400);
      expect((JSON.parse(refused!.body) as { error: { name: string } }).error.name).toBe('MALFORMED_FRAME');
    });
  });

  it('REST: a body over maxPayloadLength is answered 413 PAYLOAD_TOO_LARGE with the limit', async () => {
    await withServer({ maxPayloadLength: 1024 }, async (srv) => {
      const headers = { authorization: `Bearer ${await token(srv, 'big')}` };
      const res = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'POST', headers, body: JSON.stringify({ intent: { req_id: 'b', kind: 'Speak', payload: { text: 'x'.repeat(4000) }, context_seq: 0 } }) });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: Record<string, unknown> }).error).toMatchObject({ name: 'PAYLOAD_TOO_LARGE', code: 7020, recovery: 'ABORT', details: { max_bytes: 1024 } });
    });
  });

  it('REST: a body trickled a byte at a time is answered 408 OPERATION_TIMEOUT at bodyTimeoutSec and its connection closed', async () => {
    await withServer({ bodyTimeoutSec: 1 }, async (srv) => {
      const t = await token(srv, 'slow');
      const { port } = new URL(srv.httpUrl);
      const sock = net.connect(Number(port), '127.0.0.1');
      let answer = '';
      sock.on('data', (d) => (answer += d.toString()));
      const closed = new Promise<void>((r) => sock.on('close', () => r()));
      sock.write(`POST /v1/worlds/default/intents HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${t}\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{`);
      // A byte every 100 ms: uWS's own timeout (restarted by every byte) never fires; the body's deadline must. Bounded: 50 bytes.
      let sent = 0;
      const drip = setInterval(() => (++sent < 50 && !sock.destroyed ? sock.write(' ') : clearInterval(drip)), 100);
      try {
        await closed;
      } finally {
        clearInterval(drip);
        sock.destroy();
      }
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect(answer).toContain('"name":"OPERATION_TIMEOUT"');
    });
  });

  it('config: intentsPerSecondPerAgent and intentsPerSecondPerTenant limit intents (QUOTA_EXCEEDED past them)', async () => {
    for (const [key, scope] of [['intentsPerSecondPerAgent', 'agent'], ['intentsPerSecondPerTenant', 'tenant']] as const) {
      await withServer({ [key]: 2 }, async (srv) => {
        const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'busy'));
        c.hello('busy');
        const w = await c.waitFor(is('welcome'));
        for (let i = 0; i < 12; i++) c.send({ type: 'submit_intent', intent: { req_id: `q${i}`, kind: 'Speak', payload: { text: `hi ${i}` }, context_seq: w.view_seq, priority: 0 } });
        await c.waitFor((m) => m.type === 'intent_result' && m.req_id === 'q11');
        const refused = c.received.filter((m) => m.type === 'intent_result' && m.status === 'rejected' && m.error?.name === 'QUOTA_EXCEEDED');
        expect(refused.length, `${key}: 12 intents at once against a quota of 2 per second`).toBeGreaterThan(0);
        expect((refused[0] as unknown as { error: { details: { scope: string } } }).error.details.scope).toBe(scope);
        c.close();
      });
    }
  });

  it('WS: open generations are bounded per connection and released when the socket closes', async () => {
    await withServer({ messagesPerSecond: 100_000, quarantineAfter: 0 }, async (srv) => {
      const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'gen'));
      c.hello('gen');
      const w = await c.waitFor(is('welcome'));
      // A quiet agent (nothing it sees changes): nothing cancels these generations.
      for (let i = 0; i < 400; i++) c.send({ type: 'begin_generation', req_id: `g${i}-${'x'.repeat(120)}`, context_seq: w.view_seq });
      c.send({ type: 'ping', client_time: 1 });
      await c.waitFor(is('pong'));
      const refused = c.received.filter((m) => m.type === 'error' && m.name === 'QUOTA_EXCEEDED');
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.length).toBeLessThan(400);
      expect(srv.host.runtime.generations.watching('gen')).toBe(true);
      c.close();
      await c.waitClosed();
      await new Promise((r) => setTimeout(r, 100));
      expect(srv.host.runtime.generations.watching('gen')).toBe(false);
    });
  });

  it('WS: an engine or admin that misbehaves while observing an agent is quarantined itself, not the agent it watches', async () => {
    await withServer({ messagesPerSecond: 5, quarantineAfter: 3, quarantineSec: 60 }, async (srv) => {
      const victim = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'victim'));
      victim.hello('victim');
      await victim.waitFor(is('welcome'));
      const engineToken = await token(srv, undefined, 'engine');
      const noisy = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, engineToken);
      noisy.hello('victim');
      await noisy.waitFor(is('welcome'));
      for (let i = 0; i < 30; i++) noisy.send({ type: 'ping', client_time: i });
      await noisy.waitFor((m) => m.type === 'error' && m.name === 'AGENT_QUARANTINED');
      await noisy.waitClosed();
      // The agent itself did nothing wrong: it may still act and reconnect.
      victim.send({ type: 'submit_intent', intent: { req_id: 'v1', kind: 'Spawn', payload: { entity_id: 'victim', fields: { x: 9, y: 9 } }, context_seq: 0, priority: 0 } });
      const r = await victim.waitFor((m) => (m.type === 'intent_result' && m.req_id === 'v1') || m.type === 'error');
      expect(r.type).toBe('intent_result');
      const again = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'victim'));
      again.hello('victim');
      expect((await again.waitFor((m) => m.type === 'welcome' || m.type === 'error')).type).toBe('welcome');
      // The engine token that misbehaved is the one refused.
      const back = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, engineToken);
      back.hello('victim');
      expect((await back.waitFor(is('error'))).name).toBe('AGENT_QUARANTINED');
      for (const c of [victim, again, back]) c.close();
    });
  });

  it('WS: a session whose token expires is closed (1008, UNAUTHORIZED), and its agent is not quarantined for acting on it', async () => {
    await withServer({ quarantineAfter: 3 }, async (srv) => {
      const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'brief', 'agent', { ttl: 2 }));
      c.hello('brief');
      const w = await c.waitFor(is('welcome'));
      await new Promise((r) => setTimeout(r, 2200));
      // A client that did not notice goes on submitting.
      for (let i = 0; i < 5 && !c.closed; i++) c.send({ type: 'submit_intent', intent: { req_id: `late-${i}`, kind: 'Spawn', payload: { entity_id: 'brief', fields: { x: 1, y: 1 } }, context_seq: w.view_seq, priority: 0 } });
      const closed = await c.waitClosed();
      expect(closed.code).toBe(1008);
      expect(c.received.some((m) => m.type === 'error' && m.name === 'UNAUTHORIZED')).toBe(true);
      const again = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'brief'));
      again.hello('brief');
      expect((await again.waitFor((m) => m.type === 'welcome' || m.type === 'error')).type).toBe('welcome');
      again.close();
    });
  });

  it('REST: a long poll ends when its token expires, not at its timeout; the next poll is told the token expired', async () => {
    await withServer({}, async (srv) => {
      const long = { authorization: `Bearer ${await token(srv, 'poller')}` };
      const spawn = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'POST', headers: long, body: JSON.stringify({ intent: { req_id: 'sp', kind: 'Spawn', payload: { entity_id: 'poller', fields: { x: 5, y: 5 } }, context_seq: 0 } }) });
      expect(spawn.status).toBe(200);
      const seen = (await (await fetch(`${srv.httpUrl}/v1/worlds/default/agents/poller/observe`, { headers: long })).json()) as { view_seq: number };
      const brief = { authorization: `Bearer ${await token(srv, 'poller', 'agent', { ttl: 2 })}` };
      const started = Date.now();
      const poll = await fetch(`${srv.httpUrl}/v1/worlds/default/agents/poller/observe?after=${seen.view_seq}&timeout_ms=30000`, { headers: brief });
      expect(poll.status).toBe(200);
      expect(((await poll.json()) as { deltas: unknown[] }).deltas).toEqual([]);
      // Answered at the token's expiry (at most 2 s away), long before the poll's own 30 s.
      expect(Date.now() - started).toBeLessThan(15_000);
      const next = await fetch(`${srv.httpUrl}/v1/worlds/default/agents/poller/observe?after=${seen.view_seq}&timeout_ms=30000`, { headers: brief });
      expect(next.status).toBe(401);
    });
  }, 40_000);

  it('WS: behind a trusted reverse proxy, connectionsPerIp counts each client by X-Forwarded-For, not the proxy', async () => {
    // Opens a socket as a proxy would, naming the client; resolves with the HTTP status of a refused upgrade, or 101.
    const open = (url: string, forwardedFor: string): Promise<{ status: number; ws?: WebSocket }> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url, Subprotocol.JSON, { headers: { 'x-forwarded-for': forwardedFor } });
        ws.once('open', () => resolve({ status: 101, ws }));
        ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
        ws.once('error', reject);
      });
    const attempt = async (trustProxy: string[]): Promise<number[]> => {
      const statuses: number[] = [];
      await withServer({ connectionsPerIp: 1, trustProxy }, async (srv) => {
        const sockets: WebSocket[] = [];
        for (const client of ['198.51.100.1', '198.51.100.2', '198.51.100.1']) {
          const r = await open(srv.wsUrl, `203.0.113.9, ${client}`);
          statuses.push(r.status);
          if (r.ws) sockets.push(r.ws);
        }
        for (const ws of sockets) ws.close();
      });
      return statuses;
    };
    // The loopback peer is the proxy: two clients get a socket each, the first client's second is over its cap.
    expect(await attempt(['127.0.0.1', '::1'])).toEqual([101, 101, 429]);
    // Without trustProxy the header is ignored (anyone could send it) and every socket counts as the peer's.
    expect(await attempt([])).toEqual([101, 429, 429]);
  });

  it('WS: behind a trusted reverse proxy, every X-Forwarded-For line is read: a client\'s own line sent first picks no address', async () => {
    // The client sends `X-Forwarded-For: 9.9.9.9`; its proxy adds a line of its own with the address it saw (1.1.1.1).
    const open = (url: string, lines: string[]): Promise<{ status: number; ws?: WebSocket }> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url, Subprotocol.JSON, { headers: { 'x-forwarded-for': lines } });
        ws.once('open', () => resolve({ status: 101, ws }));
        ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
        ws.once('error', reject);
      });
    await withServer({ connectionsPerIp: 1, trustProxy: ['127.0.0.1', '::1'] }, async (srv) => {
      const first = await open(srv.wsUrl, ['9.9.9.9', '1.1.1.1']);
      expect(first.status).toBe(101);
      // 1.1.1.1 holds its one connection, whatever it writes in its own line; 9.9.9.9 holds none.
      expect((await open(srv.wsUrl, ['8.8.8.8', '1.1.1.1'])).status).toBe(429);
      expect((await open(srv.wsUrl, ['1.1.1.1'])).status).toBe(429);
      const other = await open(srv.wsUrl, ['9.9.9.9']);
      expect(other.status).toBe(101);
      first.ws?.close();
      other.ws?.close();
    });
  });
});
