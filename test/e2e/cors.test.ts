/**
 * CORS for the REST API (config corsOrigins): a browser page from an allowed origin may call it across origins
 * (preflight answered, responses readable); any other origin, or a server without corsOrigins, gets no CORS headers,
 * so the browser keeps the response from the page. The real browser's side is in test/adapters/browser.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { token, withServer } from './harness.js';

const APP = 'https://app.example';

describe('CORS on the REST API', () => {
  it('answers the preflight and marks responses readable for an allowed origin only', async () => {
    await withServer({ corsOrigins: [APP] }, async (srv) => {
      const url = `${srv.httpUrl}/v1/worlds/default/intents`;
      const pre = await fetch(url, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe(APP);
      expect(pre.headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE, OPTIONS');
      expect(pre.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
      expect(pre.headers.get('vary')).toBe('Origin');
      const t = await token(srv, 'a1');
      const body = JSON.stringify({ intent: { req_id: 'c1', kind: 'Spawn', payload: { entity_id: 'a1', fields: { x: 1, y: 1 } }, context_seq: 0 } });
      const ok = await fetch(url, { method: 'POST', headers: { origin: APP, authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('access-control-allow-origin')).toBe(APP);
      // Errors are readable too: the page can show why.
      const denied = await fetch(url, { method: 'POST', headers: { origin: APP, authorization: 'Bearer nope' }, body });
      expect(denied.status).toBe(401);
      expect(denied.headers.get('access-control-allow-origin')).toBe(APP);
      // Another origin: no CORS headers on the preflight or the response.
      const otherPre = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      expect(otherPre.status).toBe(204);
      expect(otherPre.headers.get('access-control-allow-origin')).toBeNull();
      const other = await fetch(url, { method: 'POST', headers: { origin: 'https://evil.example', authorization: `Bearer ${t}` }, body: JSON.stringify({ intent: { req_id: 'c2', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 } }) });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  it('* allows any origin without Vary; no corsOrigins, no CORS at all', async () => {
    await withServer({ corsOrigins: ['*'] }, async (srv) => {
      const r = await fetch(`${srv.httpUrl}/v1/worlds/default/agents/a1/observe`, { headers: { origin: 'https://anywhere.example' } });
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
      expect(r.headers.get('vary')).toBeNull();
    });
    await withServer({}, async (srv) => {
      const pre = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST' } });
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
      const r = await fetch(`${srv.httpUrl}/v1/worlds/default/agents/a1/observe`, { headers: { origin: APP } });
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  it('the config takes origins as browsers send them, and says how to write one that is not', () => {
    expect(loadConfig({ env: { WORLDLINE_CORS_ORIGINS: 'https://app.example, http://127.0.0.1:5173' } }).corsOrigins).toEqual(['https://app.example', 'http://127.0.0.1:5173']);
    expect(() => loadConfig({ env: { WORLDLINE_CORS_ORIGINS: 'https://app.example/' } })).toThrow(/config corsOrigins \(from WORLDLINE_CORS_ORIGINS\) "https:\/\/app\.example\/" is not an origin: write it as "https:\/\/app\.example"/);
    expect(() => loadConfig({ env: { WORLDLINE_CORS_ORIGINS: 'app.example' } })).toThrow(/is not an origin \(https:\/\/app\.example\.com\) or \*/);
  });
});
