import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, token, type TestServer } from '../e2e/harness.js';
import { launchChromium } from './chromium.js';
import type * as ClientSdk from '../../adapters/client/index.js';
import { listSessions } from './helpers.js';

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
    browser = await launchChromium();
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

  it('runs two agents on one Link over the browser WebSocket in every codec: views, a cancel by the other agent, regeneration', async () => {
    const tab = await browser.newPage();
    await tab.goto(base);
    await tab.waitForFunction(() => 'worldline' in globalThis);
    const codecs = ['json', 'msgpack', 'proto'] as const;
    const tokens: Record<string, string> = {};
    for (const c of codecs) for (const who of ['a', 'b']) tokens[`bl-${who}-${c}`] = await token(srv, `bl-${who}-${c}`);
    const results = await tab.evaluate(
      async ({ url, tokens, codecs }) => {
        const sdk = (globalThis as unknown as { worldline: Sdk }).worldline;
        const out = [];
        for (const codec of codecs) {
          // The browser's own WebSocket (no WebSocket option): the link asks for ArrayBuffers and splits them by channel.
          const link = sdk.openLink(url, { codec });
          const ids = { a: `bl-a-${codec}`, b: `bl-b-${codec}` };
          const a = await link.connect({ token: tokens[ids.a]!, agentId: ids.a });
          const b = await link.connect({ token: tokens[ids.b]!, agentId: ids.b });
          await a.submit({ kind: 'Spawn', payload: { entity_id: ids.a, fields: { x: 400, y: 400 } } });
          await b.submit({ kind: 'Spawn', payload: { entity_id: ids.b, fields: { x: 410, y: 400 } } });
          let moved = false;
          let reason = '';
          const res = await a.act(
            async ({ signal, attempt }) => {
              if (attempt === 1) {
                if (!moved) {
                  moved = true;
                  void b.submit({ kind: 'Move', payload: { dx: 5, dy: 0 } });
                }
                await new Promise((_, reject) =>
                  signal.addEventListener('abort', () => {
                    reason = (signal.reason as Error).message;
                    reject(signal.reason as Error);
                  }, { once: true }),
                );
              }
              return { kind: 'Move', payload: { dx: -1, dy: 0 } };
            },
            { maxAttempts: 3 },
          );
          const deadline = Date.now() + 5000;
          while (Date.now() < deadline && (a.view.entities[ids.b] as { x?: number } | undefined)?.x !== 415) await new Promise((r) => setTimeout(r, 10));
          await a.settled();
          await b.settled();
          out.push({ codec, agents: link.size, outcomes: res.attempts.map((x) => x.outcome), status: res.result?.status, reason });
          // Kept open: the test compares their views with the server's at the same view_seq.
          ((globalThis as unknown as { linkAgents?: Record<string, unknown> }).linkAgents ??= {})[ids.a] = a;
          (globalThis as unknown as { linkAgents: Record<string, unknown> }).linkAgents[ids.b] = b;
        }
        return {
          out: JSON.parse(JSON.stringify(out)) as typeof out,
          // The SDK's next-turn scheduler takes the MessageChannel path here: browsers have no setImmediate.
          hasSetImmediate: typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function',
        };
      },
      { url: srv.wsUrl, tokens, codecs },
    );
    expect(results.hasSetImmediate).toBe(false);
    expect(results.out.map((r) => r.codec)).toEqual([...codecs]);
    for (const r of results.out) {
      expect(r.agents).toBe(2);
      expect(r.outcomes).toEqual(['interrupted', 'submitted']);
      expect(r.status).toBe('accepted');
      expect(r.reason).toMatch(/^Generation .+ was cancelled: the context became stale\.$/);
    }
    // One socket per link: the server lists each pair's sessions on channels 1 and 2.
    const listed = await listSessions(srv);
    for (const c of codecs) {
      expect(listed.filter((s) => s.agent_id.startsWith('bl-') && s.agent_id.endsWith(`-${c}`)).map((s) => s.channel).sort()).toEqual([1, 2]);
    }
    // Every agent's view equals the server's once both are at the same view_seq (the default world's wanderers keep
    // moving), with no digest mismatch on the way; b's move and a's regenerated move are in a's view.
    for (const id of Object.keys(tokens)) {
      let last: { view: { entities: Record<string, unknown> }; seq: number; mismatches: number } | undefined;
      for (let i = 0; i < 200; i++) {
        last = await tab.evaluate((id) => {
          const agent = (globalThis as unknown as { linkAgents: Record<string, ClientSdk.Agent> }).linkAgents[id]!;
          return JSON.parse(JSON.stringify({ view: agent.view, seq: agent.viewSeq, mismatches: agent.stats().digestMismatches })) as { view: { entities: Record<string, unknown> }; seq: number; mismatches: number };
        }, id);
        const server = srv.host.runtime.observe(id);
        if (server.view_seq === last.seq) {
          expect(last.view).toEqual(server.view);
          break;
        }
        await new Promise((r) => setTimeout(r, 10));
        last = undefined;
      }
      expect(last, `${id} reaches the server's view_seq`).toBeDefined();
      expect(last!.mismatches).toBe(0);
      if (id.startsWith('bl-a-')) {
        const codec = id.slice('bl-a-'.length);
        expect(last!.view.entities[`bl-b-${codec}`]).toMatchObject({ x: 415, y: 400 });
        expect(last!.view.entities[id]).toMatchObject({ x: 399, y: 400 });
      }
    }
    await tab.evaluate(() => {
      for (const agent of Object.values((globalThis as unknown as { linkAgents: Record<string, ClientSdk.Agent> }).linkAgents)) agent.close();
    });
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
