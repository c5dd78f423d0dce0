import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// The Unity client's Unity-free core (JSON DOM, RFC 6902 applier, compact-op decoder, clock sync, backoff, the
// session rules) is compiled with Debian's mono-mcs and its console tests run; the generated protobuf classes must
// match proto/worldline.proto. .ci/run installs mono-mcs and protobuf-compiler.
describe('Unity client (C#)', () => {
  it('generated classes are up to date with proto/worldline.proto', () => {
    const r = spawnSync('bash', ['adapters/unity/generate.sh', '--check'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('compiles with mcs and passes its console tests', () => {
    const r = spawnSync('bash', ['adapters/unity/build-check.sh'], { encoding: 'utf8', timeout: 240_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}\n(needs mono-mcs and mono-runtime: apt-get install mono-mcs)`).toBe(0);
    expect(r.stdout).toMatch(/all \d+ checks passed/);
  }, 300_000);
});
