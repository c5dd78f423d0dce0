/**
 * A session's IntentResult rides in the same socket write as its delta for that quantum (one write per session per
 * tick, not two), and still arrives after the delta that carries its effect.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subprotocol, type Frame, type ServerMessage } from '../../server/protocol/index.js';
import type { Subscriber } from '../../server/transport/world-host.js';
import { TestClient, is, startTestServer, token, type TestServer } from './harness.js';

describe('intent results and deltas', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ tickMs: 20 });
  });
  afterAll(async () => {
    await srv.shutdown();
    fs.rmSync(srv.dataDir, { recursive: true, force: true });
  });

  it('are written together, the delta first', async () => {
    const agent = 'batcher';
    const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, agent));
    c.hello(agent);
    const w = await c.waitFor(is('welcome'));
    // Count the session's multi-frame writes and what they carry.
    const subs = (srv.host as unknown as { subs: Map<string, Set<Subscriber>> }).subs.get(agent)!;
    const session = [...subs][0]!;
    const writes: string[][] = [];
    const original = session.sendMany!.bind(session);
    session.sendMany = (frames: readonly Frame[]): boolean => {
      writes.push(frames.map((f) => (JSON.parse(f as string) as ServerMessage).type));
      return original(frames);
    };
    const n = 6;
    c.send({ type: 'submit_intent', intent: { req_id: 'spawn', kind: 'Spawn', payload: { entity_id: agent, fields: { x: 10, y: 10 } }, context_seq: w.view_seq, priority: 0 } });
    await c.waitFor((m) => m.type === 'intent_result' && m.req_id === 'spawn');
    for (let i = 0; i < n; i++) {
      c.send({ type: 'submit_intent', intent: { req_id: `m${i}`, kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: srv.host.runtime.observe(agent).view_seq, priority: 0 } });
      await c.waitFor((m) => m.type === 'intent_result' && m.req_id === `m${i}`);
    }
    // Every accepted result comes after a delta at or past its global_seq.
    let lastDeltaSeq = -1;
    let results = 0;
    for (const m of c.received) {
      if (m.type === 'observation_delta') lastDeltaSeq = Math.max(lastDeltaSeq, m.global_seq ?? 0);
      if (m.type === 'intent_result' && m.status === 'accepted' && m.req_id.startsWith('m')) {
        results++;
        expect(lastDeltaSeq).toBeGreaterThanOrEqual(m.global_seq!);
      }
    }
    expect(results).toBe(n);
    // And they shared writes with their deltas: [observation_delta, intent_result] in one sendMany.
    const together = writes.filter((w) => w[0] === 'observation_delta' && w.includes('intent_result'));
    expect(together.length).toBeGreaterThanOrEqual(n - 1);
    c.close();
  });
});
