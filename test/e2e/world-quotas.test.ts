/**
 * Intent quotas as a served world gets them: the world's own per-class and tenant quotas (docs/core.md stage 4)
 * hold, the server's intentsPerSecondPerAgent / PerTenant fill in where the world sets none, and a QUOTA_EXCEEDED
 * retried after its retry_after_ms is admitted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Subprotocol, type ServerMessage } from '../../server/protocol/index.js';
import { TestClient, is, token, withServer, type TestServer } from './harness.js';

type Result = Extract<ServerMessage, { type: 'intent_result' }>;

const WORLD = `export default {
  name: 'rationed', seed: 'rationed-1',
  initialState: { entities: {} },
  policies: {
    observation: { distance: { radius: 100 } },
    agentClasses: { default: { quota: { rate: 4, burst: 1 } } },
  },
};
`;

async function join(srv: TestServer, agent: string): Promise<{ c: TestClient; submit: (reqId: string, dx: number) => Promise<Result> }> {
  const url = srv.worlds[0]!.wsUrl;
  const c = await TestClient.connect(url, Subprotocol.JSON, await token(srv, agent, 'agent', { world: srv.worlds[0]!.id }));
  c.hello(agent);
  await c.waitFor(is('welcome'));
  const submit = async (reqId: string, dx: number): Promise<Result> => {
    const from = c.received.length;
    const rt = srv.host.runtime;
    const kind = reqId.startsWith('spawn') ? 'Spawn' : 'Move';
    const payload = kind === 'Spawn' ? { entity_id: agent, fields: { x: 0, y: 0 } } : { dx, dy: 0 };
    c.send({ type: 'submit_intent', intent: { req_id: reqId, kind, payload, context_seq: rt.viewSeq(agent), priority: 0 } });
    return c.waitFor((m): m is Result => m.type === 'intent_result' && m.req_id === reqId, 5000, from);
  };
  return { c, submit };
}

describe('intent quotas of a served world', () => {
  it("keeps the world's own class quota (rate 4/s, burst 1) rather than the server default, and admits a retry after retry_after_ms", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-quota-'));
    const file = path.join(dir, 'rationed.mjs');
    fs.writeFileSync(file, WORLD);
    try {
      await withServer({ world: file, tickMs: 10 }, async (srv) => {
        const { c, submit } = await join(srv, 'frugal');
        expect((await submit('spawn', 0)).status).toBe('accepted');
        // The bucket (burst 1) refills one token per 250 ms: a second intent at once is refused.
        const first = await submit('m1', 1);
        const second = first.status === 'accepted' ? await submit('m2', 1) : first;
        expect(second.status).toBe('rejected');
        expect(second.error).toMatchObject({ name: 'QUOTA_EXCEEDED', details: { scope: 'agent' } });
        const wait = (second.error?.details as { retry_after_ms: number }).retry_after_ms;
        expect(wait).toBeGreaterThan(0);
        expect(wait).toBeLessThanOrEqual(250);
        await new Promise((r) => setTimeout(r, wait + 5));
        // Not recorded (a quota refusal is judged afresh): the same req_id is admitted once the token is back.
        const retried = await submit(second.req_id, 1);
        expect(retried.status).toBe('accepted');
        c.close();
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
