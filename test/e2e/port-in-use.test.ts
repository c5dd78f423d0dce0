/**
 * A second server on a port already in use must fail to start, not share it. uSockets listens with SO_REUSEPORT
 * unless told otherwise, and the kernel then splits new connections between the two processes: two different worlds
 * behind one URL, each client seeing one at random.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isWorldlineError } from '../../server/errors.js';
import { startTestServer } from './harness.js';

describe('listening', () => {
  it('refuses a port another server holds, with CONFIG_INVALID naming it', async () => {
    // On a port named in the config, as a user gives one (one bound to port 0 is never shared by the kernel).
    const free = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const first = await startTestServer({ port: free });
    expect(first.port).toBe(free);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-e2e-'));
    try {
      const err = await startTestServer({ port: first.port }, dir).then(
        async (second) => {
          await second.shutdown();
          fs.rmSync(second.dataDir, { recursive: true, force: true });
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(err, 'the second server started on a port in use').toBeDefined();
      expect(isWorldlineError(err) && err.codeName).toBe('CONFIG_INVALID');
      expect(String((err as Error).message)).toContain(`:${first.port}`);
      // The first one still answers.
      const r = await fetch(`http://127.0.0.1:${first.port}/livez`);
      expect(r.status).toBe(200);
    } finally {
      await first.shutdown();
      fs.rmSync(first.dataDir, { recursive: true, force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
