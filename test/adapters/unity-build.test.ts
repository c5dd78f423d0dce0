import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startTestServer, token } from '../e2e/harness.js';

// The Unity client's Unity-free core (JSON DOM, RFC 6902 applier, compact-op decoder, clock sync, backoff, the
// session rules) is compiled with Debian's mono-mcs and its console tests run, the live ones against a real server
// started here; the generated protobuf classes must match proto/worldline.proto. .ci/run installs mono-mcs and
// protobuf-compiler.
describe('Unity client (C#)', () => {
  it('generated classes are up to date with proto/worldline.proto', () => {
    const r = spawnSync('bash', ['adapters/unity/generate.sh', '--check'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('compiles with mcs and passes its console tests, the live ones against this server over a real socket', async () => {
    // The server runs in this process: the build and tests run asynchronously so that it keeps serving them.
    const srv = await startTestServer();
    try {
      const env = { ...process.env, WORLDLINE_LIVE_URL: srv.httpUrl.replace(/^http/, 'ws'), WORLDLINE_LIVE_TOKEN: await token(srv, 'agent-1'), WORLDLINE_LIVE_ENGINE_TOKEN: await token(srv, undefined, 'engine') };
      const r = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile('bash', ['adapters/unity/build-check.sh'], { encoding: 'utf8', timeout: 240_000, env }, (err, stdout, stderr) => {
          resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
      });
      expect(r.status, `${r.stdout}\n${r.stderr}\n(needs mono-mcs and mono-runtime: apt-get install mono-mcs)`).toBe(0);
      expect(r.stdout).toMatch(/all \d+ checks passed/);
      // Join, spawn, digest-checked deltas, clock sync, resume with the token in the query string, a refused token;
      // then the engine: its Welcome (no agent, no view), TimeTicks advancing sim_time, a repeated frame_number refused.
      expect(Number(/^live\s+(\d+) checks\s+ok$/m.exec(r.stdout)?.[1] ?? 0), r.stdout).toBeGreaterThanOrEqual(15);
    } finally {
      await srv.shutdown();
      fs.rmSync(srv.dataDir, { recursive: true, force: true });
    }
  }, 300_000);
});
