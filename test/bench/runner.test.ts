/** The load runner against real servers over loopback: how it counts failed connections. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultArenaOptions, runArena } from '../../bench/arena/runner.js';
import { spawnServer, type ServerProcess } from '../../bench/arena/server-proc.js';
import { tmpDir } from '../../bench/lib.js';

describe('arena runner, connections', () => {
  let server: ServerProcess;
  let secretFile: string;
  beforeAll(async () => {
    const dataDir = tmpDir('runner-test');
    // One connection per address: of two clients on 127.0.0.1, the second is refused.
    server = await spawnServer({ world: 'arena', dataDir, tickMs: 50, from: 'tsx', env: { WORLDLINE_CONNECTIONS_PER_IP: '1' } });
    secretFile = path.join(dataDir, 'jwt-secret');
  }, 40_000);
  afterAll(async () => {
    await server?.stop();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  const short = { ...defaultArenaOptions, entities: 200, warmupMs: 0, measureMs: 500, workers: 1, sampleEveryMs: 0, cancelEveryMs: 0, log: () => undefined };

  it('counts a refused connection once, as a failed connect and not also as a close', async () => {
    // --entities 300 would name arena-300 for a server the runner starts; the URL's world is what was measured.
    const r = await runArena({ ...short, clients: 2, entities: 300, url: server.wsUrl, tokenSecretFile: secretFile });
    expect(r.world).toBe('arena');
    expect(r.errors.connectFailed).toBe(1);
    expect(r.errors.closes).toBe(0);
    expect(r.errors.total).toBe(1);
    expect(r.delivery.count).toBeGreaterThan(0);
  }, 40_000);

  it('fails, naming the cause, when no client connects', async () => {
    const url = server.wsUrl.replace(/\/worlds\/[^/]+\//, '/worlds/no-such-world/');
    await expect(runArena({ ...short, clients: 1, url, tokenSecretFile: secretFile })).rejects.toThrow(/no client connected .*404/);
  }, 40_000);
});

describe('ws and sweep options', () => {
  it('refuse --clients and --entities, which their fixed counts would silently replace', async () => {
    const { runSuite } = await import('../../bench/arena/suite.js');
    const { UsageError } = await import('../../bench/arena/options.js');
    const short = { warmupMs: 0, measureMs: 500, workers: 1, log: () => undefined };
    await expect(runSuite([2], ['--clients', '5'], short)).rejects.toThrow(UsageError);
    await expect(runSuite([2], ['--entities', '300'], short)).rejects.toThrow(/--entities is not an option of ws or sweep/);
  }, 60_000);
});
