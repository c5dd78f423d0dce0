/**
 * The intent pipeline over real sockets, where its answers reach clients: a cancel_intent of a queued intent, a
 * deadline_ms while the world waits for its engine's ticks, and intents still queued when the server shuts down.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Subprotocol, type ServerMessage } from '../../server/protocol/index.js';
import { TestClient, is, startTestServer, token, withServer, type TestServer } from './harness.js';

type Result = Extract<ServerMessage, { type: 'intent_result' }>;
const resultsFor = (c: TestClient, reqId: string): Result[] => c.received.filter((m): m is Result => m.type === 'intent_result' && m.req_id === reqId);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Joins as `agent` (JSON) and spawns its entity far from the NPCs; resolves with the client. */
async function spawned(srv: TestServer, agent: string, x: number): Promise<TestClient> {
  const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, agent));
  c.hello(agent);
  const w = await c.waitFor(is('welcome'));
  c.send({ type: 'submit_intent', intent: { req_id: `spawn-${agent}`, kind: 'Spawn', payload: { entity_id: agent, fields: { x, y: 950 } }, context_seq: w.view_seq, priority: 0 } });
  const r = await c.waitFor((m): m is Result => m.type === 'intent_result' && m.req_id === `spawn-${agent}`);
  expect(r.status).toBe('accepted');
  return c;
}

function move(c: TestClient, srv: TestServer, agent: string, reqId: string, extra: { deadline_ms?: number } = {}): void {
  c.send({ type: 'submit_intent', intent: { req_id: reqId, kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: srv.host.runtime.viewSeq(agent), priority: 0, ...extra } });
}

describe('intent pipeline over sockets', () => {
  it('answers a cancel_intent of a queued intent with one intent_result (cancelled), and the intent never commits', async () => {
    // Ticks far apart: the intents wait in the queue while the cancel arrives.
    await withServer({ tickMs: 1000 }, async (srv) => {
      const c = await spawned(srv, 'canceller', 900);
      move(c, srv, 'canceller', 'keep');
      move(c, srv, 'canceller', 'drop');
      c.send({ type: 'cancel_intent', req_id: 'drop' });
      await c.waitFor((m) => m.type === 'intent_result' && m.req_id === 'keep', 5000);
      // Everything the server sends about 'drop' has been sent by now (it answered the cancel before the next tick).
      await sleep(50);
      expect(resultsFor(c, 'drop').map((r) => r.status)).toEqual(['cancelled']);
      expect(resultsFor(c, 'keep').map((r) => r.status)).toEqual(['accepted']);
      expect(srv.host.runtime.cancel('canceller', 'drop')).toEqual({ status: 'unknown' });
      // Another connection of the same agent cancelling an intent this one did not submit is answered (only it asks).
      move(c, srv, 'canceller', 'other');
      const d = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'canceller'));
      d.hello('canceller');
      await d.waitFor(is('welcome'));
      d.send({ type: 'cancel_intent', req_id: 'other' });
      expect((await d.waitFor((m): m is Result => m.type === 'intent_result' && m.req_id === 'other')).status).toBe('cancelled');
      expect((await c.waitFor((m): m is Result => m.type === 'intent_result' && m.req_id === 'other')).status).toBe('cancelled');
      await sleep(50);
      expect(resultsFor(c, 'other')).toHaveLength(1);
      expect(resultsFor(d, 'other')).toHaveLength(1);
      c.close();
      d.close();
    });
  }, 20_000);

  it('answers a req_id retried while its intent is still queued as duplicate, on the same socket and after a reconnect, and counts it accepted once', async () => {
    await withServer({ tickMs: 500 }, async (srv) => {
      const c = await spawned(srv, 'retrier', 900);
      const accepted = async (): Promise<number> => {
        const text = await srv.metrics.registry.getSingleMetricAsString('worldline_intents_total');
        return Number(/worldline_intents_total\{[^}]*outcome="accepted"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
      };
      const before = await accepted();
      move(c, srv, 'retrier', 'again');
      move(c, srv, 'retrier', 'again');
      // Another connection of the agent resends it while it is still queued (as the SDK does after a reconnect).
      const d = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'retrier'));
      d.hello('retrier');
      await d.waitFor(is('welcome'));
      expect(srv.host.runtime.pendingIntents).toBe(1);
      move(d, srv, 'retrier', 'again');
      const onD = await d.waitFor((m): m is Result => m.type === 'intent_result' && m.req_id === 'again', 5000);
      await sleep(50);
      const onC = resultsFor(c, 'again');
      c.close();
      expect(onC.map((r) => r.status).sort()).toEqual(['accepted', 'duplicate']);
      expect(onD.status).toBe('duplicate');
      expect(new Set([...onC, onD].map((r) => r.global_seq)).size).toBe(1);
      expect((await accepted()) - before).toBe(1);
      d.close();
    });
  }, 20_000);

  it('fails an intent with OPERATION_TIMEOUT at its deadline_ms while the world waits for its engine to tick', async () => {
    await withServer({ tickMs: 20 }, async (srv) => {
      const c = await spawned(srv, 'hurried', 900);
      // An engine joins: the world now advances only on its time_ticks, and this one sends none.
      const e = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, undefined, 'engine'));
      e.send({ type: 'hello', token: '', agent_id: '', role: 'engine', client_version: 'e2e/1', schema_version: '1.0.0' });
      await e.waitFor(is('welcome'));
      const t0 = Date.now();
      move(c, srv, 'hurried', 'late', { deadline_ms: 100 });
      move(c, srv, 'hurried', 'waits');
      const r = await c.waitFor((m): m is Result => m.type === 'intent_result' && m.req_id === 'late', 3000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
      expect(r.status).toBe('rejected');
      expect(r.error).toMatchObject({ name: 'OPERATION_TIMEOUT', code: 4001, details: { req_id: 'late' } });
      // The intent without a deadline still waits for the engine.
      expect(resultsFor(c, 'waits')).toEqual([]);
      expect(srv.host.runtime.pendingIntents).toBe(1);
      c.close();
      e.close();
    });
  }, 20_000);

  it('commits the intents still queued at shutdown, so a retry after the restart gets their outcome', async () => {
    const srv = await startTestServer({ tickMs: 10_000 });
    try {
      // Spawned before the tick timer's first tick: the Spawn needs a quantum, which the test runs itself.
      const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'late-guest'));
      c.hello('late-guest');
      const w = await c.waitFor(is('welcome'));
      c.send({ type: 'submit_intent', intent: { req_id: 'spawn', kind: 'Spawn', payload: { entity_id: 'late-guest', fields: { x: 900, y: 950 } }, context_seq: w.view_seq, priority: 0 } });
      while (srv.host.runtime.pendingIntents === 0) await sleep(5);
      const vs = srv.host.runtime.viewSeq('late-guest');
      c.send({ type: 'submit_intent', intent: { req_id: 'step', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: vs, priority: 0 } });
      while (srv.host.runtime.pendingIntents < 2) await sleep(5);
      await srv.shutdown();
      const again = await startTestServer({ tickMs: 20 }, srv.dataDir);
      try {
        const committed = new Map<string, number>();
        for (const r of again.host.log.records()) {
          if (r.kind !== 'effect') continue;
          const e = JSON.parse(Buffer.from(r.payload).toString()) as { req_id?: string; agent_id?: string; global_seq: number };
          if (e.agent_id === 'late-guest' && e.req_id) committed.set(e.req_id, e.global_seq);
        }
        expect([...committed.keys()]).toEqual(['spawn', 'step']);
        const d = await TestClient.connect(again.wsUrl, Subprotocol.JSON, await token(again, 'late-guest'));
        d.hello('late-guest');
        await d.waitFor(is('welcome'));
        d.send({ type: 'submit_intent', intent: { req_id: 'step', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: vs, priority: 0 } });
        const r = await d.waitFor((m): m is Result => m.type === 'intent_result' && m.req_id === 'step');
        expect(r).toMatchObject({ status: 'duplicate', global_seq: committed.get('step') });
        d.close();
      } finally {
        await again.shutdown();
      }
    } finally {
      fs.rmSync(srv.dataDir, { recursive: true, force: true });
    }
  }, 20_000);
});
