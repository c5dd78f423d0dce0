/**
 * What aborting a model stream costs the agent's process, alone: N streams through adapters/llm/openai.ts from the
 * cancel bench's fake provider (its own process), all flowing, then all aborted at once. Per round: the CPU this
 * process spends from the aborts until every stream has ended (`abort`, the synchronous teardown and the promise
 * chains), the CPU it spends in the 50 ms after (`tail`: socket close callbacks, and any reconnects), and the TCP
 * connections it opened in that tail; and over all rounds the median wall time of one abort() call, the part a
 * Cancelled frame's handler runs before the next frame is read (per call, so a preempted call does not move it). Each fetch under the openai package is measured in turn, alternating, in one
 * run: `http` (adapters/llm/http-fetch.ts, the default in Node) and `undici` (Node's fetch).
 *
 *   node --import tsx bench/cancel/abort.ts [--streams 100] [--rounds 20] [--fetch http,undici]
 *
 * Not part of `npm run bench`: bench/cancel.ts measures the whole cancel path; this isolates one piece of it.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { openAIProvider } from '../../adapters/llm/openai.js';
import { cpuMs, median, openStreams, sleep, startProvider } from './model-streams.js';

const { values } = parseArgs({ options: { streams: { type: 'string' }, rounds: { type: 'string' }, fetch: { type: 'string' } } });
const N = Math.min(1000, Math.max(1, Number(values.streams ?? 100)));
const ROUNDS = Math.min(200, Math.max(1, Number(values.rounds ?? 20)));
const kinds = (values.fetch ?? 'http,undici').split(',') as Array<'http' | 'undici'>;

// As in the bench's workers: compiled code has no source-mapped stacks.
process.setSourceMapsEnabled(false);
let connects = 0;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
  connects++;
  return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof connect;

const { provider, url } = await startProvider();
const models = Object.fromEntries(kinds.map((k) => [k, openAIProvider({ model: 'bench', baseURL: `${url}/v1`, apiKey: 'k', ...(k === 'undici' ? { fetch: globalThis.fetch } : {}) })]));

async function round(kind: 'http' | 'undici', r: number): Promise<{ abortUs: number; tailUs: number; tailConnects: number; syncUs: number[] }> {
  const syncUs: number[] = [];
  const { controllers, flowing, ended } = openStreams(models[kind]!, N, `a${r} `);
  await flowing;
  await sleep(30);
  const c0 = cpuMs();
  for (const c of controllers) {
    const t = performance.now();
    c.abort(new Error('cancelled'));
    syncUs.push((performance.now() - t) * 1000);
  }
  await ended;
  const c1 = cpuMs();
  const k0 = connects;
  await sleep(50);
  return { abortUs: ((c1 - c0) * 1000) / N, tailUs: ((cpuMs() - c1) * 1000) / N, tailConnects: connects - k0, syncUs };
}

const got = Object.fromEntries(kinds.map((k) => [k, { abort: [] as number[], tail: [] as number[], connects: [] as number[], sync: [] as number[] }]));
for (let r = -2; r < ROUNDS; r++) {
  for (const k of kinds) {
    const x = await round(k, r);
    if (r < 0) continue;
    got[k]!.abort.push(x.abortUs);
    got[k]!.tail.push(x.tailUs);
    got[k]!.connects.push(x.tailConnects);
    got[k]!.sync.push(...x.syncUs);
  }
}
console.log(`${N} streams aborted at once, ${ROUNDS} rounds per fetch (alternating), medians per stream:`);
for (const k of kinds) {
  const g = got[k]!;
  console.log(`  ${k.padEnd(6)} abort ${median(g.abort).toFixed(1)} µs CPU, tail ${median(g.tail).toFixed(1)} µs CPU, connections opened after the aborts ${median(g.connects)} per round; abort() itself ${median(g.sync).toFixed(1)} µs (wall, median of every abort)`);
}
provider.kill();
process.exit(0);
