import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, hostedWorlds, loadConfig, parseHostedWorld } from '../../server/config.js';
import { isWorldlineError } from '../../server/errors.js';

const fail = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(isWorldlineError(e, 'CONFIG_INVALID')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected CONFIG_INVALID');
};

describe('config', () => {
  it('layers defaults, file, environment and flags in that order', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-cfg-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, JSON.stringify({ port: 9000, logLevel: 'debug', durability: 'always' }));
    const c = loadConfig({ file, env: { WORLDLINE_PORT: '9100', WORLDLINE_LOG_REDACT: 'a.b, c' }, overrides: { durability: 'none' } });
    expect(c.port).toBe(9100);
    expect(c.logLevel).toBe('debug');
    expect(c.durability).toBe('none');
    expect(c.logRedact).toEqual(['a.b', 'c']);
    expect(c.host).toBe(CONFIG_KEYS.host.def);
    expect(c.worldId).toBe('default');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('names the key, its source and what is allowed when a value is bad', () => {
    expect(fail(() => loadConfig({ env: { WORLDLINE_PORT: 'eighty' } }))).toMatch(/port \(from WORLDLINE_PORT\) must be a number/);
    // Decimal digits only: Number() would take hex, exponents and binary for the number a person meant.
    for (const text of ['0x1F90', '1e3', '0b1', '8_080', '']) expect(fail(() => loadConfig({ env: { WORLDLINE_PORT: text } })), text).toMatch(/port \(from WORLDLINE_PORT\) must be a number in decimal digits/);
    expect(fail(() => loadConfig({ env: { WORLDLINE_PORT: '8080.5' } }))).toMatch(/port \(from WORLDLINE_PORT\) must be an integer/);
    expect(loadConfig({ env: { WORLDLINE_PORT: ' 9100 ' } }).port).toBe(9100);
    expect(fail(() => loadConfig({ env: { WORLDLINE_DURABILITY: 'sometimes' } }))).toMatch(/must be one of always, batch, none/);
    expect(fail(() => loadConfig({ env: {}, overrides: { port: 70000 } }))).toMatch(/port \(from --port\) must be at most 65535/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-cfg-'));
    fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify({ prot: 1 }));
    expect(fail(() => loadConfig({ file: path.join(dir, 'c.json'), env: {} }))).toMatch(/unknown key "prot"/);
    // Names Object.prototype has are unknown keys too, not taken for known ones.
    for (const k of ['constructor', 'hasOwnProperty', 'toString', '__proto__']) {
      fs.writeFileSync(path.join(dir, 'c.json'), `{"${k}": "x", "port": 20101}`);
      expect(fail(() => loadConfig({ file: path.join(dir, 'c.json'), env: {} })), k).toMatch(new RegExp(`unknown key "${k}"`));
    }
    // So are a program's overrides (a world policy put there by mistake was a TypeError).
    for (const k of ['maxPatchOps', 'constructor']) {
      expect(fail(() => loadConfig({ env: {}, overrides: { [k]: 1 } as Record<string, unknown> })), k).toMatch(new RegExp(`config override "${k}" is no config key`));
    }
    // A redaction path pino cannot use is refused here, naming the key and where it came from (it was a stack trace
    // when the logger was made).
    expect(fail(() => loadConfig({ env: { WORLDLINE_LOG_REDACT: 'a[' } }))).toMatch(/logRedact \(from WORLDLINE_LOG_REDACT\) has a path pino cannot use, "a\["/);
    fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify({ logRedact: ['payload..x'] }));
    expect(fail(() => loadConfig({ file: path.join(dir, 'c.json'), env: {} }))).toMatch(/logRedact \(from .*c\.json\) has a path pino cannot use/);
    expect(loadConfig({ env: { WORLDLINE_LOG_REDACT: 'payload.ssn, headers["x-key"]' } }).logRedact).toEqual(['payload.ssn', 'headers["x-key"]']);
    // The tenant of a single world is checked as a worlds entry's is.
    expect(fail(() => loadConfig({ env: { WORLDLINE_TENANT: 'a/b c' } }))).toMatch(/config tenant: /);
    // uWS keeps maxBackpressure in 32 bits: 4 GiB would wrap to 0, no limit at all.
    expect(fail(() => loadConfig({ env: { WORLDLINE_MAX_BACKPRESSURE: String(2 ** 32) } }))).toMatch(/maxBackpressure \(from WORLDLINE_MAX_BACKPRESSURE\) must be at most 4294967295/);
    expect(loadConfig({ env: { WORLDLINE_MAX_BACKPRESSURE: String(2 ** 32 - 1) } }).maxBackpressure).toBe(2 ** 32 - 1);
    // An empty host (WORLDLINE_HOST= from an unset shell variable) listened on every interface, on a random port.
    expect(fail(() => loadConfig({ env: { WORLDLINE_HOST: '' } }))).toMatch(/host \(from WORLDLINE_HOST\) must not be empty: 127\.0\.0\.1/);
    expect(fail(() => loadConfig({ env: {}, overrides: { host: ' ' } }))).toMatch(/host \(from --host\) must not be empty/);
    fs.writeFileSync(path.join(dir, 'c.json'), '{ not json');
    expect(fail(() => loadConfig({ file: path.join(dir, 'c.json'), env: {} }))).toMatch(/cannot read config file/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a world id that cannot name a URL segment and a folder, given or taken from a module file name', () => {
    expect(loadConfig({ env: {}, overrides: { world: './sims/market-2.mjs' } }).worldId).toBe('market-2');
    for (const bad of [{ worldId: '../etc' }, { worldId: '..' }, { worldId: 'a b' }, { world: './my world.mjs' }, { worldId: 'x'.repeat(65) }]) {
      expect(() => loadConfig({ env: {}, overrides: bad })).toThrow(/config worldId .* must be 1-64 of A-Z a-z 0-9 _ \. - since it names the world in URLs and its data folder; set worldId/);
    }
  });

  it('reads worlds entries as [TENANT/][ID=]WORLD, and refuses ids that collide or cannot name a folder', () => {
    expect(parseHostedWorld('arena', 't')).toEqual({ id: 'arena', tenant: 't', world: 'arena' });
    expect(parseHostedWorld('lobby=default', 't')).toEqual({ id: 'lobby', tenant: 't', world: 'default' });
    expect(parseHostedWorld('acme/market=./sims/market.mjs', 't')).toEqual({ id: 'market', tenant: 'acme', world: './sims/market.mjs' });
    // A module path alone is named after its file, and a '=' or '/' inside a path is not read as a prefix.
    expect(parseHostedWorld('./sims/market.mjs', 't')).toEqual({ id: 'market', tenant: 't', world: './sims/market.mjs' });
    expect(parseHostedWorld('./a=b/w.mjs', 't')).toEqual({ id: 'w', tenant: 't', world: './a=b/w.mjs' });
    const cfg = loadConfig({ env: { WORLDLINE_WORLDS: 'north=default, acme/talk=conversation' } });
    expect(hostedWorlds(cfg)).toEqual([{ id: 'north', tenant: 'default', world: 'default' }, { id: 'talk', tenant: 'acme', world: 'conversation' }]);
    // Without worlds: the one world of world, worldId and tenant.
    expect(hostedWorlds(loadConfig({ env: {}, overrides: { world: 'arena', tenant: 'x' } }))).toEqual([{ id: 'arena', tenant: 'x', world: 'arena' }]);
    expect(fail(() => loadConfig({ env: {}, overrides: { worlds: ['default', 'default'] } }))).toMatch(/two worlds with the id "default"; give each its own ID=, e.g. default-2=default/);
    expect(fail(() => loadConfig({ env: {}, overrides: { worlds: ['a b=default'] } }))).toMatch(/world id "a b" must be 1-64 of/);
    expect(fail(() => loadConfig({ env: {}, overrides: { worlds: ['x/../y=default'] } }))).toMatch(/world id "x\/..\/y=default" must be 1-64 of/);
    expect(fail(() => loadConfig({ env: {}, overrides: { worlds: ['../y=default'] } }))).toMatch(/world id "y=default" must be 1-64 of/);
    expect(fail(() => loadConfig({ env: {}, overrides: { worlds: ['lobby='] } }))).toMatch(/names no world/);
  });

  it('warns about WORLDLINE_* variables that match no key', () => {
    const warnings: string[] = [];
    loadConfig({ env: { WORLDLINE_PROT: '1' }, onWarning: (w) => warnings.push(w) });
    expect(warnings[0]).toMatch(/WORLDLINE_PROT matches no config key/);
  });
});

describe('docs/server.md', () => {
  it('lists every config key exactly as server/config.ts defines it', async () => {
    const { configTable } = await import('../../server/config.js');
    const doc = fs.readFileSync(new URL('../../docs/server.md', import.meta.url), 'utf8');
    const table = /<!-- config-table[^>]*-->\n([\s\S]*?)\n<!-- \/config-table -->/.exec(doc)?.[1];
    expect(table).toBe(configTable());
  });
});
