/**
 * Intent quotas as a served world gets them: the world's own per-class and tenant quotas (docs/core.md stage 4)
 * hold, the server's intentsPerSecondPerAgent / PerTenant fill in where the world sets none, and a QUOTA_EXCEEDED
 * retried after its retry_after_ms is admitted.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinFirstWorld, withServer } from './harness.js';

const WORLD = `export default {
  name: 'rationed', seed: 'rationed-1',
  initialState: { entities: {} },
  policies: {
    observation: { distance: { radius: 100 } },
    agentClasses: { default: { quota: { rate: 4, burst: 1 } } },
  },
};
`;

describe('intent quotas of a served world', () => {
  it("keeps the world's own class quota (rate 4/s, burst 1) rather than the server default, and admits a retry after retry_after_ms", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-quota-'));
    const file = path.join(dir, 'rationed.mjs');
    fs.writeFileSync(file, WORLD);
    try {
      await withServer({ world: file, tickMs: 10 }, async (srv) => {
        const { c, submit } = await joinFirstWorld(srv, 'frugal');
        expect((await submit('spawn')).status).toBe('accepted');
        // The bucket (burst 1) refills one token per 250 ms: a second intent at once is refused.
        const first = await submit('m1');
        const second = first.status === 'accepted' ? await submit('m2') : first;
        expect(second.status).toBe('rejected');
        expect(second.error).toMatchObject({ name: 'QUOTA_EXCEEDED', details: { scope: 'agent' } });
        const wait = (second.error?.details as { retry_after_ms: number }).retry_after_ms;
        expect(wait).toBeGreaterThan(0);
        expect(wait).toBeLessThanOrEqual(250);
        await new Promise((r) => setTimeout(r, wait + 5));
        // Not recorded (a quota refusal is judged afresh): the same req_id is admitted once the token is back.
        const retried = await submit(second.req_id);
        expect(retried.status).toBe('accepted');
        c.close();
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
