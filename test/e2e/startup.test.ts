/**
 * While its worlds open (recovering a long log takes seconds), the server already listens: a liveness probe gets 200
 * (it must not restart the pod in a loop), readiness 503 "starting", and clients a 503 that tells them to retry.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../server/config.js';
import { createLogger } from '../../server/obs/logger.js';
import { nodeFileLayer, type FileLayer } from '../../server/log/index.js';
import { Subprotocol } from '../../server/protocol/index.js';
import { startServer, type RunningServer } from '../../server/transport/server.js';

/** A free port on 127.0.0.1 (the server's port must be known before startServer resolves). */
const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });

/** The real file layer, whose first open waits until `release` settles it (resolve: go on; reject: fail with it). */
function heldFiles(): { files: FileLayer; reached: Promise<void>; release: (err?: Error) => void } {
  let arrive!: () => void;
  let settle!: (err?: Error) => void;
  const reached = new Promise<void>((r) => (arrive = r));
  const released = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
  let held = false;
  const files: FileLayer = {
    ...nodeFileLayer,
    open: async (p, flags) => {
      if (!held) {
        held = true;
        arrive();
        await released;
      }
      return nodeFileLayer.open(p, flags);
    },
  };
  return { files, reached, release: settle };
}

/** An upgrade's refusal: its HTTP status and error body (or 101 when it opened). */
const upgrade = (url: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, Subprotocol.JSON);
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });

async function starting(): Promise<{ base: string; port: number; dir: string; started: Promise<RunningServer>; release: (err?: Error) => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-startup-'));
  const port = await freePort();
  const cfg = loadConfig({ env: {}, overrides: { port, dataDir: dir, logLevel: 'silent', tickMs: 20 } });
  const held = heldFiles();
  const started = startServer(cfg, { logger: createLogger({ level: 'silent' }), logIo: { files: held.files } });
  started.catch(() => {});
  await held.reached;
  return { base: `127.0.0.1:${port}`, port, dir, started, release: held.release };
}

describe('starting', () => {
  it('listens while the worlds open: /livez 200, /readyz 503 starting, upgrades and REST 503 (retry shortly); then ready', async () => {
    const s = await starting();
    let srv: RunningServer | undefined;
    try {
      const live = await fetch(`http://${s.base}/livez`);
      expect(live.status).toBe(200);
      const readyz = await fetch(`http://${s.base}/readyz`);
      expect(readyz.status).toBe(503);
      expect(await readyz.json()).toEqual({ status: 'starting' });
      const up = await upgrade(`ws://${s.base}/v1/worlds/default/ws`);
      expect(up.status).toBe(503);
      expect(JSON.parse(up.body)).toMatchObject({ error: { code: 7018, name: 'SERVER_UNAVAILABLE', recovery: 'RETRY_WITH_DELAY', message: expect.stringMatching(/starting.*retry shortly/) as unknown } });
      const rest = await fetch(`http://${s.base}/v1/worlds/default/intents`, { method: 'POST', body: '{}' });
      expect(rest.status).toBe(503);
      expect(await rest.json()).toMatchObject({ error: { name: 'SERVER_UNAVAILABLE', recovery: 'RETRY_WITH_DELAY', message: expect.stringMatching(/retry shortly/) as unknown } });
      // Once the worlds are open: ready, and the same upgrade is taken.
      s.release();
      srv = await s.started;
      const ready = await fetch(`http://${s.base}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready' });
      expect((await upgrade(srv.wsUrl)).status).toBe(101);
    } finally {
      s.release();
      await (srv ?? (await s.started.catch(() => undefined)))?.shutdown();
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it('a world that fails to open fails the start with its error, and the port is let go', async () => {
    const s = await starting();
    try {
      expect((await fetch(`http://${s.base}/livez`)).status).toBe(200);
      const boom = Object.assign(new Error('EIO: injected fault in open'), { code: 'EIO' });
      s.release(boom);
      await expect(s.started).rejects.toThrow(/EIO/);
      // Nothing listens any more (the process would otherwise stay up): the port can be taken again.
      await new Promise<void>((resolve, reject) => {
        const again = net.createServer().once('error', reject).listen(s.port, '127.0.0.1', () => again.close(() => resolve()));
      });
    } finally {
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it('a failed start also closes the HTTP connections made while starting (a keep-alive /readyz poller would keep the process up)', async () => {
    const s = await starting();
    const poller = net.connect(s.port, '127.0.0.1');
    try {
      let answers = '';
      poller.on('data', (d: Buffer) => (answers += d.toString()));
      poller.on('error', () => undefined);
      const closed = new Promise<string>((resolve) => poller.once('close', () => resolve('closed')));
      await new Promise((r) => poller.once('connect', r));
      poller.write('GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      for (let i = 0; i < 100 && !answers.includes('starting'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(answers).toMatch(/^HTTP\/1\.1 503/);
      s.release(Object.assign(new Error('EIO: injected fault in open'), { code: 'EIO' }));
      await expect(s.started).rejects.toThrow(/EIO/);
      // uWS would otherwise keep it open for its 10 s idle timeout, and for ever while the client keeps asking.
      expect(await Promise.race([closed, new Promise((r) => setTimeout(() => r('still open 2 s after the failed start'), 2000))])).toBe('closed');
    } finally {
      poller.destroy();
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
  });
});
