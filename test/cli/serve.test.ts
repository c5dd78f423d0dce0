/**
 * `worldline serve`'s first lines: where it listens, and development tokens only while nothing but this machine can
 * reach it (beyond loopback, its output is likely kept in logs, and an admin token there is a key left lying about).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runServe } from '../../server/cli/serve.js';

async function serveOutput(overrides: Record<string, unknown>): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-'));
  const lines: string[] = [];
  try {
    const code = await runServe({ overrides: { port: 0, dataDir: dir, logLevel: 'silent', ...overrides } }, { out: (l) => lines.push(l), err: (l) => lines.push(l) }, { waitForSignal: false });
    expect(code).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return lines.join('\n');
}

describe('worldline serve', () => {
  it('on loopback: the URL, health, and two development tokens', async () => {
    const out = await serveOutput({ host: '127.0.0.1' });
    expect(out).toMatch(/^worldline serving world "default" at ws:\/\/127\.0\.0\.1:\d+\/v1\/worlds\/default\/ws/);
    expect(out).toMatch(/dev token, agent "agent-1" \(24 h\): ey/);
    expect(out).toMatch(/dev token, admin \(24 h\): +ey/);
  });

  it('beyond loopback: the URL and how to mint tokens, but no token', async () => {
    const out = await serveOutput({ host: '0.0.0.0' });
    expect(out).toMatch(/^worldline serving world "default" at ws:\/\/0\.0\.0\.0:\d+\//);
    expect(out).toMatch(/tokens: npx worldline token --agent NAME .* \(none printed: the server listens on 0\.0\.0\.0\)/);
    expect(out).not.toMatch(/ey[A-Za-z0-9_-]{10,}\./);
  });

  it('with a static token file: where it listens is still printed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-tokens-'));
    const file = path.join(dir, 'tokens.json');
    fs.writeFileSync(file, JSON.stringify({ 's3cret-token-value-1234': { tenant: 'default', world: 'default', agent: 'a1', role: 'agent' } }));
    try {
      const out = await serveOutput({ authMode: 'tokens', tokensFile: file });
      expect(out).toMatch(/^worldline serving world "default" at ws:\/\//);
      expect(out).not.toMatch(/s3cret/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
