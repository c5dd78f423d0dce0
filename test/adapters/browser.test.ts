import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, token, type TestServer } from '../e2e/harness.js';
import type * as ClientSdk from '../../adapters/client/index.js';

type Sdk = typeof ClientSdk;

/**
 * The SDK's core uses no Node-only API: bundled for the browser with esbuild, it runs in Debian's headless Chromium
 * (playwright-core, no downloaded browser), joins a real server over the browser's own WebSocket, checks every
 * delta's digest with WebCrypto, and keeps a view equal to the server's.
 */
describe('client SDK in a browser', () => {
  let srv: TestServer;
  let page: http.Server;
  let browser: Browser;
  let base = '';
  beforeAll(async () => {
    srv = await startTestServer();
    const bundle = await build({ entryPoints: ['adapters/client/index.ts'], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
    const js = bundle.outputFiles[0]!.text;
    page = http.createServer((req, res) => {
      if (req.url === '/sdk.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>worldline sdk</title><script type="module">import * as sdk from "/sdk.js"; window.worldline = sdk;</script>');
    });
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
    if (!fs.existsSync('/usr/bin/chromium')) throw new Error('needs Debian chromium (apt-get install chromium; .ci/run installs it)');
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => page?.close(r));
    await srv?.shutdown();
    if (srv) fs.rmSync(srv.dataDir, { recursive: true, force: true });
  });

  it('connects, acts, and holds a digest-checked view equal to the server view', async () => {
    const tab = await browser.newPage();
    await tab.goto(base);
    await tab.waitForFunction(() => 'worldline' in globalThis);
    const agentId = 'browser-agent';
    const result = await tab.evaluate(
      async ({ url, tok, agentId }) => {
        const sdk = (globalThis as unknown as { worldline: Sdk }).worldline;
        const agent = await sdk.connect(url, { token: tok, agentId, codec: 'msgpack' });
        const spawn = await agent.submit({ kind: 'Spawn', payload: { entity_id: agentId, fields: { x: 250, y: 750 } } });
        const moved = await agent.submit({ kind: 'Move', payload: { dx: 2, dy: -3 } });
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline && (agent.view.entities[agentId] as { x?: number } | undefined)?.x !== 252) await new Promise((r) => setTimeout(r, 10));
        await agent.settled();
        const out = { spawn: spawn.status, moved: moved.status, view: agent.view, viewSeq: agent.viewSeq, stats: agent.stats(), isNode: typeof (globalThis as { process?: unknown }).process !== 'undefined' };
        agent.close();
        return JSON.parse(JSON.stringify(out)) as typeof out;
      },
      { url: srv.wsUrl, tok: await token(srv, agentId), agentId },
    );
    expect(result.isNode).toBe(false);
    expect(result.spawn).toBe('accepted');
    expect(result.moved).toBe('accepted');
    expect((result.view as { entities: Record<string, unknown> }).entities[agentId]).toMatchObject({ x: 252, y: 747 });
    const server = srv.host.runtime.observe(agentId);
    if (server.view_seq === result.viewSeq) expect(result.view).toEqual(server.view);
    expect(JSON.stringify(result.stats)).not.toMatch(/"digestMismatches":[1-9]/);
    await tab.close();
  }, 60_000);

  it("calls the REST API across origins when the server lists the page's origin in corsOrigins, and cannot otherwise", async () => {
    const open = await startTestServer({ corsOrigins: [base] });
    try {
      const tab = await browser.newPage();
      await tab.goto(base);
      const call = (url: string, tok: string): Promise<string> =>
        tab.evaluate(
          async ({ url, tok }) => {
            try {
              const r = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: JSON.stringify({ intent: { req_id: 'x1', kind: 'Spawn', payload: { entity_id: 'page', fields: { x: 5, y: 5 } }, context_seq: 0 } }) });
              return `${r.status} ${((await r.json()) as { status?: string }).status ?? ''}`;
            } catch (err) {
              return `refused: ${(err as Error).name}`;
            }
          },
          { url, tok },
        );
      // The page (its own origin) posts a JSON intent with a bearer token: a preflight, then the request.
      expect(await call(`${open.httpUrl}/v1/worlds/default/intents`, await token(open, 'page'))).toBe('200 committed');
      expect(await call(`${srv.httpUrl}/v1/worlds/default/intents`, await token(srv, 'page'))).toBe('refused: TypeError');
      await tab.close();
    } finally {
      await open.shutdown();
      fs.rmSync(open.dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a refused upgrade, which a browser cannot read, is explained by GET /v1/worlds/{id}: an unknown world ends the agent at once', async () => {
    const open = await startTestServer({ corsOrigins: [base] });
    try {
      const tab = await browser.newPage();
      await tab.goto(base);
      await tab.waitForFunction(() => 'worldline' in globalThis);
      const attempt = (url: string, tok: string, maxAttempts: number): Promise<{ name: string; message: string; drops: number }> =>
        tab.evaluate(
          async ({ url, tok, maxAttempts }) => {
            const sdk = (globalThis as unknown as { worldline: Sdk }).worldline;
            const agent = new sdk.Agent(url, { token: tok, agentId: 'lost', pingIntervalMs: 0, reconnect: { initialDelayMs: 10, maxDelayMs: 20, maxAttempts } });
            let drops = 0;
            agent.on('drop', () => drops++);
            try {
              await agent.ready();
              return { name: 'connected', message: '', drops };
            } catch (err) {
              return { name: (err as { codeName: string }).codeName, message: (err as Error).message, drops };
            }
          },
          { url, tok, maxAttempts },
        );
      // The server answers the page's origin: the agent learns why and leaves without retrying (50 attempts allowed).
      const lost = await attempt(open.wsUrl.replace('/default/', '/nowhere/'), await token(open, 'lost'), 50);
      expect(lost).toMatchObject({ name: 'WORLD_NOT_FOUND', drops: 0 });
      expect(lost.message).toContain('no world "nowhere" here');
      // A server that does not let this origin read its answers: a lost connection as before, retried and given up.
      const blind = await attempt(srv.wsUrl.replace('/default/', '/nowhere/'), await token(srv, 'lost'), 2);
      expect(blind).toMatchObject({ name: 'ADAPTER_UNAVAILABLE', drops: 3 });
      await tab.close();
    } finally {
      await open.shutdown();
      fs.rmSync(open.dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
