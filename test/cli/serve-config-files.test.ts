/**
 * `worldline serve` with a configuration naming a file or folder it cannot use: the data folder, the JWT key files
 * and the checkpoint key. Each stops the start with exit 2 and one CONFIG_INVALID line naming the key and the file,
 * as a bad value does (docs/server.md "Configuration"), not with a stack trace from deep in the start.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../server/cli/main.js';

describe('worldline serve: files and folders the configuration names', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-files-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const missing = path.join(root, 'missing.pem');
  const notAKey = path.join(root, 'not-a-key.pem');
  const notJwks = path.join(root, 'not-jwks.json');
  const aFile = path.join(root, 'a-file');
  fs.writeFileSync(notAKey, 'not a key\n');
  fs.writeFileSync(notJwks, '{"a":1}');
  fs.writeFileSync(aFile, 'x');

  /** Runs `serve` with these config keys in a --config file; its exit code and what it wrote. */
  async function serve(keys: Record<string, unknown>): Promise<{ code: number; err: string[]; out: string[] }> {
    const file = path.join(root, `config-${Object.keys(keys).join('-')}.json`);
    fs.writeFileSync(file, JSON.stringify({ port: 0, dataDir: path.join(root, 'data'), logLevel: 'silent', ...keys }));
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['serve', '--config', file], { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, err, out };
  }

  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a missing jwtPublicKeyFile', { jwtPublicKeyFile: missing }, /config jwtPublicKeyFile: .*missing\.pem cannot be read \(ENOENT\)/],
    ['a jwtPublicKeyFile that is no key', { jwtPublicKeyFile: notAKey }, /config jwtPublicKeyFile: .*not-a-key\.pem is not a PEM public key/],
    ['a missing jwksFile', { jwksFile: missing }, /config jwksFile: .*missing\.pem cannot be read \(ENOENT\)/],
    ['a jwksFile that is not JSON', { jwksFile: notAKey }, /config jwksFile: .*not-a-key\.pem is not a JSON Web Key Set/],
    ['a jwksFile that is JSON but no key set', { jwksFile: notJwks }, /config jwksFile: .*not-jwks\.json is not a JSON Web Key Set/],
    ['a jwtSecretFile that is a folder', { jwtSecretFile: root }, /config jwtSecretFile: .* cannot be read \(EISDIR\)/],
    ['a missing checkpointKeyFile', { checkpointKeyFile: missing }, /config checkpointKeyFile: .*missing\.pem cannot be read \(ENOENT\)/],
    ['a dataDir that is a file', { dataDir: aFile }, /config dataDir: .*a-file cannot be used as the data folder \(EEXIST: a file is in the way\)/],
    ['a dataDir under a file', { dataDir: path.join(aFile, 'sub') }, /config dataDir: .*a-file\/sub cannot be used as the data folder \(ENOTDIR/],
  ];
  for (const [what, keys, message] of cases) {
    it(`${what}: exit 2, one line naming the key and the file`, async () => {
      const r = await serve(keys);
      expect(r.code).toBe(2);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(/^worldline: CONFIG_INVALID \(7014\): /);
      expect(r.err[0]).toMatch(message);
      expect(r.out.join('\n')).not.toContain('serving world');
    });
  }
});
