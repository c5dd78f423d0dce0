/**
 * REST refusals of who may do what (no token, a bad one, another agent's view, another tenant's world) are security
 * events as the socket's are (issue 4: "security events are logged"): counted in worldline_security_events_total and
 * logged at warn with the event, the error code, the method, the path without its query (which may hold the token)
 * and the client's address, so an operator sees who was refused what.
 */
import { describe, expect, it } from 'vitest';
import { sharedTestServer, token } from './harness.js';

describe('REST refusals in the security log', () => {
  const srv = sharedTestServer();

  it('logs each refused request with its code, method, path and address, and never its token', async () => {
    const s = srv();
    const bob = await token(s, 'bob');
    const otherTenant = await token(s, 'eve', 'agent', { tenant: 'acme' });
    const W = `${s.httpUrl}/v1/worlds/default`;
    const refused: Array<[string, RequestInit, number, string]> = [
      [`${W}/agents/bob/observe`, {}, 401, 'UNAUTHORIZED'],
      [`${W}/agents/bob/observe?token=not-a-token`, {}, 401, 'UNAUTHORIZED'],
      [`${W}/agents/alice/observe?token=${bob}`, {}, 403, 'FORBIDDEN'],
      [`${W}/intents`, { method: 'POST', headers: { authorization: `Bearer ${otherTenant}` }, body: '{"intent":{}}' }, 403, 'TENANT_ISOLATION_VIOLATION'],
    ];
    for (const [url, init, status, code] of refused) {
      const res = await fetch(url, init);
      expect(res.status, url).toBe(status);
      const line = await (async () => {
        for (let i = 0; i < 50; i++) {
          const found = s.logLines.find((l) => l['event'] === 'rest-denied' && l['code'] === code && l['path'] === new URL(url).pathname);
          if (found) return found;
          await new Promise((r) => setTimeout(r, 10));
        }
        return undefined;
      })();
      expect(line, `${code} ${url}`).toMatchObject({ level: 40, msg: 'security event: rest-denied', method: init.method ?? 'GET', ip: '127.0.0.1' });
    }
    const logged = JSON.stringify(s.logLines);
    expect(logged).not.toContain(bob);
    expect(logged).not.toContain(otherTenant);
    expect(logged).not.toContain('not-a-token');
    const metrics = await (await fetch(`${s.httpUrl}/metrics`)).text();
    expect(Number(/^worldline_security_events_total\{event="rest-denied"\} (\d+)$/m.exec(metrics)?.[1])).toBe(refused.length);
  });
});
