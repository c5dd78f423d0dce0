/**
 * Worlds created and deleted at runtime, against a model: random sequences of creates (two tenants, two definitions),
 * deletes with and without purge, and restarts. After every step the server hosts exactly the model's worlds, each
 * with its tenant and definition, created-worlds.json lists exactly the created ones, a world's data folder exists
 * exactly while the model keeps its data, and every refusal is the one the model predicts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig, startServer, type RunningServer } from '../../server/index.js';
import { isWorldlineError } from '../../server/errors.js';

type Op =
  | { kind: 'create'; id: string; tenant: string; world: string }
  | { kind: 'delete'; id: string; purge: boolean }
  | { kind: 'restart' };

const IDS = ['m1', 'm2', 'm3'];
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('create' as const), id: fc.constantFrom(...IDS), tenant: fc.constantFrom('default', 'acme'), world: fc.constantFrom('default', 'conversation') }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), id: fc.constantFrom(...IDS, 'default'), purge: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
);

/** What the model says of one id: hosted (created) or only its kept data, with who created it and from what. */
interface Entry {
  hosted: boolean;
  tenant: string;
  world: string;
}

async function outcome<T>(p: Promise<T>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (isWorldlineError(err)) return err.codeName;
    throw err;
  }
}

describe('worlds created at runtime, against a model', () => {
  it('hosts, lists and keeps exactly what the model does, across deletes and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-created-prop-'));
        const cfg = loadConfig({ env: {}, overrides: { port: 0, dataDir: dir, logLevel: 'silent', maxWorlds: 3 } });
        const model = new Map<string, Entry>();
        let srv: RunningServer = await startServer(cfg);
        try {
          for (const o of ops) {
            if (o.kind === 'restart') {
              await srv.shutdown();
              srv = await startServer(cfg);
            } else if (o.kind === 'create') {
              const m = model.get(o.id);
              const hosted = [...model.values()].filter((e) => e.hosted).length + 1; // + the configured default world
              const expected = m?.hosted ? 'WORLD_EXISTS' : hosted >= 3 ? 'QUOTA_EXCEEDED' : m && (m.tenant !== o.tenant || m.world !== o.world) ? 'WORLD_EXISTS' : 'ok';
              expect(await outcome(srv.createWorld({ id: o.id, tenant: o.tenant, world: o.world })), JSON.stringify(o)).toBe(expected);
              if (expected === 'ok') model.set(o.id, { hosted: true, tenant: o.tenant, world: o.world });
            } else {
              const m = model.get(o.id);
              const expected = o.id === 'default' ? 'FORBIDDEN' : m?.hosted ? 'ok' : m && o.purge ? 'ok' : 'WORLD_NOT_FOUND';
              expect(await outcome(srv.deleteWorld(o.id, { purge: o.purge })), JSON.stringify(o)).toBe(expected);
              if (expected === 'ok') {
                if (o.purge) model.delete(o.id);
                else model.set(o.id, { ...(m as Entry), hosted: false });
              }
            }
            // The server, the list on disk and the data folders agree with the model.
            const hosted = [...model].filter(([, e]) => e.hosted);
            expect(srv.worlds.map((w) => [w.id, w.tenant, w.host.runtime.world.name, w.origin]).sort()).toEqual([['default', 'default', 'default', 'configured'], ...hosted.map(([id, e]) => [id, e.tenant, e.world, 'created'])].sort());
            const file = path.join(dir, 'created-worlds.json');
            const listed = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { worlds: Array<{ id: string; tenant: string; world: string }> }).worlds : [];
            expect(listed.map((w) => [w.id, w.tenant, w.world]).sort()).toEqual(hosted.map(([id, e]) => [id, e.tenant, e.world]).sort());
            for (const id of IDS) expect(fs.existsSync(path.join(dir, 'worlds', id)), `data of ${id}`).toBe(model.has(id));
          }
        } finally {
          await srv.shutdown();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 50 },
    );
  }, 120_000);
});
