/**
 * The package's public API as a user reaches it: `import { ... } from 'worldline'` (server/index.ts, the package's
 * "." export) to define a world with its own effect kind and serve it, and a world module served by file name.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as api from '../../server/index.js';
import { defineWorld, loadConfig, loadWorld, startServer, Subprotocol, type RunningServer } from '../../server/index.js';
import { main } from '../../server/cli/main.js';
import { TestClient, is } from '../e2e/harness.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (name: string): string => path.join(repo, 'test', 'fixtures', 'worlds', name);

/** Spawns a trader with coins, buys `count` apples, and returns the result and the view the client holds after. */
async function trade(srv: RunningServer, count: number): Promise<{ status: string; error?: string; apples: unknown; coins: unknown }> {
  const t = await srv.auth.issue({ tenant: 'default', world: srv.host.opts.worldId, agent: 'alice', role: 'agent' }, 600);
  const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, t);
  try {
    c.hello('alice');
    await c.waitFor(is('welcome'));
    c.send({ type: 'submit_intent', intent: { req_id: 's1', kind: 'Spawn', payload: { entity_id: 'alice', fields: { x: 10, y: 0, coins: 5 } }, context_seq: 0, priority: 0 } });
    expect((await c.waitFor((m) => m.type === 'intent_result' && m.req_id === 's1')).type).toBe('intent_result');
    // Acting on the view as it now is: the spawn moved it on.
    const seen = await c.waitFor(is('observation_delta'));
    c.send({ type: 'submit_intent', intent: { req_id: 'b1', kind: 'Buy', payload: { count }, context_seq: seen.view_seq, priority: 0 } });
    const r = await c.waitFor((m): m is Extract<api.ServerMessage, { type: 'intent_result' }> => m.type === 'intent_result' && m.req_id === 'b1');
    const state = srv.host.runtime.state().entities;
    return { status: r.status, ...(r.error ? { error: r.error.message } : {}), apples: state['alice']?.['apples'], coins: state['alice']?.['coins'] };
  } finally {
    c.close();
  }
}

async function withServed(overrides: Record<string, unknown>, world: api.WorldDefinition | undefined, fn: (srv: RunningServer, dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-api-'));
  const srv = await startServer(loadConfig({ env: {}, overrides: { port: 0, dataDir: dir, logLevel: 'silent', tickMs: 10, ...overrides } }), world ? { world } : {});
  try {
    await fn(srv, dir);
  } finally {
    await srv.shutdown();
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

describe("the package's public API", () => {
  it('package.json exports point at modules that exist (their sources, before a build)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { exports: Record<string, string> };
    expect(Object.keys(pkg.exports)).toEqual(['.', './internal', './client', './llm']);
    for (const target of Object.values(pkg.exports)) expect(fs.existsSync(path.join(repo, target.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
    for (const name of ['defineWorld', 'startServer', 'loadConfig', 'loadWorld', 'WorldRuntime', 'RlEnv', 'MessageEnv', 'openLog', 'verifyLog', 'replayWorld', 'WorldlineError', 'createWorldCodecs']) expect(typeof (api as Record<string, unknown>)[name]).toBe('function');
  });

  it('a world defined in code, with its own effect kind, served with startServer(cfg, { world })', async () => {
    const spec = (await import(fixture('market.mjs'))).default as api.WorldSpec;
    await withServed({ worldId: 'bazaar' }, defineWorld(spec), async (srv) => {
      expect(srv.wsUrl).toMatch(/\/v1\/worlds\/bazaar\/ws$/);
      expect(await trade(srv, 2)).toEqual({ status: 'accepted', apples: 2, coins: 1 });
      expect(srv.host.runtime.state().entities['stall']?.['apples']).toBe(1);
    });
    // Without a worldId, it is served under its own name.
    await withServed({}, defineWorld(spec), async (srv) => {
      expect(srv.wsUrl).toMatch(/\/v1\/worlds\/market\/ws$/);
      expect(srv.host.opts.worldId).toBe('market');
    });
  });

  it('several worlds defined in code, served with startServer(cfg, { worlds }): each with its id, tenant and own state', async () => {
    const spec = (await import(fixture('market.mjs'))).default as api.WorldSpec;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-api-'));
    const srv = await startServer(loadConfig({ env: {}, overrides: { port: 0, dataDir: dir, logLevel: 'silent', tickMs: 10 } }), { worlds: [{ world: defineWorld(spec) }, { world: defineWorld(spec), id: 'bazaar', tenant: 'acme' }] });
    try {
      expect(srv.worlds.map((w) => [w.id, w.tenant])).toEqual([['market', 'default'], ['bazaar', 'acme']]);
      // A trade in market leaves bazaar's stall as it was.
      expect(await trade(srv, 2)).toEqual({ status: 'accepted', apples: 2, coins: 1 });
      expect(srv.worlds[1]!.host.runtime.state().entities['stall']?.['apples']).toBe(3);
      await expect(startServer(loadConfig({ env: {}, overrides: { port: 0, dataDir: dir, logLevel: 'silent' } }), { worlds: [{ world: defineWorld(spec) }, { world: defineWorld(spec) }] })).rejects.toThrow(/two worlds have the id "market"/);
    } finally {
      await srv.shutdown();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a world module served by file name (worldline serve --world ./market.mjs): its id is the file name, and replay takes the file too', async () => {
    await withServed({ world: fixture('market.mjs') }, undefined, async (srv, dir) => {
      expect(srv.wsUrl).toMatch(/\/v1\/worlds\/market\/ws$/);
      // Its own rules apply: 3 apples at 2 coins cost 6, alice has 5.
      const r = await trade(srv, 3);
      expect(r).toMatchObject({ status: 'rejected', coins: 5 });
      expect(r.error).toMatch(/Rule can_pay rejected Buy: 3 apples cost 6 coins/);
      await srv.shutdown();
      const out: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
      expect(await main(['replay', path.join(dir, 'worlds', 'market'), '--world', fixture('market.mjs'), '--verify-determinism'], io)).toBe(0);
      expect(out.join('\n')).toMatch(/^ok: replayed .*deterministic/m);
    });
  });

  it('a module that cannot serve as a world is refused with CONFIG_INVALID saying why', async () => {
    const refused = async (world: string): Promise<string> => {
      try {
        await loadWorld(world);
      } catch (err) {
        expect(api.isWorldlineError(err, 'CONFIG_INVALID')).toBe(true);
        return (err as Error).message;
      }
      throw new Error(`${world} was accepted`);
    };
    expect(await refused(fixture('missing.mjs'))).toMatch(/world module .*missing\.mjs does not exist/);
    expect(await refused(fixture('broken-export.mjs'))).toMatch(/exports no world: make its default export/);
    expect(await refused(fixture('broken-throws.mjs'))).toMatch(/failed to load: the world module fell over/);
    expect(await refused(fixture('broken-spec.mjs'))).toMatch(/kind Move is built in/);
    expect(await refused('no-such-world')).toMatch(/unknown world "no-such-world"; built-in worlds: default, arena, conversation/);
    // A file Node cannot import as a module (vitest's loader would take it, so through the CLI in a child process):
    // the hint says how to run one, and nothing is created.
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-api-'));
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'bench/arena/serve-entry.ts', 'serve', '--world', fixture('broken-extension.coffee'), '--port', '0', '--data', data], { cwd: repo, encoding: 'utf8', timeout: 30_000 });
    expect(cli.status).toBe(2);
    expect(cli.stderr).toMatch(/CONFIG_INVALID \(7014\): world module .*broken-extension\.coffee failed to load: Unknown file extension ".coffee".*; compile it to \.mjs, or run the server with node --import tsx/);
    expect(fs.readdirSync(data)).toEqual([]);
    fs.rmSync(data, { recursive: true, force: true });
    // A built-in name still resolves; a module's default id is its file name.
    expect((await loadWorld('arena-300')).name).toBe('arena-300');
    expect(loadConfig({ env: {}, overrides: { world: './sims/market.mjs' } }).worldId).toBe('market');
  });
});
