import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Subprotocol } from '../../server/protocol/index.js';
import { TestClient, is, startTestServer, token } from './harness.js';

/** Collects the process's unhandled rejections while `fn` runs (vitest would otherwise only report them at the end). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (err: unknown): void => {
    seen.push(err);
  };
  process.on('unhandledRejection', listener);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}

describe('transport review', () => {
  it('REST: a request refused before its body is read leaves no unhandled rejection behind (bad JSON, bad world, bad token)', async () => {
    const srv = await startTestServer();
    try {
      const t = await token(srv, 'a1');
      const seen = await unhandledDuring(async () => {
        const wrongWorld = await fetch(`${srv.httpUrl}/v1/worlds/elsewhere/intents`, { method: 'POST', headers: { authorization: `Bearer ${t}` }, body: 'not json' });
        expect(wrongWorld.status).toBe(404);
        const badToken = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: '{' });
        expect(badToken.status).toBe(401);
      });
      expect(seen).toEqual([]);
    } finally {
      await srv.shutdown();
      fs.rmSync(srv.dataDir, { recursive: true, force: true });
    }
  });

  it('WS: an engine whose socket closes while its Hello is being verified does not stay attached', async () => {
    const srv = await startTestServer();
    try {
      // Token verification that takes a while (a remote JWKS, a loaded machine): the socket goes away meanwhile.
      const verify = srv.auth.authenticate.bind(srv.auth);
      (srv.auth as { authenticate: typeof verify }).authenticate = async (t) => {
        await new Promise((r) => setTimeout(r, 150));
        return verify(t);
      };
      const t = await token(srv, undefined, 'engine');
      const gone = await TestClient.connect(srv.wsUrl, Subprotocol.JSON);
      gone.hello('', { token: t });
      await new Promise((r) => setTimeout(r, 20));
      gone.close();
      await gone.waitClosed();
      await new Promise((r) => setTimeout(r, 300));
      expect(srv.host.engine.attached).toBe(false);
      // A new engine may attach (one engine per world: a ghost would refuse it with FORBIDDEN).
      const next = await TestClient.connect(srv.wsUrl, Subprotocol.JSON);
      next.hello('', { token: t });
      await next.waitFor(is('welcome'), 2000);
      next.close();
    } finally {
      await srv.shutdown();
      fs.rmSync(srv.dataDir, { recursive: true, force: true });
    }
  });
});
