import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import fs from 'node:fs';
import { build } from 'esbuild';
import type { Browser, ConsoleMessage, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, token, type TestServer } from '../e2e/harness.js';
import { launchChromium } from './chromium.js';
import type * as ClientSdk from '../../adapters/client/index.js';

type Sdk = typeof ClientSdk;

/**
 * What a web developer meets with the SDK bundled for a page (esbuild, as browser.test.ts builds it) in Debian's headless
 * Chromium, against a real server that lets the page's origin read its REST answers: a page whose Content-Security-Policy
 * forbids eval, the page's console, a token in the WebSocket URL's query string, and a mistyped URL.
 */

/**
 * The page's own code (served as a file, so a CSP of 'self' runs it): connects with each codec from a task of the page,
 * not from the test's evaluate (DevTools lets code it evaluates run eval whatever the page's CSP says).
 */
const PAGE_SCRIPT = `
import * as sdk from '/sdk.js';
window.worldline = sdk;
window.eachCodec = async (url, tok, agentId) => {
  await new Promise((r) => setTimeout(r, 0));
  const out = {};
  for (const codec of ['json', 'msgpack', 'proto']) {
    try {
      const agent = await sdk.connect(url, { token: tok, agentId, codec, pingIntervalMs: 0, welcomeTimeoutMs: 5000, reconnect: { maxAttempts: 1, initialDelayMs: 10 } });
      const r = await agent.submit({ kind: 'Move', payload: { dx: 0, dy: 0 } });
      out[codec] = 'welcomed, ' + r.status;
      agent.close();
    } catch (err) {
      out[codec] = (err.codeName ?? err.name) + ': ' + err.message;
    }
  }
  return out;
};
`;

describe('client SDK on a web page', () => {
  let srv: TestServer;
  let page: http.Server;
  let browser: Browser;
  let base = '';
  beforeAll(async () => {
    const bundle = await build({ entryPoints: ['adapters/client/index.ts'], bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'silent' });
    const js = bundle.outputFiles[0]!.text;
    page = http.createServer((req, res) => {
      if (req.url === '/sdk.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      else if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(PAGE_SCRIPT);
      else {
        // /strict: the policy of a page that allows only its own scripts, and no eval or new Function.
        const csp = req.url === '/strict' ? { 'content-security-policy': "script-src 'self'" } : {};
        res.writeHead(200, { 'content-type': 'text/html', ...csp }).end('<!doctype html><title>worldline page</title><script type="module" src="/page.js"></script>');
      }
    });
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
    srv = await startTestServer({ corsOrigins: [base] });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => page?.close(r));
    await srv?.shutdown();
    if (srv) fs.rmSync(srv.dataDir, { recursive: true, force: true });
  });

  async function open(path = '/'): Promise<{ tab: Page; console: ConsoleMessage[]; errors: Error[] }> {
    const tab = await browser.newPage();
    const console: ConsoleMessage[] = [];
    const errors: Error[] = [];
    tab.on('console', (m) => console.push(m));
    tab.on('pageerror', (e) => errors.push(e));
    await tab.goto(base + path);
    await tab.waitForFunction(() => 'eachCodec' in globalThis, null, { timeout: 10_000 });
    return { tab, console, errors };
  }

  it("loads and connects on a page whose Content-Security-Policy forbids eval; proto, which needs it, says so", async () => {
    const { tab, errors } = await open('/strict');
    const out = await tab.evaluate(({ url, tok }) => (globalThis as unknown as { eachCodec: (u: string, t: string, a: string) => Promise<Record<string, string>> }).eachCodec(url, tok, 'csp-agent'), { url: srv.wsUrl, tok: await token(srv, 'csp-agent') });
    // The bundle itself loaded (protobufjs's types are not built at import), and the json and msgpack codecs work.
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(out['json']).toMatch(/^welcomed, /);
    expect(out['msgpack']).toMatch(/^welcomed, /);
    // proto fails at connect(), at once, naming the cause and the way out, instead of never being welcomed.
    expect(out['proto']).toMatch(/^ADAPTER_UNAVAILABLE: the proto codec cannot run here: .*'unsafe-eval'.*use the msgpack or json codec/s);
    await tab.close();
  }, 60_000);

  it("leaves the page's console free of warnings while agents and a link connect in every codec", async () => {
    const { tab, console } = await open('/');
    const tok = await token(srv, 'quiet-agent');
    const out = await tab.evaluate(
      async ({ url, tok }) => {
        const sdk = (globalThis as unknown as { worldline: Sdk }).worldline;
        const got: string[] = [];
        for (const codec of ['json', 'msgpack', 'proto'] as const) {
          const agent = await sdk.connect(url, { token: tok, agentId: 'quiet-agent', codec, pingIntervalMs: 0 });
          got.push(`${codec} ${agent.connected}`);
          agent.close();
          const link = sdk.openLink(url, { codec });
          const onLink = await link.connect({ token: tok, agentId: 'quiet-agent', pingIntervalMs: 0 });
          got.push(`${codec} link ${onLink.connected}`);
          link.close();
        }
        return got;
      },
      { url: srv.wsUrl, tok },
    );
    expect(out).toEqual(['json true', 'json link true', 'msgpack true', 'msgpack link true', 'proto true', 'proto link true']);
    expect(console.filter((m) => m.type() === 'warning' || m.type() === 'error').map((m) => m.text())).toEqual([]);
    await tab.close();
  }, 60_000);

  /** A new Agent's fate: connected, or the error it left with and how many drops it went through first. */
  const fate = (tab: Page, url: string, tok: string): Promise<{ name: string; message: string; drops: number }> =>
    tab.evaluate(
      async ({ url, tok }) => {
        const sdk = (globalThis as unknown as { worldline: Sdk }).worldline;
        const agent = new sdk.Agent(url, { token: tok, agentId: 'url-agent', pingIntervalMs: 0, reconnect: { initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 3 } });
        let drops = 0;
        agent.on('drop', () => drops++);
        try {
          await agent.ready();
          agent.close();
          return { name: 'connected', message: '', drops };
        } catch (err) {
          return { name: (err as { codeName: string }).codeName, message: (err as Error).message, drops };
        }
      },
      { url, tok },
    );

  it('a token in the URL query string: connects with it, and a refused one is explained by the token the upgrade carried', async () => {
    const { tab } = await open('/');
    const good = await token(srv, 'url-agent');
    // As the README's client does: the token in the URL, an empty one in Hello.
    expect(await fate(tab, `${srv.wsUrl}?token=${good}`, '')).toEqual({ name: 'connected', message: '', drops: 0 });
    // The upgrade is refused (401) for the URL's token; the agent learns why from the server, with that token.
    const bad = await fate(tab, `${srv.wsUrl}?token=not-a-token`, '');
    expect(bad).toMatchObject({ name: 'UNAUTHORIZED', drops: 0 });
    expect(bad.message).toMatch(/^token rejected/);
    await tab.close();
  }, 60_000);

  it('a URL with a wrong path ends the agent at once with the server\'s ENDPOINT_NOT_FOUND, not after its reconnect attempts', async () => {
    const { tab } = await open('/');
    const wrong = await fate(tab, srv.wsUrl.replace(/\/ws$/, '/socket'), await token(srv, 'url-agent'));
    expect(wrong).toMatchObject({ name: 'ENDPOINT_NOT_FOUND', drops: 0 });
    expect(wrong.message).toContain('no endpoint for GET /v1/worlds/default/socket');
    await tab.close();
  }, 60_000);

  it('a WebSocket that never opens and a server that cannot be asked why: the final error says what to check', async () => {
    const { tab } = await open('/');
    // A port nothing listens on: the browser reports 1006 and GET /v1/worlds/default cannot be read either.
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const down = await fate(tab, `ws://127.0.0.1:${port}/v1/worlds/default/ws`, await token(srv, 'url-agent'));
    expect(down).toMatchObject({ name: 'ADAPTER_UNAVAILABLE', drops: 4 });
    expect(down.message).toBe(
      `could not connect to ws://127.0.0.1:${port}/v1/worlds/default/ws (1006) in 4 attempts: the WebSocket never opened, and a browser does not show why; ` +
        `GET http://127.0.0.1:${port}/v1/worlds/default, which would have said, could not be read either: the server is down or unreachable, or its corsOrigins does not list this page's origin (${base})`,
    );
    await tab.close();
  }, 60_000);

  it('a network that dies without closing the connection: the agent and a link hear nothing, drop it and resume on a new one', async () => {
    // A TCP relay to the server that can freeze the connections it carries: bytes stop in both directions and
    // nothing is closed, as when a laptop's Wi-Fi goes away. Connections made after the freeze pass.
    const frozen = new Set<net.Socket>();
    const live: net.Socket[] = [];
    const relay = net.createServer((down) => {
      const up = net.connect(srv.port, '127.0.0.1');
      live.push(down, up);
      down.on('data', (b) => void (frozen.has(down) || up.write(b)));
      up.on('data', (b) => void (frozen.has(down) || down.write(b)));
      for (const [a, b] of [[down, up], [up, down]] as const) {
        a.on('error', () => b.destroy());
        a.on('close', () => b.destroy());
      }
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const { tab } = await open('/');
      const url = srv.wsUrl.replace(`:${srv.port}/`, `:${(relay.address() as AddressInfo).port}/`);
      const tokens = { solo: await token(srv, 'silent-solo'), a: await token(srv, 'silent-a'), b: await token(srv, 'silent-b') };
      await tab.evaluate(
        async ({ url, tokens }) => {
          const sdk = (globalThis as unknown as { worldline: Sdk }).worldline;
          const opts = { pingIntervalMs: 100, deadAfterMs: 800 };
          const link = sdk.openLink(url, { codec: 'msgpack' });
          const agents = {
            solo: await sdk.connect(url, { token: tokens.solo, agentId: 'silent-solo', codec: 'json', ...opts }),
            a: await link.connect({ token: tokens.a, agentId: 'silent-a', ...opts }),
            // b would wait a minute to judge the link by itself: a's judgement ends the shared socket for both.
            b: await link.connect({ token: tokens.b, agentId: 'silent-b', ...opts, deadAfterMs: 60_000 }),
          };
          const events: Record<string, string[]> = { solo: [], a: [], b: [] };
          for (const [k, agent] of Object.entries(agents)) {
            agent.on('drop', (e) => events[k]!.push(`drop ${e.code}`));
            agent.on('reconnect', (e) => events[k]!.push(`reconnect resumed=${e.resumed}`));
          }
          Object.assign(globalThis, { silent: { agents, events, link } });
        },
        { url, tokens },
      );
      for (const s of live) frozen.add(s);
      const state = (): Promise<{ events: Record<string, string[]>; connected: boolean[]; linkSize: number }> =>
        tab.evaluate(() => {
          const { agents, events, link } = (globalThis as unknown as { silent: { agents: Record<string, ClientSdk.Agent>; events: Record<string, string[]>; link: ClientSdk.Link } }).silent;
          return { events, connected: Object.values(agents).map((a) => a.connected), linkSize: link.size };
        });
      let last = await state();
      for (let i = 0; i < 100 && !(last.connected.every(Boolean) && Object.values(last.events).every((e) => e.includes('reconnect resumed=true'))); i++) {
        await new Promise((r) => setTimeout(r, 50));
        last = await state();
      }
      // The solo agent closes its socket as silent (4004); on the link, a does, and b loses the shared socket with it
      // rather than have a reopen its channel on a socket that is dead.
      expect(last.events['solo']).toEqual(['drop 4004', 'reconnect resumed=true']);
      expect(last.events['a']).toEqual(['drop 4004', 'reconnect resumed=true']);
      expect(last.events['b']).toEqual(['drop 1006', 'reconnect resumed=true']);
      expect(last.connected).toEqual([true, true, true]);
      expect(last.linkSize).toBe(2);
      await tab.evaluate(() => {
        const { agents, link } = (globalThis as unknown as { silent: { agents: Record<string, ClientSdk.Agent>; link: ClientSdk.Link } }).silent;
        for (const a of Object.values(agents)) a.close();
        link.close();
      });
      await tab.close();
    } finally {
      for (const s of live) s.destroy();
      await new Promise((r) => relay.close(r));
    }
  }, 60_000);
});
