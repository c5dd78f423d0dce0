/**
 * Quarantine as an operator meets it: an address whose connections keep failing their Hello is refused new
 * connections until its quarantine ends (it used to be counted and then never checked), every AGENT_QUARANTINED says
 * until when and under which key, and an admin lists a world's quarantine and lifts a key early.
 */
import { describe, expect, it } from 'vitest';
import { Subprotocol } from '../../server/protocol/index.js';
import { TestClient, is, sharedTestServer, token } from './harness.js';

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
});
