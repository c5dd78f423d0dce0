import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// No benchmark may ever measure the ws shim: the server refuses to start on it.
describe('uWebSockets.js native binary', () => {
  const probe = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./server/transport/uws-native.ts').then((m) => { m.loadNativeUws(); console.log('native ok'); }).catch((e) => { console.log(e.codeName + ': ' + e.message); process.exit(3); })"], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });

  it('loads the native module here', () => {
    const r = probe({});
    expect(r.stdout).toContain('native ok');
    expect(r.status).toBe(0);
  });

  it('refuses the ws fallback shim with a typed error that says how to fix it', () => {
    const r = probe({ UWS_USE_FALLBACK: '1' });
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/CONFIG_INVALID: uWebSockets.js loaded its ws fallback shim/);
    expect(r.stdout).toMatch(/unset UWS_USE_FALLBACK/);
  });
});
