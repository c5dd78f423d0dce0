/**
 * What model streams cost an agent process, alone, apart from cancels: N streams through adapters/llm/openai.ts
 * from the cancel bench's fake provider (its own process, a token every 10 ms per stream, as in bench/cancel.ts).
 * Per round: the CPU per request from stream() to its first token (the request: the openai package, http-fetch,
 * node:http and a new TCP connection, as every round of the cancel bench opens one per agent after the last round
 * closed them), then the CPU per token while all N stream for `--ms` (reading: node:http, http-fetch's body, the SSE
 * decoder, the chunk's JSON, the async generator to the consumer), and what that makes as a share of one core.
 *
 *   node --import tsx bench/cancel/streams.ts [--streams 100] [--rounds 10] [--ms 1000]
 *
 * Not part of `npm run bench`: bench/cancel.ts measures the whole cancel path; this isolates one piece of it.
 */
import { parseArgs } from 'node:util';
import { openAIProvider } from '../../adapters/llm/openai.js';
import { cpuMs, median, openStreams, sleep, startProvider } from './model-streams.js';

const { values } = parseArgs({ options: { streams: { type: 'string' }, rounds: { type: 'string' }, ms: { type: 'string' } } });
const N = Math.min(1000, Math.max(1, Number(values.streams ?? 100)));
const ROUNDS = Math.min(200, Math.max(1, Number(values.rounds ?? 10)));
const MS = Math.min(10_000, Math.max(100, Number(values.ms ?? 1000)));
// As in the bench's workers: compiled code has no source-mapped stacks.
process.setSourceMapsEnabled(false);

const { provider, url } = await startProvider();
const model = openAIProvider({ model: 'bench', baseURL: `${url}/v1`, apiKey: 'k' });

async function round(r: number): Promise<{ requestUs: number; tokenUs: number; corePercent: number }> {
  let tokens = 0;
  const c0 = cpuMs();
  const { controllers, flowing, ended } = openStreams(model, N, `s${r} `, () => tokens++);
  await flowing;
  const c1 = cpuMs();
  // Let the first tokens' bursts pass, then measure steady streaming.
  await sleep(50);
  const c2 = cpuMs();
  const k2 = tokens;
  const t2 = performance.now();
  await sleep(MS);
  const c3 = cpuMs();
  const k3 = tokens;
  const t3 = performance.now();
  for (const c of controllers) c.abort(new Error('round over'));
  await ended;
  await sleep(50);
  return { requestUs: ((c1 - c0) * 1000) / N, tokenUs: ((c3 - c2) * 1000) / (k3 - k2), corePercent: ((c3 - c2) / (t3 - t2)) * 100 };
}

const got = { request: [] as number[], token: [] as number[], core: [] as number[] };
for (let r = -2; r < ROUNDS; r++) {
  const x = await round(r);
  if (r < 0) continue;
  got.request.push(x.requestUs);
  got.token.push(x.tokenUs);
  got.core.push(x.corePercent);
}
console.log(`${N} streams, ${ROUNDS} rounds, medians: ${median(got.request).toFixed(0)} µs CPU per request until its first token; ${median(got.token).toFixed(1)} µs CPU per token streaming, ${median(got.core).toFixed(1)}% of a core`);
provider.kill();
process.exit(0);
