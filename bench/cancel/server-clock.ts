/**
 * `--import ./bench/cancel/server-clock.ts` in the server under test (NODE_OPTIONS, set by bench/cancel.ts): prints
 * that process's epochOffset() (clock.ts) as it starts, `cancel-bench-epoch-offset=<ms>`, so the bench can place the
 * Cancelled frames' server_time (the server's performance.timeOrigin + performance.now()) on the monotonic clock
 * every other stamp is on. Bench-only; the server is not changed.
 */
import { epochOffset } from './clock.js';

process.stderr.write(`cancel-bench-epoch-offset=${epochOffset()}\n`);
