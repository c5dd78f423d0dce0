/**
 * REST observe's timeout_ms is read as after is: decimal digits only. Number() read '0x10' as 16 ms and '1e3' as
 * 1000 ms, so a malformed value long-polled for a time the client never wrote, where 'abc' and '1.5' are refused.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, token, type TestServer } from './harness.js';

describe('REST observe timeout_ms', () => {
  let srv: TestServer;
  let tok: string;
  beforeAll(async () => {
    srv = await startTestServer({ world: 'default' });
    tok = await token(srv, 'tim');
    const spawn = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify({ intent: { req_id: 's', kind: 'Spawn', payload: { entity_id: 'tim', fields: { x: 900, y: 900 } }, context_seq: 0 } }) });
    expect(spawn.status).toBe(200);
  });
  afterAll(async () => {
    await srv.shutdown();
    fs.rmSync(srv.dataDir, { recursive: true, force: true });
  });

  const observe = (timeout: string): Promise<Response> =>
    fetch(`${srv.httpUrl}/v1/worlds/default/agents/tim/observe?after=0&timeout_ms=${encodeURIComponent(timeout)}`, { headers: { authorization: `Bearer ${tok}` } });

  it.each(['0x10', '1e3', ' 5', '5 ', '+5', '5.0', '0b1'])('refuses %j with 400 CONFIG_INVALID naming the field', async (bad) => {
    const r = await observe(bad);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: unknown }).error).toMatchObject({ name: 'CONFIG_INVALID', details: { field: 'timeout_ms' } });
  });

  it('takes decimal digits, 0 to 60000', async () => {
    for (const ok of ['0', '10', '00']) expect((await observe(ok)).status, ok).toBe(200);
  });
});
