/**
 * `worldline serve` exits after SIGTERM, whatever its clients do: a keep-alive HTTP client still asking /readyz (a load
 * balancer's health check), or a WebSocket whose client stopped reading and so never answers the going-away close.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';

const repo = path.resolve(import.meta.dirname, '../..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('worldline serve, SIGTERM with clients that linger', () => {
  it('exits 0 at once although a keep-alive client polls /readyz and a WebSocket client stopped reading; the latter still gets 1001', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-serve-linger-'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/arena/serve-entry.ts', 'serve', '--port', '0', '--data', dir], { cwd: repo, env: { ...process.env, WORLDLINE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const poller = new net.Socket();
    let ws: WebSocket | undefined;
    try {
      let out = '';
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | string | null>((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
      const started = await new Promise<{ port: number; token: string }>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no URL within 30 s: ${out}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const url = /at ws:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
          const token = /dev token, agent "agent-1" \(24 h\): (\S+)/.exec(out);
          if (url && token) {
            clearTimeout(t);
            resolve({ port: Number(url[1]), token: token[1]! });
          }
        });
        child.once('exit', () => reject(new Error(`exited early: ${out}`)));
      });

      // A health checker on one keep-alive connection, asking every 200 ms (answered 503 once draining).
      let answers = '';
      let pollerClosed = false;
      poller.on('data', (d: Buffer) => (answers += d.toString()));
      poller.on('close', () => (pollerClosed = true));
      poller.on('error', () => undefined);
      await new Promise<void>((resolve) => poller.connect(started.port, '127.0.0.1', resolve));
      const polling = setInterval(() => {
        if (!pollerClosed) poller.write('GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      }, 200);

      // A welcomed agent that then stops reading its socket.
      ws = new WebSocket(`ws://127.0.0.1:${started.port}/v1/worlds/default/ws`, ['worldline.v1.json']);
      const frames: Array<{ type: string }> = [];
      ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString()) as { type: string }));
      const closed = new Promise<{ code: number; reason: string }>((resolve) => ws!.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
      await new Promise((r) => ws!.once('open', r));
      ws.send(JSON.stringify({ type: 'hello', token: started.token, agent_id: 'agent-1', client_version: 't/1', schema_version: '1.0.0' }));
      for (let i = 0; i < 100 && !frames.some((f) => f.type === 'welcome'); i++) await sleep(50);
      expect(frames.map((f) => f.type)).toContain('welcome');
      await sleep(300);
      expect(answers).toMatch(/^HTTP\/1\.1 200/);
      (ws as unknown as { _socket: net.Socket })._socket.pause();

      child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(5000).then(() => 'still running 5 s after SIGTERM')]);
      clearInterval(polling);
      expect(code, out).toBe(0);
      expect(pollerClosed).toBe(true);
      // The paused client reads its going-away close once it reads again.
      (ws as unknown as { _socket: net.Socket })._socket.resume();
      expect(await closed).toEqual({ code: 1001, reason: 'server shutting down: reconnect and resume from your last view_seq' });
    } finally {
      poller.destroy();
      ws?.terminate();
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
