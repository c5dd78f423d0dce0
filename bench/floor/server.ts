/**
 * The transport floor's server (bench/floor.ts): uWebSockets.js, native only, with Worldline's WebSocket options and
 * nothing else. Every tick it sends each socket one binary frame of `--bytes` (the time it was sent first, as a
 * float64, then the tick), corked per socket as Worldline's fan-out does, and it counts what clients send. No world,
 * no codec, no log: what is left is what any Node + uWS server pays to carry arena-v1's traffic.
 *
 * Prints one JSON line `{"port":N}` once listening. GET /stats gives cumulative counters (ticks, sends, fan-out time).
 */
import { parseArgs } from 'node:util';
import type { WebSocket } from 'uWebSockets.js';
import { CONFIG_KEYS } from '../../server/config.js';
import { loadNativeUws } from '../../server/transport/uws-native.js';

const { values } = parseArgs({
  options: { bytes: { type: 'string', default: '700' }, 'tick-ms': { type: 'string', default: '50' } },
});
const bytes = Math.max(16, Number(values.bytes));
const tickMs = Math.max(1, Number(values['tick-ms']));
if (!Number.isFinite(bytes) || !Number.isFinite(tickMs)) throw new Error('--bytes and --tick-ms take numbers');

const uws = loadNativeUws();
const now = (): number => performance.timeOrigin + performance.now();

const sockets = new Set<WebSocket<unknown>>();
const stats = { sockets: 0, ticks: 0, sends: 0, dropped: 0, fanOutMs: 0, received: 0, receivedBytes: 0, closes: 0 };
/** The frame every socket gets this tick: uWS copies it into each socket's buffer (or writes it) during send. */
const frame = new Uint8Array(bytes);
const header = new DataView(frame.buffer);
for (let i = 16; i < bytes; i++) frame[i] = (i * 31) & 0xff;

const app = uws
  .App()
  .ws('/floor', {
    // As server.ts configures Worldline's endpoint, with the configuration's defaults.
    maxPayloadLength: CONFIG_KEYS.maxPayloadLength.def,
    maxBackpressure: CONFIG_KEYS.maxBackpressure.def,
    closeOnBackpressureLimit: 1 as unknown as number,
    idleTimeout: CONFIG_KEYS.idleTimeoutSec.def,
    sendPingsAutomatically: true,
    open: (ws) => {
      sockets.add(ws);
    },
    message: (_ws, msg) => {
      stats.received++;
      stats.receivedBytes += msg.byteLength;
    },
    close: (ws) => {
      sockets.delete(ws);
      stats.closes++;
    },
  })
  .get('/stats', (res) => {
    res.cork(() => res.writeHeader('content-type', 'application/json').end(JSON.stringify({ ...stats, sockets: sockets.size })));
  });

let listenSocket: unknown;
app.listen('127.0.0.1', 0, (token) => {
  listenSocket = token;
  if (!token) {
    console.error('floor server: could not listen on 127.0.0.1');
    process.exit(1);
  }
  console.log(JSON.stringify({ port: uws.us_socket_local_port(token) }));
});

function tick(): void {
  const t0 = performance.now();
  header.setFloat64(0, now(), true);
  header.setFloat64(8, stats.ticks, true);
  for (const ws of sockets) {
    ws.cork(() => {
      if (ws.send(frame, true) === 2) stats.dropped++;
      else stats.sends++;
    });
  }
  stats.ticks++;
  stats.fanOutMs += performance.now() - t0;
}

// Ticks on a fixed schedule, as a world's tick loop: a late tick runs at once and the next keeps the cadence.
const start = performance.now();
let n = 0;
function schedule(): void {
  n++;
  const at = start + n * tickMs;
  setTimeout(() => {
    tick();
    schedule();
  }, Math.max(0, at - performance.now()));
}
schedule();

const stop = (): void => {
  if (listenSocket) uws.us_listen_socket_close(listenSocket as never);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
