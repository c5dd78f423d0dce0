import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subprotocol, type ServerMessage, type WireOp } from '../../server/protocol/index.js';
import { TestClient, ViewTracker, is, startTestServer, token, type TestServer, type View } from './harness.js';

const codecs = [Subprotocol.JSON, Subprotocol.MSGPACK, Subprotocol.PROTO];

async function join(srv: TestServer, codec: Subprotocol, agent: string, at?: { x: number; y: number }): Promise<{ c: TestClient; v: ViewTracker }> {
  const c = await TestClient.connect(srv.wsUrl, codec, await token(srv, agent));
  c.hello(agent);
  const w = await c.waitFor(is('welcome'));
  const v = new ViewTracker(c);
  if (at) {
    c.send({ type: 'submit_intent', intent: { req_id: `spawn-${agent}`, kind: 'Spawn', payload: { entity_id: agent, fields: at }, context_seq: w.view_seq, priority: 0 } });
    const r = await c.waitFor((m): m is Extract<ServerMessage, { type: 'intent_result' }> => m.type === 'intent_result' && m.req_id === `spawn-${agent}`);
    expect(r.status === 'accepted' || r.status === 'duplicate').toBe(true);
  }
  return { c, v };
}

describe.each(codecs)('server end to end over %s', (codec) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ quarantineAfter: 0 });
  });
  afterAll(async () => {
    await srv.shutdown();
    fs.rmSync(srv.dataDir, { recursive: true, force: true });
  });

  it('welcomes with a snapshot, commits intents, and streams deltas that apply strictly to the server view', async () => {
    const { c, v } = await join(srv, codec, `alice-${codec}`, { x: 60, y: 60 });
    const move = (n: number): void => c.send({ type: 'submit_intent', intent: { req_id: `m${n}`, kind: 'Move', payload: { dx: 1, dy: 2 }, context_seq: srv.host.runtime.observe(`alice-${codec}`).view_seq, priority: 0 } });
    for (let i = 0; i < 5; i++) move(i);
    for (let i = 0; i < 5; i++) {
      const r = await c.waitFor((m): m is Extract<ServerMessage, { type: 'intent_result' }> => m.type === 'intent_result' && m.req_id === `m${i}`);
      expect(r.status).toBe('accepted');
      expect(r.global_seq).toBeGreaterThan(0);
    }
    await v.matchesServer(srv, `alice-${codec}`);
    expect(v.view.entities[`alice-${codec}`]).toMatchObject({ x: 65, y: 70 });
    const delta = c.received.find((m) => m.type === 'observation_delta') as Extract<ServerMessage, { type: 'observation_delta' }>;
    expect(delta.server_time).toBeGreaterThan(Date.now() - 60_000);
    expect(delta.server_time).toBeLessThanOrEqual(Date.now());
    // A retry with the same req_id is a duplicate with the same global_seq.
    const first = c.received.find((m) => m.type === 'intent_result' && m.req_id === 'm0') as Extract<ServerMessage, { type: 'intent_result' }>;
    const before = c.received.length;
    move(0);
    const again = await c.waitFor((m): m is Extract<ServerMessage, { type: 'intent_result' }> => m.type === 'intent_result' && m.req_id === 'm0', 5000, before);
    expect(again.status).toBe('duplicate');
    expect(again.global_seq).toBe(first.global_seq);
    c.send({ type: 'ping', client_time: 123.5 });
    const pong = await c.waitFor(is('pong'));
    expect(pong.client_time).toBe(123.5);
    expect(pong.server_time).toBeGreaterThan(0);
    c.close();
  });

  it('cancels a generation with stale_due_to when a visible event lands, and rejects a stale intent', async () => {
    const a = await join(srv, codec, `gen-a-${codec}`, { x: 900, y: 60 });
    const b = await join(srv, codec, `gen-b-${codec}`, { x: 910, y: 60 });
    await a.v.matchesServer(srv, `gen-a-${codec}`);
    const ctx = a.v.viewSeq;
    a.c.send({ type: 'begin_generation', req_id: 'g1', context_seq: ctx });
    b.c.send({ type: 'submit_intent', intent: { req_id: 'b-move', kind: 'Move', payload: { dx: 3, dy: 0 }, context_seq: b.v.viewSeq < 0 ? 0 : srv.host.runtime.observe(`gen-b-${codec}`).view_seq, priority: 0 } });
    const cancelled = await a.c.waitFor(is('cancelled'));
    expect(cancelled.req_id).toBe('g1');
    // The reason is the short cause: the frame names the req_id already, and the session the agent.
    expect(cancelled.reason).toBe('the context became stale');
    expect(cancelled.stale_due_to.length).toBeGreaterThan(0);
    expect(cancelled.stale_due_to[0]!.kind).toBe('Move');
    expect(cancelled.stale_due_to[0]!.global_seq).toBeGreaterThan(0);
    // server_time: the start of the quantum that committed the Move, sub-ms; its delta carries the same instant in
    // whole ms (Date.now and the high-resolution clock may straddle a millisecond boundary).
    const moved = await a.c.waitFor((m): m is Extract<ServerMessage, { type: 'observation_delta' }> => m.type === 'observation_delta' && m.global_seq >= cancelled.stale_due_to[0]!.global_seq);
    expect(Math.abs(cancelled.server_time - (moved.server_time + 0.5))).toBeLessThanOrEqual(1.5);
    // Past the world's staleness threshold (50 visible events), that context is rejected when submitted.
    for (let i = 0; i < 55; i++) b.c.send({ type: 'submit_intent', intent: { req_id: `b${i}`, kind: 'Move', payload: { dx: i % 2 ? 1 : -1, dy: 0 }, context_seq: srv.host.runtime.observe(`gen-b-${codec}`).view_seq, priority: 0 } });
    await b.c.waitFor((m) => m.type === 'intent_result' && m.req_id === 'b54');
    a.c.send({ type: 'submit_intent', intent: { req_id: 'late', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: ctx, priority: 0 } });
    const r = await a.c.waitFor((m): m is Extract<ServerMessage, { type: 'intent_result' }> => m.type === 'intent_result' && m.req_id === 'late');
    expect(r.status).toBe('rejected');
    expect(r.error?.name).toBe('STALE_CONTEXT');
    expect(r.error?.code).toBe(1001);
    a.c.close();
    b.c.close();
  });

  it('resumes after a disconnect with exactly the missed deltas', async () => {
    const a = await join(srv, codec, `res-a-${codec}`, { x: 500, y: 950 });
    const b = await join(srv, codec, `res-b-${codec}`, { x: 510, y: 950 });
    await a.v.matchesServer(srv, `res-a-${codec}`);
    a.c.close();
    await a.c.waitClosed();
    for (let i = 0; i < 4; i++) {
      b.c.send({ type: 'submit_intent', intent: { req_id: `bm${i}`, kind: 'Move', payload: { dx: 1, dy: -1 }, context_seq: srv.host.runtime.observe(`res-b-${codec}`).view_seq, priority: 0 } });
      await b.c.waitFor((m) => m.type === 'intent_result' && m.req_id === `bm${i}`);
    }
    const c2 = await TestClient.connect(srv.wsUrl, codec, await token(srv, `res-a-${codec}`));
    const tracker = a.v;
    (tracker as unknown as { c: TestClient }).c = c2;
    (tracker as unknown as { consumed: number }).consumed = 0;
    c2.hello(`res-a-${codec}`, { resume: { view_seq: tracker.viewSeq } });
    const w = await c2.waitFor(is('welcome'));
    expect(w.snapshot).toBeUndefined();
    expect(w.view_seq).toBe(tracker.viewSeq);
    await tracker.matchesServer(srv, `res-a-${codec}`);
    expect(c2.received.filter((m) => m.type === 'observation_delta').length).toBeGreaterThanOrEqual(1);
    expect(tracker.view.entities[`res-b-${codec}`]).toMatchObject({ x: 514, y: 946 });
    c2.close();
    b.c.close();
  });

  it('refuses cross-agent, cross-tenant and role violations with typed errors', async () => {
    const c = await TestClient.connect(srv.wsUrl, codec, await token(srv, 'mallory'));
    c.hello('victim');
    const e = await c.waitFor(is('error'));
    expect(e.name).toBe('FORBIDDEN');
    expect(e.code).toBe(5002);
    const t2 = await TestClient.connect(srv.wsUrl, codec, await token(srv, 'mallory', 'agent', { tenant: 'other-tenant' }));
    t2.hello('mallory');
    expect((await t2.waitFor(is('error'))).name).toBe('TENANT_ISOLATION_VIOLATION');
    const v = await TestClient.connect(srv.wsUrl, codec, await token(srv, `alice-${codec}`, 'viewer'));
    v.hello(`alice-${codec}`);
    await v.waitFor(is('welcome'));
    v.send({ type: 'submit_intent', intent: { req_id: 'x', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0, priority: 0 } });
    expect((await v.waitFor(is('error'))).name).toBe('FORBIDDEN');
    v.send({ type: 'emit', kind: 'Speak', payload: { text: 'hi' }, priority: 0, req_id: '' });
    expect((await v.waitFor((m) => m.type === 'error' && v.received.filter((x) => x.type === 'error').length >= 2)).type).toBe('error');
    for (const x of [c, t2, v]) x.close();
  });

  it('answers malformed and random frames with typed errors and keeps serving', async () => {
    const c = await TestClient.connect(srv.wsUrl, codec, await token(srv, `fuzz-${codec}`));
    c.hello(`fuzz-${codec}`);
    await c.waitFor(is('welcome'));
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 60; i++) {
      const bytes = new Uint8Array(1 + Math.floor(rnd() * 64)).map(() => Math.floor(rnd() * 256));
      if (codec === Subprotocol.JSON) c.sendRaw(i % 2 ? Buffer.from(bytes).toString('latin1') : `{"type":"submit_intent","intent":${i}}`);
      else c.sendRaw(bytes);
    }
    const deadline = Date.now() + 5000;
    while (c.received.filter((m) => m.type === 'error').length < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const errors = c.received.filter((m) => m.type === 'error');
    expect(errors.length).toBe(60);
    for (const e of errors) expect(['MALFORMED_FRAME', 'INVALID_INTENT', 'SCHEMA_VERSION_MISMATCH']).toContain(e.name);
    c.send({ type: 'ping', client_time: 1 });
    await c.waitFor(is('pong'));
    expect(srv.host.healthy).toBe(true);
    c.close();
  });
});

describe('server limits, shutdown and HTTP', () => {
  it('refuses an upgrade without the right token or subprotocol before any world data', async () => {
    const srv = await startTestServer();
    try {
      await expect(TestClient.connect(srv.wsUrl, Subprotocol.JSON, 'not-a-token')).rejects.toMatchObject({ status: 401 });
      // A well-formed token with a bad signature: the socket opens, then gets UNAUTHORIZED and 1008, and nothing else.
      const forged = (await token(srv, 'a')).replace(/\.[^.]+$/, '.AAAA');
      const f = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, forged);
      expect((await f.waitFor(is('error'))).name).toBe('UNAUTHORIZED');
      expect((await f.waitClosed()).code).toBe(1008);
      expect(f.received.map((m) => m.type)).toEqual(['error']);
      await expect(TestClient.connect(srv.wsUrl.replace('/default/', '/elsewhere/'), Subprotocol.JSON, await token(srv, 'a'))).rejects.toMatchObject({ status: 404 });
      await expect(TestClient.connect(srv.wsUrl, 'worldline.v9.json' as Subprotocol, await token(srv, 'a'))).rejects.toMatchObject({ status: 400 });
      // No token at all: the socket opens, but Hello without a token is refused and nothing else is sent.
      const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON);
      c.hello('a');
      const e = await c.waitFor(is('error'));
      expect(e.name).toBe('UNAUTHORIZED');
      expect((await c.waitClosed()).code).toBe(1008);
      expect(c.received.every((m) => m.type === 'error')).toBe(true);
    } finally {
      await srv.shutdown();
    }
  });

  it('rate-limits frames, closes oversize frames, and quarantines repeat offenders', async () => {
    const srv = await startTestServer({ messagesPerSecond: 5, maxPayloadLength: 512, quarantineAfter: 3 });
    try {
      const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'spammer'));
      c.hello('spammer');
      await c.waitFor(is('welcome'));
      for (let i = 0; i < 30; i++) c.send({ type: 'ping', client_time: i });
      const limited = await c.waitFor((m) => m.type === 'error' && m.name === 'QUOTA_EXCEEDED');
      expect(limited.type).toBe('error');
      await c.waitFor((m) => m.type === 'error' && m.name === 'AGENT_QUARANTINED');
      expect((await c.waitClosed()).code).toBe(1008);
      expect(srv.logLines.some((l) => l['event'] === 'quarantine' || l['msg'] === 'security event: rate-limit')).toBe(true);
      const big = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'big'));
      big.sendRaw('x'.repeat(2000));
      const closed = await big.waitClosed();
      expect(closed.code).toBe(1009);
      expect(closed.reason).toContain('maxPayloadLength (512)');
    } finally {
      await srv.shutdown();
    }
  });

  it('closes a slow consumer at its buffer limit; it resumes to the exact server view', async () => {
    const srv = await startTestServer({ maxBackpressure: 1024 * 1024, maxPayloadLength: 64 * 1024, messagesPerSecond: 100_000 });
    try {
      const slow = await join(srv, Subprotocol.JSON, 'slow', { x: 300, y: 700 });
      await slow.v.matchesServer(srv, 'slow');
      const admin = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, undefined, 'admin'));
      admin.hello('slow');
      await admin.waitFor(is('welcome'));
      const sock = (slow.c.ws as unknown as { _socket: { pause(): void } })._socket;
      sock.pause();
      // Large deltas (twenty 30 KB fields rewritten every tick) overflow the kernel buffers and then the server's;
      // the view itself stays under the limit, so the snapshot a resuming client may get still fits.
      for (let e = 0; e < 20; e++) admin.send({ type: 'emit', kind: 'Spawn', payload: { entity_id: `blobby-${e}`, fields: { x: 305, y: 700 } }, priority: 0, req_id: `spawn-${e}` });
      await admin.waitFor((m) => m.type === 'intent_result' && m.req_id === 'spawn-19');
      for (let round = 0; round < 40; round++) {
        for (let e = 0; e < 20; e++) admin.send({ type: 'emit', kind: 'SetAttributes', payload: { entity_id: `blobby-${e}`, set: { blob: String(round % 10).repeat(30_000) } }, priority: 0, req_id: '' });
        await new Promise((r) => setTimeout(r, 30));
      }
      const metrics = await srv.metrics.registry.getSingleMetricAsString('worldline_backpressure_closes_total');
      expect(metrics).toMatch(/worldline_backpressure_closes_total [1-9]/);
      (slow.c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      await slow.c.waitClosed(10_000);
      // The other session (admin) was not held back: it is still connected and served.
      admin.send({ type: 'ping', client_time: 2 });
      await admin.waitFor(is('pong'));
      const again = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'slow'));
      const tracker = new ViewTracker(again);
      again.hello('slow', { resume: { view_seq: slow.v.viewSeq } });
      tracker.viewSeq = slow.v.viewSeq;
      tracker.view = slow.v.view;
      await tracker.matchesServer(srv, 'slow');
      expect(tracker.view.entities['blobby-19']?.['blob']).toBe('9'.repeat(30_000));
      again.close();
      admin.close();
    } finally {
      await srv.shutdown();
    }
  });

  it('shuts down gracefully: going-away close, and every acknowledged intent survives a restart', async () => {
    const srv = await startTestServer();
    const { c } = await join(srv, Subprotocol.MSGPACK, 'durable', { x: 200, y: 200 });
    for (let i = 0; i < 40; i++) c.send({ type: 'submit_intent', intent: { req_id: `d${i}`, kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: srv.host.runtime.observe('durable').view_seq, priority: 0 } });
    await new Promise((r) => setTimeout(r, 60));
    const shut = srv.shutdown();
    const closed = await c.waitClosed();
    await shut;
    expect(closed.code).toBe(1001);
    expect(closed.reason).toMatch(/reconnect/);
    const acked = c.received.filter((m): m is Extract<ServerMessage, { type: 'intent_result' }> => m.type === 'intent_result' && m.status === 'accepted').map((m) => m.global_seq);
    expect(acked.length).toBeGreaterThan(0);
    const again = await startTestServer({}, srv.dataDir);
    try {
      const seqs = new Set<number>();
      for (const r of again.host.log.records()) {
        if (r.kind === 'effect') seqs.add((JSON.parse(Buffer.from(r.payload).toString()) as { global_seq: number }).global_seq);
      }
      for (const g of acked) expect(seqs.has(g!)).toBe(true);
    } finally {
      await again.shutdown();
      fs.rmSync(srv.dataDir, { recursive: true, force: true });
    }
  });

  it('counts the frames and bytes it sends per codec (worldline_frames_sent_total, worldline_bytes_sent_total)', async () => {
    const srv = await startTestServer();
    try {
      const counts: Record<string, { frames: number; bytes: number }> = {};
      for (const sub of [Subprotocol.JSON, Subprotocol.PROTO]) {
        const c = await TestClient.connect(srv.wsUrl, sub, await token(srv, `counted-${sub.split('.').pop()}`));
        const got = (counts[sub] = { frames: 0, bytes: 0 });
        c.ws.on('message', (d: Buffer) => {
          got.frames++;
          got.bytes += d.length;
        });
        c.hello(`counted-${sub.split('.').pop()}`);
        await c.waitFor(is('welcome'));
        c.send({ type: 'ping', client_time: 1 });
        await c.waitFor(is('pong'));
        c.close();
        await c.waitClosed();
      }
      const text = await (await fetch(`${srv.httpUrl}/metrics`)).text();
      for (const [sub, got] of Object.entries(counts)) {
        const frames = Number(new RegExp(`^worldline_frames_sent_total\\{codec="${sub.replace(/\./g, '\\.')}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
        const bytes = Number(new RegExp(`^worldline_bytes_sent_total\\{codec="${sub.replace(/\./g, '\\.')}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
        // Every frame the client read was counted, and nothing the closed socket never got.
        expect(frames).toBe(got.frames);
        expect(bytes).toBe(got.bytes);
      }
      // Read again, the counters hold their totals (nothing is counted twice or lost at a scrape).
      const again = await (await fetch(`${srv.httpUrl}/metrics`)).text();
      expect(/^worldline_frames_sent_total\{codec="worldline\.v1\.json"\} (\d+)$/m.exec(again)?.[1]).toBe(String(counts[Subprotocol.JSON]!.frames));
    } finally {
      await srv.shutdown();
      fs.rmSync(srv.dataDir, { recursive: true, force: true });
    }
  });

  it('serves health, metrics and REST (submit, long-poll observe, emit) with the same authorisation', async () => {
    const srv = await startTestServer();
    try {
      const get = (p: string, t?: string) => fetch(`${srv.httpUrl}${p}`, t ? { headers: { authorization: `Bearer ${t}` } } : {});
      expect((await get('/livez')).status).toBe(200);
      expect(await (await get('/readyz')).json()).toEqual({ status: 'ready' });
      const metrics = await (await get('/metrics')).text();
      expect(metrics).toMatch(/# TYPE worldline_observation_delivery_seconds histogram/);
      expect(metrics).toMatch(/# TYPE worldline_log_fsync_seconds histogram/);
      expect(metrics).toMatch(/# TYPE worldline_quantum_seconds histogram/);
      expect(metrics).toMatch(/# TYPE worldline_fanout_seconds histogram/);

      expect(metrics).toMatch(/process_cpu_user_seconds_total/);
      const t = await token(srv, 'rest-agent');
      const post = (p: string, body: unknown, tok = t) => fetch(`${srv.httpUrl}${p}`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const spawn = await post('/v1/worlds/default/intents', { intent: { req_id: 's', kind: 'Spawn', payload: { entity_id: 'rest-agent', fields: { x: 700, y: 100 } }, context_seq: 0 } });
      expect(spawn.status).toBe(200);
      expect(await spawn.json()).toMatchObject({ status: 'committed', req_id: 's' });
      const snap = (await (await get('/v1/worlds/default/agents/rest-agent/observe', t)).json()) as { view_seq: number; view: View };
      expect(snap.view.entities['rest-agent']).toMatchObject({ x: 700, y: 100 });
      const poll = get(`/v1/worlds/default/agents/rest-agent/observe?after=${snap.view_seq}&timeout_ms=5000`, t);
      await post('/v1/worlds/default/intents', { intent: { req_id: 'mv', kind: 'Move', payload: { dx: 2, dy: 0 }, context_seq: snap.view_seq } });
      const delta = (await (await poll).json()) as { kind: string; deltas: Array<{ from_seq: number; ops: WireOp[] }> };
      expect(delta.kind).toBe('deltas');
      expect(delta.deltas[0]!.from_seq).toBe(snap.view_seq);
      // A long poll's timeout out of range (or not a number) is refused, not clamped to something the client did not ask.
      for (const bad of ['70000', '-1', 'abc', '', '1.5']) {
        const r = await get(`/v1/worlds/default/agents/rest-agent/observe?after=0&timeout_ms=${bad}`, t);
        expect(r.status).toBe(400);
        expect(((await r.json()) as { error: { name: string; details: unknown } }).error).toMatchObject({ name: 'CONFIG_INVALID', details: { field: 'timeout_ms' } });
      }
      for (const bad of ['', '0x10', '1e3', '-1', ' 1']) {
        const r = await get(`/v1/worlds/default/agents/rest-agent/observe?after=${encodeURIComponent(bad)}&timeout_ms=0`, t);
        expect(r.status).toBe(400);
        expect(((await r.json()) as { error: { name: string } }).error.name).toBe('INVALID_VIEW_SEQ');
      }
      const other = await get('/v1/worlds/default/agents/someone-else/observe', t);
      expect(other.status).toBe(403);
      expect(((await other.json()) as { error: { name: string } }).error.name).toBe('FORBIDDEN');
      expect((await post('/v1/worlds/default/emit', { kind: 'Speak', payload: {} })).status).toBe(403);
      expect((await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'POST', body: '{}' })).status).toBe(401);
      expect((await post('/v1/worlds/default/intents', 'not an object')).status).toBe(400);
      // A rejected intent's error is a full error body, with what to do, as over the socket; and the core checks a REST
      // payload as the codecs check a socket's (JSON.parse keeps a "__proto__" key, the codecs' rules refuse it).
      const bad = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: '{"intent":{"req_id":"pp","kind":"SetAttributes","payload":{"set":{"__proto__":{"polluted":1},"z":1}},"context_seq":0}}' });
      expect(await bad.json()).toMatchObject({ status: 'rejected', error: { code: 2002, name: 'INVALID_INTENT', recovery: 'MODIFY_INTENT', details: { field: 'payload' } } });
      // REST intents count in the metrics as the socket's do (no socket has sent one in this test).
      const counted = await (await get('/metrics')).text();
      expect(counted).toMatch(/worldline_intents_total\{outcome="accepted"\} [1-9]/);
      expect(counted).toMatch(/worldline_intents_total\{outcome="rejected"\} [1-9]/);
      expect(counted).toMatch(/worldline_intent_rejections_total\{code="INVALID_INTENT"\} [1-9]/);
      // Intents committed above went through group commits: their waits and fsyncs were timed.
      const after = await (await get('/metrics')).text();
      expect(after).toMatch(/worldline_log_append_seconds_count [1-9]/);
      expect(after).toMatch(/worldline_log_fsync_seconds_count [1-9]/);
      expect(after).toMatch(/worldline_quantum_seconds_count [1-9]/);
      expect(after).toMatch(/worldline_intents_total|worldline_queue_depth\{queue="intents"\}/);
    } finally {
      await srv.shutdown();
    }
  });
});
