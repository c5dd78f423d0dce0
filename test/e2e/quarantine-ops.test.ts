/**
 * Quarantine as an operator meets it: an address whose connections keep failing their Hello is refused new
 * connections until its quarantine ends (it used to be counted and then never checked), every AGENT_QUARANTINED says
 * until when and under which key, and an admin lists a world's quarantine and lifts a key early.
 */
import { describe, expect, it } from 'vitest';
import { Subprotocol } from '../../server/protocol/index.js';
import { TestClient, is, sharedTestServer, token, withServer, type TestServer } from './harness.js';

const server = sharedTestServer({ quarantineAfter: 3, quarantineSec: 60 });

async function rest(method: string, p: string, tok: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server().httpUrl}${p}`, { method, headers: { authorization: `Bearer ${tok}` } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Opens a socket and sends a Hello with a token the server will not accept; resolves with the error it gets. */
async function badHello(): Promise<{ name: string; details: Record<string, unknown> }> {
  const c = await TestClient.connect(server().wsUrl, Subprotocol.JSON, undefined);
  c.hello('mallory', { token: 'eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJ4In0.forged-signature-xxxxxxxxxxxxxxxx' });
  const errs: Array<{ name: string; details: Record<string, unknown> }> = [];
  await c.waitClosed();
  for (const m of c.received) if (m.type === 'error') errs.push({ name: m.name, details: m.details as Record<string, unknown> });
  return errs[errs.length - 1]!;
}

describe('quarantine, for operators', () => {
  it('an address whose Hellos keep failing is refused new connections, with until when; an admin lists and lifts it', async () => {
    expect((await badHello()).name).toBe('UNAUTHORIZED');
    expect((await badHello()).name).toBe('UNAUTHORIZED');
    // The third within the window quarantines the address: the last error says so, with the key and until when.
    const third = await badHello();
    expect(third.name).toBe('AGENT_QUARANTINED');
    expect(third.details['key']).toMatch(/^ip:/);
    expect(third.details['retry_after_ms']).toBeGreaterThan(55_000);
    const key = third.details['key'] as string;

    // A new connection from it is refused at the upgrade, whatever token it brings.
    const refused = await TestClient.connect(server().wsUrl, Subprotocol.JSON, await token(server(), 'alice')).then(
      () => undefined,
      (err: { status: number; body: string }) => err,
    );
    expect(refused?.status).toBe(403);
    const body = JSON.parse(refused!.body) as { error: { name: string; message: string; details: Record<string, unknown> } };
    expect(body.error.name).toBe('AGENT_QUARANTINED');
    expect(body.error.details).toMatchObject({ key });
    expect(body.error.message).toMatch(/^address \S+ is quarantined after repeated violations, until \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ s\): retry then, or ask an operator to lift it$/);

    // Only an admin of the world's tenant sees or lifts it.
    const admin = await token(server(), undefined, 'admin');
    expect((await rest('GET', '/v1/worlds/default/quarantine', await token(server(), 'alice'))).status).toBe(403);
    const listed = await rest('GET', '/v1/worlds/default/quarantine', admin);
    expect(listed.json['quarantined']).toEqual([{ key, until: expect.stringMatching(/Z$/), retry_after_ms: expect.any(Number) }]);
    expect((await rest('DELETE', `/v1/worlds/default/quarantine/${encodeURIComponent(key)}`, await token(server(), 'alice'))).status).toBe(403);
    expect(await rest('DELETE', `/v1/worlds/default/quarantine/${encodeURIComponent(key)}`, admin)).toEqual({ status: 200, json: { key, lifted: true } });
    expect(await rest('DELETE', `/v1/worlds/default/quarantine/${encodeURIComponent(key)}`, admin)).toEqual({ status: 200, json: { key, lifted: false } });
    expect((await rest('GET', '/v1/worlds/default/quarantine', admin)).json['quarantined']).toEqual([]);
    expect(server().logLines.some((l) => l['msg'] === 'quarantine lifted by an operator' && l['key'] === key)).toBe(true);

    // Lifted: the address connects again, and its strikes start from zero (one more bad Hello is not a quarantine).
    const c = await TestClient.connect(server().wsUrl, Subprotocol.JSON, undefined);
    c.hello('alice', { token: await token(server(), 'alice') });
    expect((await c.waitFor(is('welcome'))).agent).toBe('alice');
    c.close();
    expect((await badHello()).name).toBe('UNAUTHORIZED');
  });

  it('over REST too: bad tokens quarantine the address, reading beyond a token quarantines its agent; admins still manage', async () => {
    await withServer({ quarantineAfter: 3, quarantineSec: 60 }, async (srv: TestServer) => {
      const call = async (method: string, p: string, tok: string): Promise<{ status: number; name: unknown; details: Record<string, unknown> }> => {
        const res = await fetch(`${srv.httpUrl}${p}`, { method, headers: { authorization: `Bearer ${tok}` } });
        const json = (await res.json()) as { error?: { name: string; details: Record<string, unknown> } };
        return { status: res.status, name: json.error?.name, details: json.error?.details ?? {} };
      };
      const alice = await token(srv, 'alice');
      const admin = await token(srv, undefined, 'admin');
      const own = '/v1/worlds/default';
      expect((await call('GET', own, alice)).status).toBe(200);
      const forged = 'eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJ4In0.forged-signature-xxxxxxxxxxxxxxxx';
      for (let i = 0; i < 3; i++) expect((await call('GET', own, forged)).name).toBe('UNAUTHORIZED');
      // The address is quarantined in that world: a good token from it is refused too, with the key to lift.
      const refused = await call('GET', own, alice);
      expect([refused.status, refused.name]).toEqual([403, 'AGENT_QUARANTINED']);
      const key = refused.details['key'] as string;
      expect(key).toMatch(/^ip:/);
      expect(srv.logLines.some((l) => l['msg'] === 'security event: quarantine' && l['key'] === key)).toBe(true);
      // Its tenant's admin, on the same host, still lists and lifts it.
      expect((await call('DELETE', `/v1/worlds/default/quarantine/${encodeURIComponent(key)}`, admin)).status).toBe(200);
      expect((await call('GET', own, alice)).status).toBe(200);

      // alice reading bob's view three times: alice is quarantined (key: her agent id), refused wherever she goes in the world.
      for (let i = 0; i < 3; i++) expect((await call('GET', '/v1/worlds/default/agents/bob/observe?timeout_ms=0', alice)).name).toBe('FORBIDDEN');
      const held = await call('GET', own, alice);
      expect([held.name, held.details['key']]).toEqual(['AGENT_QUARANTINED', 'alice']);
    });
  });
});
