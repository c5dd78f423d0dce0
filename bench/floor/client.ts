/**
 * A transport-floor load generator (bench/floor.ts), forked by the runner: its share of the clients, each a `ws`
 * WebSocket as arena-v1's generator opens them. Each client reads the send time from every frame (delivery latency,
 * on the machine's one clock) and sends a binary message of `msgBytes` at `sendHz`, staggered over the clients, as
 * arena-v1's move intents are. No decoding, no view: the least a client can do with the same traffic.
 */
import WebSocket from 'ws';
import { latencyHistogram } from '../lib.js';
import { encodeHistogram } from '../arena/stats.js';

export interface FloorClientConfig {
  readonly index: number;
  readonly url: string;
  readonly localAddresses: readonly string[];
  readonly sendHz: number;
  readonly msgBytes: number;
  readonly connectConcurrency: number;
  readonly connectTimeoutMs: number;
}

export type ToFloorClient =
  | { readonly type: 'start'; readonly cfg: FloorClientConfig }
  | { readonly type: 'go'; readonly warmupEnd: number; readonly measureEnd: number; readonly stopAt: number }
  | { readonly type: 'exit' };

export interface FloorClientResult {
  readonly index: number;
  readonly clients: number;
  /** Encoded hdr histogram of delivery latency (µs). */
  readonly delivery: string;
  readonly messages: number;
  readonly bytes: number;
  readonly sent: number;
  readonly closes: number;
  readonly cpuPercent: number;
}

export type FromFloorClient =
  | { readonly type: 'ready'; readonly connected: number; readonly failed: number; readonly firstError?: string }
  | { readonly type: 'result'; readonly result: FloorClientResult }
  | { readonly type: 'error'; readonly message: string };

const now = (): number => performance.timeOrigin + performance.now();
const send = (m: FromFloorClient): void => {
  process.send?.(m);
};

let warmupEnd = Infinity;
let measureEnd = Infinity;
const delivery = latencyHistogram();
let messages = 0;
let bytes = 0;
let sent = 0;
let closes = 0;
const sockets: WebSocket[] = [];

function open(cfg: FloorClientConfig, localAddress: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(cfg.url, { localAddress, perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`connect timed out after ${cfg.connectTimeoutMs} ms`));
    }, cfg.connectTimeoutMs);
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.on('message', (data: Buffer) => {
      const t = now();
      if (t < warmupEnd || t >= measureEnd) return;
      messages++;
      bytes += data.byteLength;
      if (data.byteLength >= 8) delivery.recordValue(Math.max(1, Math.round((t - data.readDoubleLE(0)) * 1000)));
    });
    ws.on('close', () => {
      if (now() < measureEnd) closes++;
    });
  });
}

async function start(cfg: FloorClientConfig): Promise<void> {
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < cfg.localAddresses.length) {
      const addr = cfg.localAddresses[next++] as string;
      try {
        sockets.push(await open(cfg, addr));
      } catch (err) {
        failed++;
        firstError ??= String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cfg.connectConcurrency) }, lane));
  send({ type: 'ready', connected: sockets.length, failed, ...(firstError !== undefined ? { firstError } : {}) });
}

function go(cfg: FloorClientConfig, m: Extract<ToFloorClient, { type: 'go' }>): void {
  warmupEnd = m.warmupEnd;
  measureEnd = m.measureEnd;
  // Each client sends every 1/sendHz s; a 10 ms step sends for the clients whose turn it is, so sends are spread.
  const stepMs = 10;
  const steps = Math.max(1, Math.round(1000 / cfg.sendHz / stepMs));
  const msg = new Uint8Array(cfg.msgBytes);
  for (let i = 0; i < msg.length; i++) msg[i] = (i * 7) & 0xff;
  let step = 0;
  const timer = setInterval(() => {
    const turn = step++ % steps;
    for (let i = turn; i < sockets.length; i += steps) {
      const ws = sockets[i] as WebSocket;
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(msg);
        sent++;
      }
    }
  }, stepMs);
  let cpu0: NodeJS.CpuUsage | undefined;
  let wall0 = 0;
  setTimeout(() => {
    cpu0 = process.cpuUsage();
    wall0 = now();
  }, Math.max(0, warmupEnd - now()));
  setTimeout(() => {
    const c = process.cpuUsage(cpu0);
    const wall = now() - wall0;
    const cpuPercent = wall > 0 ? Math.round(((c.user + c.system) / 1000 / wall) * 1000) / 10 : NaN;
    clearInterval(timer);
    send({ type: 'result', result: { index: cfg.index, clients: sockets.length, delivery: encodeHistogram(delivery), messages, bytes, sent, closes, cpuPercent } });
  }, Math.max(0, measureEnd - now()));
}

let config: FloorClientConfig | undefined;
process.on('message', (m: ToFloorClient) => {
  if (m.type === 'start') {
    config = m.cfg;
    start(m.cfg).catch((err: unknown) => send({ type: 'error', message: String(err) }));
  } else if (m.type === 'go' && config) go(config, m);
  else if (m.type === 'exit') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
