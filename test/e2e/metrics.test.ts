/**
 * GET /metrics as an operator reads it (docs/server.md, the endpoint table): each worldline_* series issue 4 names
 * moves when its event happens, read over HTTP before and after a scenario over real sockets: sessions (up on a
 * Hello, down on a close), observation delivery (counted per frame, sub-millisecond buckets), intents by outcome,
 * generation cancels by reason, stale-context rejections. No series carries a per-agent label. A scrape that fails
 * answers with the error body every refusal has, and the cause is logged.
 */
import fs from 'node:fs';
import { Gauge } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../server/obs/metrics.js';
import { Subprotocol, type ServerMessage } from '../../server/protocol/index.js';
import { TestClient, is, sharedTestServer, startTestServer, token, type TestServer } from './harness.js';

type IntentResult = Extract<ServerMessage, { type: 'intent_result' }>;

/** The exposition's samples: name, labels and value, for the worldline_* series. */
async function scrape(srv: TestServer): Promise<Array<{ name: string; labels: Record<string, string>; value: number }>> {
  const res = await fetch(`${srv.httpUrl}/metrics`);
  expect(res.status).toBe(200);
  const out = [];
  for (const line of (await res.text()).split('\n')) {
    const m = /^(worldline_\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of a metric's samples whose labels include `match`. */
async function total(srv: TestServer, name: string, match: Record<string, string> = {}): Promise<number> {
  return (await scrape(srv)).filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

/** Polls a metric until `ok` holds of its value (metrics read at scrape time may trail the answer by a turn). */
async function eventually(srv: TestServer, name: string, match: Record<string, string>, ok: (v: number) => boolean): Promise<number> {
  let v = await total(srv, name, match);
  for (let i = 0; i < 100 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 20));
    v = await total(srv, name, match);
  }
  return v;
}

/** Joins as `agent` over JSON and spawns it at `at`; the view_seq after the spawn. */
async function join(srv: TestServer, agent: string, at: { x: number; y: number }): Promise<{ c: TestClient; viewSeq: () => number }> {
  const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, agent));
  c.hello(agent);
  const w = await c.waitFor(is('welcome'));
  c.send({ type: 'submit_intent', intent: { req_id: `spawn-${agent}`, kind: 'Spawn', payload: { entity_id: agent, fields: at }, context_seq: w.view_seq, priority: 0 } });
  const r = await c.waitFor((m): m is IntentResult => m.type === 'intent_result' && m.req_id === `spawn-${agent}`);
  expect(r.status).toBe('accepted');
  return { c, viewSeq: () => srv.host.runtime.observe(agent).view_seq };
}

describe('GET /metrics: each worldline_* series moves with its event', () => {
  const srv = sharedTestServer();
  const json = Subprotocol.JSON as string;

  it('worldline_sessions counts an open session by codec and world, and drops it when the socket closes', async () => {
    const before = await total(srv(), 'worldline_sessions', { codec: json, world: 'default' });
    const { c } = await join(srv(), 'm-sess', { x: 300, y: 900 });
    expect(await eventually(srv(), 'worldline_sessions', { codec: json, world: 'default' }, (v) => v === before + 1)).toBe(before + 1);
    c.close();
    await c.waitClosed();
    expect(await eventually(srv(), 'worldline_sessions', { codec: json, world: 'default' }, (v) => v === before)).toBe(before);
  });

  it('worldline_observation_delivery_seconds counts each delta frame delivered, in sub-millisecond buckets', async () => {
    const before = await total(srv(), 'worldline_observation_delivery_seconds_count', { codec: json });
    const { c } = await join(srv(), 'm-deliv', { x: 320, y: 900 });
    await c.waitFor(is('observation_delta'));
    expect(await eventually(srv(), 'worldline_observation_delivery_seconds_count', { codec: json }, (v) => v > before)).toBeGreaterThan(before);
    const buckets = (await scrape(srv())).filter((s) => s.name === 'worldline_observation_delivery_seconds_bucket' && s.labels['codec'] === json).map((s) => Number(s.labels['le']));
    expect(buckets.filter((le) => le < 0.001).length).toBeGreaterThanOrEqual(3);
    c.close();
  });

  it('worldline_intents_total by outcome, worldline_cancels_total by reason and worldline_stale_context_total', async () => {
    const a = await join(srv(), 'm-gen-a', { x: 700, y: 900 });
    const b = await join(srv(), 'm-gen-b', { x: 710, y: 900 });
    const accepted = await total(srv(), 'worldline_intents_total', { outcome: 'accepted' });
    const cancels = await total(srv(), 'worldline_cancels_total');
    const stale = await total(srv(), 'worldline_stale_context_total');
    const rejected = await total(srv(), 'worldline_intents_total', { outcome: 'rejected' });

    // A generation whose context a visible event makes stale is cancelled: counted by reason.
    const ctx = a.viewSeq();
    a.c.send({ type: 'begin_generation', req_id: 'g1', context_seq: ctx });
    b.c.send({ type: 'submit_intent', intent: { req_id: 'b-move', kind: 'Move', payload: { dx: 3, dy: 0 }, context_seq: b.viewSeq(), priority: 0 } });
    await a.c.waitFor(is('cancelled'));
    expect(await eventually(srv(), 'worldline_cancels_total', {}, (v) => v > cancels)).toBe(cancels + 1);
    const reasons = (await scrape(srv())).filter((s) => s.name === 'worldline_cancels_total').map((s) => Object.keys(s.labels));
    for (const labels of reasons) expect(labels).toEqual(['reason']);
    // The Cancelled frame leaves before the move is durable, and its intent is counted once it is answered.
    expect(await eventually(srv(), 'worldline_intents_total', { outcome: 'accepted' }, (v) => v > accepted)).toBeGreaterThan(accepted);

    // Past the default world's staleness threshold (50 visible events), that context is rejected as STALE_CONTEXT.
    for (let i = 0; i < 55; i++) b.c.send({ type: 'submit_intent', intent: { req_id: `b${i}`, kind: 'Move', payload: { dx: i % 2 ? 1 : -1, dy: 0 }, context_seq: b.viewSeq(), priority: 0 } });
    await b.c.waitFor((m) => m.type === 'intent_result' && m.req_id === 'b54');
    a.c.send({ type: 'submit_intent', intent: { req_id: 'late', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: ctx, priority: 0 } });
    const r = await a.c.waitFor((m): m is IntentResult => m.type === 'intent_result' && m.req_id === 'late');
    expect(r.error?.name).toBe('STALE_CONTEXT');
    expect(await eventually(srv(), 'worldline_stale_context_total', {}, (v) => v > stale)).toBe(stale + 1);
    expect(await total(srv(), 'worldline_intents_total', { outcome: 'rejected' })).toBe(rejected + 1);
    expect(await total(srv(), 'worldline_intent_rejections_total', { code: 'STALE_CONTEXT' })).toBeGreaterThanOrEqual(1);
    a.c.close();
    b.c.close();
  });

  it('worldline_upgrades_refused_total counts every refused upgrade by code; only a refused token or address is a security event', async () => {
    const refuse = async (url: string, tok?: string): Promise<number> =>
      TestClient.connect(url, Subprotocol.JSON, tok).then(
        (c) => {
          c.close();
          return 101;
        },
        (err: { status: number }) => err.status,
      );
    const security = (): Promise<number> => total(srv(), 'worldline_security_events_total', { event: 'upgrade-refused' });
    const before = { notFound: await total(srv(), 'worldline_upgrades_refused_total', { code: 'WORLD_NOT_FOUND' }), bad: await total(srv(), 'worldline_upgrades_refused_total', { code: 'UNAUTHORIZED' }), security: await security() };
    // An unknown world (a stale URL, a deleted world): refused and counted, no security event.
    expect(await refuse(srv().wsUrl.replace('/default/', '/nowhere/'))).toBe(404);
    expect(await total(srv(), 'worldline_upgrades_refused_total', { code: 'WORLD_NOT_FOUND' })).toBe(before.notFound + 1);
    expect(await security()).toBe(before.security);
    // A query token that is not even shaped like one: refused, counted, and a security event.
    expect(await refuse(srv().wsUrl, 'not a token')).toBe(401);
    expect(await total(srv(), 'worldline_upgrades_refused_total', { code: 'UNAUTHORIZED' })).toBe(before.bad + 1);
    expect(await security()).toBe(before.security + 1);
  });

  it('no worldline_* series has a per-agent or per-session label', async () => {
    const { c } = await join(srv(), 'm-labels', { x: 100, y: 100 });
    await c.waitFor(is('observation_delta'));
    const samples = await scrape(srv());
    expect(samples.length).toBeGreaterThan(20);
    const allowed = new Set(['outcome', 'code', 'reason', 'codec', 'world', 'queue', 'kind', 'origin', 'event', 'le']);
    for (const s of samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        expect(allowed, `${s.name} label ${k}`).toContain(k);
        expect(v, `${s.name} ${k}`).not.toMatch(/^m-/);
      }
    }
    c.close();
  });

  it('a metric whose collect fails: 500 with the error body every refusal has, and the cause in the log', async () => {
    // A registry shared with the application's own metrics (startServer's deps.metrics), one of which fails.
    const metrics = createMetrics({ defaultMetrics: false });
    new Gauge({ name: 'app_queue_length', help: 'an application metric', registers: [metrics.registry], collect() { throw new Error('queue store unreachable'); } });
    const s = await startTestServer({}, undefined, { metrics });
    try {
      const res = await fetch(`${s.httpUrl}/metrics`);
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await res.json()) as { error: Record<string, unknown> };
      expect(body.error).toMatchObject({ code: 7002, name: 'DATABASE_ERROR', recovery: 'RETRY' });
      expect(body.error['message']).toContain('queue store unreachable');
      expect(s.logLines.find((l) => l['msg'] === 'metrics could not be collected')).toMatchObject({ level: 50, err: { message: 'queue store unreachable' } });
      // One that throws something other than an Error (a library's `throw undefined`) is answered the same way.
      const odd = createMetrics({ defaultMetrics: false });
      new Gauge({ name: 'app_odd', help: 'an application metric', registers: [odd.registry], collect() { throw undefined; } });
      const s2 = await startTestServer({}, undefined, { metrics: odd });
      try {
        const r2 = await fetch(`${s2.httpUrl}/metrics`);
        expect(r2.status).toBe(500);
        expect(((await r2.json()) as { error: { message: string } }).error.message).toContain('metrics could not be collected (undefined)');
        expect((await fetch(`${s2.httpUrl}/livez`)).status).toBe(200);
      } finally {
        await s2.shutdown();
        fs.rmSync(s2.dataDir, { recursive: true, force: true });
      }
    } finally {
      await s.shutdown();
      fs.rmSync(s.dataDir, { recursive: true, force: true });
    }
  });
});
