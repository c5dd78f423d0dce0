/**
 * LLM providers against local fake servers that speak the real streaming formats: tokens and usage come through,
 * an abort closes the HTTP connection (the server sees it), retries happen only before the first token and only
 * on retryable statuses, the circuit breaker fails fast, and tokens and cost are accounted. Each provider runs over
 * the adapters' default fetch in Node (http-fetch.ts) and over Node's own (undici), which callers may pass instead.
 */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { anthropicProvider } from '../../adapters/llm/anthropic.js';
import { providerFromEnv } from '../../adapters/llm/config.js';
import { createHttpFetch } from '../../adapters/llm/http-fetch.js';
import { openAIProvider } from '../../adapters/llm/openai.js';
import { CircuitBreaker, resilient } from '../../adapters/llm/resilience.js';
import { scriptedProvider, tokenize } from '../../adapters/llm/scripted.js';
import { requestSignal, type ChatMessage, type LlmProvider, type Usage } from '../../adapters/llm/types.js';
import { startFakeLlmServer, type Dialect, type FakeLlmServer, type ReplyPlan } from './fake-llm-server.js';

const messages: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello.' },
];

const servers: FakeLlmServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function fake(dialect: Dialect, plan: (i: number) => ReplyPlan): Promise<FakeLlmServer> {
  const s = await startFakeLlmServer(dialect, plan);
  servers.push(s);
  return s;
}

type Transport = 'http-fetch' | 'undici';

function providerFor(dialect: Dialect, s: FakeLlmServer, transport: Transport = 'http-fetch', timeoutMs?: number): LlmProvider {
  const more = { ...(transport === 'undici' ? { fetch: globalThis.fetch } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
  return dialect === 'openai' ? openAIProvider({ model: 'fake-gpt', baseURL: `${s.url}/v1`, apiKey: 'k', ...more }) : anthropicProvider({ model: 'fake-claude', baseURL: s.url, apiKey: 'k', ...more });
}

async function collect(it: AsyncIterable<string>, limit = 10_000): Promise<string[]> {
  const out: string[] = [];
  for await (const t of it) {
    out.push(t);
    if (out.length >= limit) break;
  }
  return out;
}

describe.each<[Dialect, Transport]>([['openai', 'http-fetch'], ['anthropic', 'http-fetch'], ['openai', 'undici'], ['anthropic', 'undici']])('%s provider over its streaming format (%s)', (dialect, transport) => {
  it('streams the tokens in order and reports the usage the server counted', async () => {
    const s = await fake(dialect, () => ({ tokens: ['Hel', 'lo', ',', ' world'] }));
    const usage: Usage[] = [];
    const tokens = await collect(providerFor(dialect, s, transport).stream({ messages, onUsage: (u) => usage.push(u) }));
    expect(tokens).toEqual(['Hel', 'lo', ',', ' world']);
    expect(usage).toEqual([{ inputTokens: 42, outputTokens: 4, estimated: false }]);
    const body = s.requests[0]!.body;
    expect(body['stream']).toBe(true);
    if (dialect === 'openai') {
      expect(s.requests[0]!.path).toBe('/v1/chat/completions');
      expect(body['messages']).toEqual(messages);
      expect(body['stream_options']).toEqual({ include_usage: true });
    } else {
      expect(s.requests[0]!.path).toBe('/v1/messages');
      expect(body['system']).toBe('You are terse.');
      expect(body['messages']).toEqual([{ role: 'user', content: 'Say hello.' }]);
    }
  });

  it('an abort mid-stream closes the HTTP connection, and the stream ends with the abort reason', async () => {
    const s = await fake(dialect, () => ({ tokens: Array.from({ length: 300 }, (_, i) => ` t${i}`), delayMs: 10 }));
    const controller = new AbortController();
    const reason = new Error('world moved on');
    const got: string[] = [];
    const run = (async () => {
      for await (const t of providerFor(dialect, s, transport).stream({ messages, signal: controller.signal })) {
        got.push(t);
        if (got.length === 3) controller.abort(reason);
      }
    })();
    const limit = Error.stackTraceLimit;
    await expect(run).rejects.toBe(reason);
    // The SDK's teardown ran with stack traces off (requestSignal): the limit is back.
    expect(Error.stackTraceLimit).toBe(limit);
    const r = await s.waitClosed(0);
    expect(r.clientAborted).toBe(true);
    expect(r.chunksWritten).toBeLessThan(300);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('leaves no listener on the caller\'s signal once a stream ends, so a long-lived signal does not collect them', async () => {
    const s = await fake(dialect, () => ({ tokens: ['a', 'b'] }));
    const controller = new AbortController();
    for (let i = 0; i < 3; i++) expect(await collect(providerFor(dialect, s, transport).stream({ messages, signal: controller.signal }))).toEqual(['a', 'b']);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('a consumer that stops reading (break) also closes the HTTP connection', async () => {
    const s = await fake(dialect, () => ({ tokens: Array.from({ length: 300 }, (_, i) => ` t${i}`), delayMs: 10 }));
    expect(await collect(providerFor(dialect, s, transport).stream({ messages }), 2)).toEqual([' t0', ' t1']);
    const r = await s.waitClosed(0);
    expect(r.clientAborted).toBe(true);
    expect(r.chunksWritten).toBeLessThan(300);
  });

  it('retries 429 and 503 with backoff before the first token, then streams; accounts tokens and cost', async () => {
    const s = await fake(dialect, (i) => (i === 0 ? { status: 429, headers: { 'retry-after-ms': '5' } } : i === 1 ? { status: 503 } : { tokens: ['ok', '!'] }));
    const p = resilient(providerFor(dialect, s, transport), { retries: 3, baseDelayMs: 1, breaker: new CircuitBreaker(`retry-${dialect}-${transport}`), pricing: { inputPerMTok: 1_000_000, outputPerMTok: 2_000_000 } });
    expect(await collect(p.stream({ messages }))).toEqual(['ok', '!']);
    expect(s.requests).toHaveLength(3);
    const t = p.accounting.sum();
    expect(t).toMatchObject({ requests: 1, attempts: 3, retries: 2, failures: 0, inputTokens: 42, outputTokens: 2, estimatedUsage: 0 });
    expect(t.costUsd).toBeCloseTo(42 * 1 + 2 * 2, 9);
  });

  it('does not retry a 400, nor an answer that broke after its first token', async () => {
    const bad = await fake(dialect, () => ({ status: 400 }));
    const p = resilient(providerFor(dialect, bad, transport), { retries: 3, baseDelayMs: 1, breaker: new CircuitBreaker(`bad-${dialect}-${transport}`) });
    await expect(collect(p.stream({ messages }))).rejects.toMatchObject({ codeName: 'LLM_REQUEST_REFUSED', code: 6005, retryable: false, details: { status: 400 } });
    expect(bad.requests).toHaveLength(1);
    const dying = await fake(dialect, () => ({ tokens: ['a', 'b', 'c', 'd'], dropAfter: 2 }));
    const q = resilient(providerFor(dialect, dying, transport), { retries: 3, baseDelayMs: 1, breaker: new CircuitBreaker(`dying-${dialect}-${transport}`) });
    const got: string[] = [];
    await expect((async () => {
      for await (const t of q.stream({ messages })) got.push(t);
    })()).rejects.toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { partial: true, tokens_streamed: 2 } });
    expect(got).toEqual(['a', 'b']);
    expect(dying.requests).toHaveLength(1);
  });

  it('the timeout bounds the wait for the response and each silence in its stream, closing the request; a stream that keeps coming is not cut', async () => {
    const plans: ReplyPlan[] = [{ stallAt: 'response' }, { stallAt: 'headers' }, { tokens: ['a', 'b', 'c'], stallAt: 1 }, { tokens: ['s', 'l', 'o', 'w', '!'], delayMs: 60 }];
    const s = await fake(dialect, (i) => plans[i]!);
    const p = resilient(providerFor(dialect, s, transport, 150), { retries: 0, breaker: new CircuitBreaker(`stall-${dialect}-${transport}`, { failureThreshold: 100 }) });
    const outcomes: Array<{ tokens: string[]; err: unknown; ms: number }> = [];
    for (let i = 0; i < plans.length; i++) {
      const tokens: string[] = [];
      const started = performance.now();
      let err: unknown;
      try {
        for await (const t of p.stream({ messages })) tokens.push(t);
      } catch (e) {
        err = e;
      }
      outcomes.push({ tokens, err, ms: performance.now() - started });
    }
    const [response, headers, oneToken, slow] = outcomes;
    expect(response!.err).toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { timeout_ms: 150, timeout: 'response' } });
    expect(headers!.err).toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { timeout_ms: 150, timeout: 'stream' } });
    expect((headers!.err as Error).message).toMatch(/silent for 150 ms \(the timeout/);
    expect(oneToken!.err).toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { timeout_ms: 150, timeout: 'stream', partial: true, tokens_streamed: 1 } });
    expect(oneToken!.tokens).toEqual(['a']);
    for (const o of [response, headers, oneToken]) expect(o!.ms).toBeLessThan(1_500);
    // Five tokens 60 ms apart: 300 ms in all, longer than the timeout, and not cut.
    expect(slow!.err).toBeUndefined();
    expect(slow!.tokens.join('')).toBe('slow!');
    expect(slow!.ms).toBeGreaterThan(250);
    // Each stalled request was ended as an abort ends it: the server saw its connection close.
    for (const i of [0, 1, 2]) expect((await s.waitClosed(i, 2_000)).clientAborted).toBe(true);
    expect(p.accounting.sum()).toMatchObject({ requests: 4, completed: 1, failures: 3 });
  }, 10_000);

  it('a half-open trial that stalls fails at the timeout and reopens the breaker, instead of holding it on trial for ever', async () => {
    let stall = false;
    const s = await fake(dialect, (i) => (i === 0 ? { status: 503 } : stall ? { stallAt: 'headers' } : { tokens: ['back'] }));
    let now = 1_000;
    const breaker = new CircuitBreaker(`stalled-trial-${dialect}-${transport}`, { failureThreshold: 1, cooldownMs: 500 }, () => now);
    const p = resilient(providerFor(dialect, s, transport, 150), { retries: 0, breaker });
    await expect(collect(p.stream({ messages }))).rejects.toMatchObject({ details: { status: 503 } });
    expect(breaker.state).toBe('open');
    now += 600;
    stall = true;
    await expect(collect(p.stream({ messages }))).rejects.toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { timeout_ms: 150 } });
    expect(breaker.state).toBe('open');
    now += 600;
    stall = false;
    expect(await collect(p.stream({ messages }))).toEqual(['back']);
    expect(breaker.state).toBe('closed');
  }, 10_000);

  it('an overload error event in the stream is the provider\'s error, retried before the first token; an invalid-request one is not retried nor counted by the breaker', async () => {
    const overloaded = dialect === 'anthropic' ? 'overloaded_error' : 'server_error';
    const s = await fake(dialect, (i) => (i === 0 ? { errorEvent: { type: overloaded, message: 'Overloaded' } } : i === 1 ? { tokens: ['ok'] } : { errorEvent: { type: 'invalid_request_error', message: 'bad prompt' } }));
    const breaker = new CircuitBreaker(`stream-error-${dialect}-${transport}`, { failureThreshold: 2 });
    const p = resilient(providerFor(dialect, s, transport), { retries: 2, baseDelayMs: 1, breaker });
    expect(await collect(p.stream({ messages }))).toEqual(['ok']);
    expect(p.accounting.sum()).toMatchObject({ attempts: 2, retries: 1, completed: 1 });
    const err = await collect(p.stream({ messages })).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ codeName: 'LLM_REQUEST_REFUSED', retryable: false, details: { provider_error: { type: 'invalid_request_error', message: 'bad prompt' } } });
    expect((err as { details: object }).details).not.toHaveProperty('connection');
    expect((err as Error).message).toMatch(/reported an error in its stream: invalid_request_error: bad prompt/);
    expect(s.requests).toHaveLength(3);
    expect(breaker.state).toBe('closed');
  });

  it('an error event after the first token fails as a partial answer carrying the provider\'s error', async () => {
    const s = await fake(dialect, () => ({ tokens: ['a', 'b', 'c'], errorEvent: { type: 'overloaded_error', message: 'Overloaded', after: 2 } }));
    const p = resilient(providerFor(dialect, s, transport), { retries: 2, baseDelayMs: 1, breaker: new CircuitBreaker(`stream-error-mid-${dialect}-${transport}`) });
    const got: string[] = [];
    await expect((async () => {
      for await (const t of p.stream({ messages })) got.push(t);
    })()).rejects.toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { partial: true, tokens_streamed: 2, provider_error: { type: 'overloaded_error', message: 'Overloaded' } } });
    expect(got).toEqual(['a', 'b']);
    expect(s.requests).toHaveLength(1);
  });

  it('malformed stream data is a protocol error: not a connection failure, not retried, not counted by the breaker', async () => {
    const s = await fake(dialect, () => ({ tokens: ['a', 'b'], malformedAfter: 0 }));
    const breaker = new CircuitBreaker(`malformed-${dialect}-${transport}`, { failureThreshold: 1 });
    const p = resilient(providerFor(dialect, s, transport), { retries: 2, baseDelayMs: 1, breaker });
    const err = await collect(p.stream({ messages })).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { protocol: true } });
    expect((err as { details: object }).details).not.toHaveProperty('connection');
    expect((err as Error).message).toMatch(/breaks its format: .*not JSON/);
    expect(s.requests).toHaveLength(1);
    expect(breaker.state).toBe('closed');
  });

  it('a 200 that is not an event stream (a proxy page, a JSON answer) is a protocol error naming its content-type, not an empty answer', async () => {
    const s = await fake(dialect, () => ({ tokens: ['a'], headers: { 'content-type': 'text/html; charset=utf-8' } }));
    const p = resilient(providerFor(dialect, s, transport), { retries: 2, baseDelayMs: 1, breaker: new CircuitBreaker(`not-sse-${dialect}-${transport}`) });
    const err = await collect(p.stream({ messages })).then((t) => t, (e: unknown) => e);
    expect(err).toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { protocol: true } });
    expect((err as Error).message).toMatch(/not an event stream \(content-type "text\/html; charset=utf-8"\)/);
    expect(s.requests).toHaveLength(1);
  });

  it('opens the circuit breaker after repeated failures, fails fast without calling, and closes after a good trial', async () => {
    let healthy = false;
    const s = await fake(dialect, () => (healthy ? { tokens: ['back'] } : { status: 503 }));
    let now = 1_000;
    const breaker = new CircuitBreaker(`breaker-${dialect}-${transport}`, { failureThreshold: 3, cooldownMs: 500 }, () => now);
    const p = resilient(providerFor(dialect, s, transport), { retries: 0, breaker });
    for (let i = 0; i < 3; i++) await expect(collect(p.stream({ messages }))).rejects.toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { status: 503 } });
    await expect(collect(p.stream({ messages }))).rejects.toMatchObject({ codeName: 'CIRCUIT_BREAKER_OPEN', code: 7001 });
    expect(s.requests).toHaveLength(3);
    expect(breaker.state).toBe('open');
    now += 600;
    healthy = true;
    expect(await collect(p.stream({ messages }))).toEqual(['back']);
    expect(breaker.state).toBe('closed');
  });
});

describe('resilient(): the wait a server asks for', () => {
  it('is honoured past maxDelayMs, up to maxRetryAfterMs', async () => {
    const s = await fake('openai', (i) => (i === 0 ? { status: 429, headers: { 'retry-after-ms': '250' } } : { tokens: ['ok'] }));
    const p = resilient(providerFor('openai', s), { retries: 2, baseDelayMs: 1, maxDelayMs: 20, maxRetryAfterMs: 400, breaker: new CircuitBreaker('retry-after-honoured') });
    expect(await collect(p.stream({ messages }))).toEqual(['ok']);
    expect(s.requests).toHaveLength(2);
    expect(s.requests[1]!.startedAt - s.requests[0]!.startedAt).toBeGreaterThanOrEqual(240);
  });

  it('longer than maxRetryAfterMs (seconds or an HTTP date) is not retried: the error carries the status and the wait asked for', async () => {
    for (const header of [{ 'retry-after': '2' }, { 'retry-after': new Date(Date.now() + 5_000).toUTCString() }]) {
      const s = await fake('openai', (i) => (i === 0 ? { status: 503, headers: header } : { tokens: ['too early'] }));
      const p = resilient(providerFor('openai', s), { retries: 3, baseDelayMs: 1, maxDelayMs: 20, maxRetryAfterMs: 300, breaker: new CircuitBreaker(`retry-after-long-${header['retry-after']}`) });
      const started = performance.now();
      const err = await collect(p.stream({ messages })).then(() => undefined, (e: unknown) => e);
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(err).toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { status: 503, attempts: 1 } });
      const asked = (err as { details: { retry_after_ms: number } }).details.retry_after_ms;
      expect(asked).toBeGreaterThan(1_000);
      expect(asked).toBeLessThanOrEqual(5_000);
      expect((err as Error).message).toMatch(/asked to wait \d+ ms .*maxRetryAfterMs 300: not retried/);
      expect(s.requests).toHaveLength(1);
      expect(p.accounting.sum()).toMatchObject({ requests: 1, failures: 1, retries: 0 });
    }
  });
});

describe('resilient() accounting over a fake provider', () => {
  const drain = async (it: AsyncIterable<string>): Promise<unknown> => {
    try {
      await collect(it);
      return undefined;
    } catch (err) {
      return err;
    }
  };
  const balanced = (t: { requests: number; completed: number; failures: number; aborted: number }): void => expect(t.requests).toBe(t.completed + t.failures + t.aborted);

  it('an abort during the backoff counts the request aborted and no retry, since none was sent', async () => {
    const s = await fake('openai', () => ({ status: 503, headers: { 'retry-after-ms': '2000' } }));
    const p = resilient(providerFor('openai', s), { retries: 3, breaker: new CircuitBreaker('acct-abort-backoff', { failureThreshold: 100 }) });
    const controller = new AbortController();
    const reason = new Error('world moved on');
    const run = drain(p.stream({ messages, signal: controller.signal }));
    await expect.poll(() => s.requests.length).toBe(1);
    await new Promise((r) => setTimeout(r, 30));
    controller.abort(reason);
    expect(await run).toBe(reason);
    expect(s.requests).toHaveLength(1);
    const t = p.accounting.sum();
    expect(t).toMatchObject({ requests: 1, attempts: 1, retries: 0, failures: 0, aborted: 1, completed: 0 });
    balanced(t);
  });

  it('a breaker that opens between retries fails the request, counted, naming the provider error it last got', async () => {
    const s = await fake('openai', () => ({ status: 503 }));
    const breaker = new CircuitBreaker('acct-breaker-mid', { failureThreshold: 2, cooldownMs: 60_000 });
    const p = resilient(providerFor('openai', s), { retries: 3, baseDelayMs: 1, breaker });
    const err = await drain(p.stream({ messages }));
    expect(err).toMatchObject({ codeName: 'CIRCUIT_BREAKER_OPEN', details: { attempts: 2, last_error: { name: 'LLM_SERVICE_ERROR', details: { status: 503 } } } });
    expect((err as Error).message).toMatch(/the last of which failed: .*HTTP 503/);
    expect(s.requests).toHaveLength(2);
    const t = p.accounting.sum();
    expect(t).toMatchObject({ requests: 1, attempts: 2, retries: 1, failures: 1, aborted: 0 });
    balanced(t);
  });

  it('every request ends as exactly one of completed, failed or aborted (a reader that stops early is aborted)', async () => {
    const s = await fake('openai', (i) => (i === 0 ? { status: 400 } : { tokens: ['a', 'b', 'c'] }));
    const breaker = new CircuitBreaker('acct-balance', { failureThreshold: 100 });
    const p = resilient(providerFor('openai', s), { retries: 1, baseDelayMs: 1, breaker, tokenBudget: 100 });
    expect(await drain(p.stream({ messages }))).toMatchObject({ details: { status: 400 } });
    expect(await collect(p.stream({ messages }))).toEqual(['a', 'b', 'c']);
    expect(await collect(p.stream({ messages }), 1)).toEqual(['a']);
    const spent = resilient(providerFor('openai', s), { breaker, tokenBudget: 1, accounting: p.accounting });
    expect(await drain(spent.stream({ messages }))).toMatchObject({ codeName: 'TOKEN_BUDGET_EXCEEDED' });
    const t = p.accounting.sum();
    expect(t).toMatchObject({ requests: 4, completed: 1, failures: 2, aborted: 1 });
    balanced(t);
  });
});

describe('a refused request says what to check', () => {
  it.each<Dialect>(['openai', 'anthropic'])('%s: 401 names the API key, 404 the base URL and the model', async (dialect) => {
    const s = await fake(dialect, (i) => ({ status: i === 0 ? 401 : 404 }));
    const p = resilient(providerFor(dialect, s), { retries: 2, baseDelayMs: 1, breaker: new CircuitBreaker(`hint-${dialect}`) });
    const fail = (): Promise<unknown> => collect(p.stream({ messages })).then(() => undefined, (e: unknown) => e);
    const unauthorized = await fail();
    expect(unauthorized).toMatchObject({ codeName: 'LLM_REQUEST_REFUSED', retryable: false, details: { status: 401 } });
    expect((unauthorized as Error).message).toMatch(/answered HTTP 401: .*fake 401.*; check the API key \(apiKey, WORLDLINE_LLM_API_KEY\)$/);
    const notFound = await fail();
    expect(notFound).toMatchObject({ codeName: 'LLM_REQUEST_REFUSED', details: { status: 404 } });
    expect((notFound as Error).message).toMatch(/answered HTTP 404: .*fake 404.*; check the base URL \(baseURL, WORLDLINE_LLM_BASE_URL; .*\/v1\) and the model name \(model, WORLDLINE_LLM_MODEL\)$/);
    expect(s.requests).toHaveLength(2);
  });
});

describe('stream data of an unexpected shape', () => {
  it('anthropic: events without usage (some compatible servers) stream the answer once, with usage estimated, not a retried "could not be reached"', async () => {
    const s = await fake('anthropic', () => ({ tokens: ['a', 'b'], noUsage: 'absent' }));
    const breaker = new CircuitBreaker('absent-usage', { failureThreshold: 1 });
    const p = resilient(providerFor('anthropic', s), { retries: 2, baseDelayMs: 1, breaker });
    const usage: Usage[] = [];
    expect(await collect(p.stream({ messages, onUsage: (u) => usage.push(u) }))).toEqual(['a', 'b']);
    expect(s.requests).toHaveLength(1);
    expect(usage).toEqual([{ inputTokens: expect.any(Number) as number, outputTokens: 2, estimated: true }]);
    expect(breaker.state).toBe('closed');
  });

  it.each<Dialect>(['openai', 'anthropic'])('%s: event data that is JSON but not an object is a protocol error, not a retried "could not be reached"', async (dialect) => {
    const frame = dialect === 'openai' ? 'data: null\n\n' : 'event: content_block_delta\ndata: null\n\n';
    const s = await fake(dialect, () => ({ tokens: ['a', 'b'], extraFrame: { after: 0, frame } }));
    const breaker = new CircuitBreaker(`null-chunk-${dialect}`, { failureThreshold: 1 });
    const p = resilient(providerFor(dialect, s), { retries: 2, baseDelayMs: 1, breaker });
    const err = await collect(p.stream({ messages })).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { protocol: true } });
    expect((err as Error).message).toMatch(/breaks its format: .*not a JSON object: "null"/);
    expect(s.requests).toHaveLength(1);
    expect(breaker.state).toBe('closed');
  });

  it('openai: an error sent as an error object (vLLM\'s {"object": "error"}) or as an `event: error` fails with it, not as an empty answer', async () => {
    const vllm = 'data: {"object":"error","message":"This model\'s maximum context length is 4096 tokens","type":"BadRequestError","param":null,"code":400}\n\n';
    const named = 'event: error\ndata: {"message":"upstream overloaded","type":"server_error"}\n\n';
    const s = await fake('openai', (i) => ({ tokens: ['a', 'b'], extraFrame: { after: 0, frame: i === 0 ? vllm : named } }));
    const p = resilient(providerFor('openai', s), { retries: 0, breaker: new CircuitBreaker('object-error') });
    const first = await collect(p.stream({ messages })).then((t) => t, (e: unknown) => e);
    expect(first).toMatchObject({ codeName: 'LLM_REQUEST_REFUSED', details: { provider_error: { type: 'BadRequestError', message: "This model's maximum context length is 4096 tokens" } } });
    const second = await collect(p.stream({ messages })).then((t) => t, (e: unknown) => e);
    expect(second).toMatchObject({ codeName: 'LLM_SERVICE_ERROR', details: { provider_error: { type: 'server_error', message: 'upstream overloaded' } } });
  });

  it('openai: a server that sends usage in more than one chunk (running totals) is accounted once, with its last numbers', async () => {
    const running = `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 42, completion_tokens: 1, total_tokens: 43 } })}\n\n`;
    const s = await fake('openai', () => ({ tokens: ['a', 'b'], extraFrame: { after: 1, frame: running } }));
    const p = resilient(providerFor('openai', s), { retries: 0, breaker: new CircuitBreaker('usage-twice'), pricing: { inputPerMTok: 1_000_000, outputPerMTok: 1_000_000 } });
    const usage: Usage[] = [];
    expect(await collect(p.stream({ messages, onUsage: (u) => usage.push(u) }))).toEqual(['a', 'b']);
    expect(usage).toEqual([{ inputTokens: 42, outputTokens: 2, estimated: false }]);
    expect(p.accounting.sum()).toMatchObject({ inputTokens: 42, outputTokens: 2, costUsd: 44 });
  });
});

describe('openai provider over http-fetch', () => {
  it('closes an aborted stream straight through http-fetch: the package\'s own signal, which only relays, is not aborted', async () => {
    const s = await fake('openai', () => ({ tokens: Array.from({ length: 300 }, (_, i) => ` t${i}`), delayMs: 10 }));
    const base = createHttpFetch()!;
    // The signal the openai package hands its fetch: its request controller's, which it aborts to close the stream.
    const signals: AbortSignal[] = [];
    const recording = ((input: string | URL | Request, init?: RequestInit) => {
      if (init?.signal) signals.push(init.signal);
      return base(input, init);
    }) as typeof fetch;
    const controller = new AbortController();
    const reason = new Error('world moved on');
    const got: string[] = [];
    const run = (async () => {
      for await (const t of openAIProvider({ model: 'fake-gpt', baseURL: `${s.url}/v1`, apiKey: 'k', fetch: recording }).stream({ messages, signal: controller.signal })) {
        got.push(t);
        if (got.length === 3) controller.abort(reason);
      }
    })();
    await expect(run).rejects.toBe(reason);
    expect((await s.waitClosed(0)).clientAborted).toBe(true);
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(false);
  });
});

describe('requestSignal', () => {
  it('aborts the request signal with the caller\'s reason until the stream is attached, then closes the stream directly', () => {
    const early = new AbortController();
    const r1 = requestSignal(early.signal);
    const reason = new Error('moved on');
    early.abort(reason);
    expect(r1.signal?.reason).toBe(reason);

    const caller = new AbortController();
    const r2 = requestSignal(caller.signal);
    const closedWith: unknown[] = [];
    r2.attach((why) => closedWith.push(why));
    const moved = new Error('moved on');
    caller.abort(moved);
    // The stream is closed by the adapter's close, with the caller's reason; the request signal the provider SDK only
    // relays is left be.
    expect(closedWith).toEqual([moved]);
    expect(r2.signal?.aborted).toBe(false);

    const life = new AbortController();
    const r3 = requestSignal(life.signal);
    r3.attach(() => {});
    r3.release();
    expect(getEventListeners(life.signal, 'abort')).toHaveLength(0);
  });
});

describe('scripted model and configuration', () => {
  it('is deterministic for a seed and a conversation, streams word tokens, and stops when aborted', async () => {
    const a = await collect(scriptedProvider({ seed: 7, minDelayMs: 0, maxDelayMs: 1 }).stream({ messages }));
    const b = await collect(scriptedProvider({ seed: 7, minDelayMs: 0, maxDelayMs: 1 }).stream({ messages }));
    const c = await collect(scriptedProvider({ seed: 8, minDelayMs: 0, maxDelayMs: 1 }).stream({ messages }));
    expect(a).toEqual(b);
    expect(a.join('')).not.toBe(c.join(''));
    expect(tokenize('Hi there, you.')).toEqual(['Hi', ' there', ',', ' you', '.']);
    const controller = new AbortController();
    const p = scriptedProvider({ respond: () => 'one two three four five six', minDelayMs: 1, maxDelayMs: 2 });
    const got: string[] = [];
    const usage: Usage[] = [];
    await expect((async () => {
      for await (const t of p.stream({ messages, signal: controller.signal, onUsage: (u) => usage.push(u) })) {
        got.push(t);
        if (got.length === 2) controller.abort(new Error('stop'));
      }
    })()).rejects.toThrow('stop');
    expect(got).toEqual(['one', ' two']);
    expect(usage[0]?.outputTokens).toBe(2);
  });

  it('builds providers from environment variables (openai-compatible and Azure by base URL) and refuses bad values', async () => {
    const s = await fake('openai', () => ({ tokens: ['from', ' env'] }));
    const p = providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'openai', WORLDLINE_LLM_BASE_URL: `${s.url}/v1`, WORLDLINE_LLM_MODEL: 'llama3', WORLDLINE_LLM_MAX_TOKENS: '32' });
    expect(await collect(p.stream({ messages }))).toEqual(['from', ' env']);
    expect(s.requests[0]!.body).toMatchObject({ model: 'llama3', max_tokens: 32 });
    const az = providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'azure', WORLDLINE_LLM_BASE_URL: s.url, WORLDLINE_LLM_MODEL: 'my-deploy', WORLDLINE_LLM_API_KEY: 'k' });
    expect(await collect(az.stream({ messages }))).toEqual(['from', ' env']);
    expect(s.requests[1]!.path).toMatch(/^\/openai\/deployments\/my-deploy\/chat\/completions\?api-version=/);
    // An empty api-version is unset (the default), not a switch back to plain OpenAI.
    const azEmpty = providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'azure', WORLDLINE_LLM_BASE_URL: s.url, WORLDLINE_LLM_MODEL: 'my-deploy', WORLDLINE_LLM_API_KEY: 'k', WORLDLINE_LLM_AZURE_API_VERSION: '' });
    expect(azEmpty.name).toBe(`azure:${s.url}`);
    expect(await collect(azEmpty.stream({ messages }))).toEqual(['from', ' env']);
    expect(s.requests[2]!.path).toBe('/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21');
    expect(providerFromEnv({}).name).toBe('scripted:42');
    expect(() => providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'gpt5' })).toThrow(expect.objectContaining({ codeName: 'CONFIG_INVALID' }) as Error);
    expect(() => providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'openai' })).toThrow(/WORLDLINE_LLM_API_KEY/);
    expect(() => providerFromEnv({ WORLDLINE_LLM_RETRIES: 'many' })).toThrow(/WORLDLINE_LLM_RETRIES/);
  });

  it('reads WORLDLINE_LLM_INCLUDE_USAGE as a boolean in any case, and refuses a value that is neither', async () => {
    const s = await fake('openai', () => ({ tokens: ['ok'] }));
    const env = { WORLDLINE_LLM_PROVIDER: 'openai', WORLDLINE_LLM_BASE_URL: `${s.url}/v1` };
    const cases: Array<[string, boolean]> = [['FALSE', false], ['0', false], ['false', false], ['True', true], ['1', true], ['', true]];
    for (const [value, asked] of cases) {
      const i = s.requests.length;
      expect(await collect(providerFromEnv({ ...env, WORLDLINE_LLM_INCLUDE_USAGE: value }).stream({ messages }))).toEqual(['ok']);
      expect(s.requests[i]!.body['stream_options']).toEqual(asked ? { include_usage: true } : undefined);
    }
    for (const value of ['no', 'off', 'yes']) {
      expect(() => providerFromEnv({ ...env, WORLDLINE_LLM_INCLUDE_USAGE: value })).toThrow(expect.objectContaining({ codeName: 'CONFIG_INVALID', details: { key: 'WORLDLINE_LLM_INCLUDE_USAGE' }, message: expect.stringMatching(/^WORLDLINE_LLM_INCLUDE_USAGE must be true or false/) as string }) as Error);
    }
  });

  it('takes an empty WORLDLINE_LLM_PROVIDER or WORLDLINE_LLM_MODEL as unset, and refuses a fraction where a count is meant', async () => {
    const s = await fake('openai', () => ({ tokens: ['ok'] }));
    expect(await collect(providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'openai', WORLDLINE_LLM_BASE_URL: `${s.url}/v1`, WORLDLINE_LLM_MODEL: '' }).stream({ messages }))).toEqual(['ok']);
    expect(s.requests[0]!.body['model']).toBe('gpt-4o-mini');
    expect(providerFromEnv({ WORLDLINE_LLM_PROVIDER: '' }).name).toBe('scripted:42');
    for (const name of ['WORLDLINE_LLM_MAX_TOKENS', 'WORLDLINE_LLM_RETRIES', 'WORLDLINE_LLM_BREAKER_FAILURES', 'WORLDLINE_LLM_TOKEN_BUDGET']) {
      expect(() => providerFromEnv({ [name]: '2.5' })).toThrow(expect.objectContaining({ codeName: 'CONFIG_INVALID', details: { key: name }, message: expect.stringMatching(new RegExp(`^${name} must be a whole number >= \\d, got "2.5"`)) as string }) as Error);
    }
  });

  it('says which variable is missing or wrong for Azure and for a base URL that is not one, at configuration time', () => {
    const invalid = (re: RegExp): Error => expect.objectContaining({ codeName: 'CONFIG_INVALID', message: expect.stringMatching(re) as string }) as Error;
    // Azure needs its resource endpoint and a key; the openai SDK's own complaint names constructor arguments.
    expect(() => providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'azure', WORLDLINE_LLM_API_KEY: 'k' })).toThrow(invalid(/WORLDLINE_LLM_PROVIDER=azure needs WORLDLINE_LLM_BASE_URL/));
    expect(() => providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'azure', WORLDLINE_LLM_BASE_URL: 'https://res.openai.azure.com' })).toThrow(invalid(/WORLDLINE_LLM_PROVIDER=azure needs WORLDLINE_LLM_API_KEY/));
    expect(() => providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'azure' })).toThrow(invalid(/^WORLDLINE_LLM_PROVIDER=azure/));
    expect(providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'azure', WORLDLINE_LLM_BASE_URL: 'https://res.openai.azure.com', AZURE_OPENAI_API_KEY: 'k' }).name).toBe('azure:https://res.openai.azure.com');
    // A base URL that is not an http(s) URL fails now, not as a retried "could not be reached" at the first request.
    expect(() => providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'openai', WORLDLINE_LLM_BASE_URL: 'localhost:11434/v1' })).toThrow(invalid(/WORLDLINE_LLM_BASE_URL must be an http/));
    expect(() => providerFromEnv({ WORLDLINE_LLM_PROVIDER: 'anthropic', WORLDLINE_LLM_BASE_URL: 'not a url' })).toThrow(invalid(/WORLDLINE_LLM_BASE_URL must be an http/));
  });
});
