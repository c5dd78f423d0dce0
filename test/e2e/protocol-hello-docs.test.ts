/**
 * docs/protocol.md, "Refused Hello", against a real socket: which refusals before a successful Hello close the socket
 * (1008 after the Error frame) and which leave it open for a corrected Hello. The doc's sentence is read back too, so a
 * change of policy without the doc (or the doc without the policy) fails here.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Subprotocol } from '../../server/protocol/index.js';
import { TestClient, is, sharedTestServer, token } from './harness.js';

const md = fs.readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
const bullet = /- \*\*Refused Hello\*\*:([\s\S]*?)\n- \*\*/.exec(md)?.[1]?.replace(/\s+/g, ' ') ?? '';

describe('protocol.md: frames before a successful Hello', () => {
  const srv = sharedTestServer({ tickMs: 50 });
  const open = async (agent: string): Promise<TestClient> => TestClient.connect(srv().worlds[0]!.wsUrl, Subprotocol.JSON, await token(srv(), agent));

  it('the doc says what closes the socket before a Hello', () => {
    expect(bullet).toMatch(/a frame other than `hello`.*is `UNAUTHORIZED`/);
    expect(bullet).toMatch(/`MALFORMED_FRAME`: both close the socket with 1008/);
    expect(bullet).toMatch(/`SCHEMA_VERSION_MISMATCH`\) leave it open for a corrected Hello/);
  });

  it('a frame other than hello first: UNAUTHORIZED, then 1008', async () => {
    const c = await open('pre-1');
    c.send({ type: 'ping', client_time: 1 });
    const e = await c.waitFor(is('error'));
    expect([e.name, e.message]).toEqual(['UNAUTHORIZED', 'the first frame must be Hello']);
    expect((await c.waitClosed()).code).toBe(1008);
  });

  it('an undecodable frame or a hello whose schema_version is no version: MALFORMED_FRAME, then 1008', async () => {
    for (const raw of ['not json', JSON.stringify({ type: 'frobnicate' }), JSON.stringify({ type: 'hello', agent_id: 'pre-2', schema_version: 'abc' })]) {
      const c = await open('pre-2');
      c.sendRaw(raw);
      expect((await c.waitFor(is('error'))).name, raw).toBe('MALFORMED_FRAME');
      expect((await c.waitClosed()).code, raw).toBe(1008);
    }
  });

  it('a hello of another major version: SCHEMA_VERSION_MISMATCH, and a corrected hello on the same socket is welcomed', async () => {
    const c = await open('pre-3');
    c.hello('pre-3', { schema_version: '2.0.0' });
    expect((await c.waitFor(is('error'))).name).toBe('SCHEMA_VERSION_MISMATCH');
    c.hello('pre-3');
    expect((await c.waitFor(is('welcome'))).agent).toBe('pre-3');
    expect(c.closed).toBeUndefined();
    c.close();
  });
});
