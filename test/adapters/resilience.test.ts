/**
 * resilient() around an in-memory provider: the circuit breaker's trial, retries and accounting, without HTTP (the
 * providers' HTTP behaviour is llm.test.ts's).
 */
import { describe, expect, it } from 'vitest';
import { CircuitBreaker, resilient } from '../../adapters/llm/resilience.js';
import { scriptedProvider } from '../../adapters/llm/scripted.js';
import type { ChatMessage, LlmProvider, StreamRequest } from '../../adapters/llm/types.js';

const messages: ChatMessage[] = [{ role: 'user', content: 'hi' }];

/** A provider whose i-th request fails with `fail(i)` (an HTTP-ish error) or streams `tokens`. */
function provider(fail: (i: number) => { status: number } | undefined, tokens = ['a', 'b', 'c']): LlmProvider & { calls: number } {
  const p = {
    name: 'mem',
    model: 'm',
    calls: 0,
    async *stream(_req: StreamRequest): AsyncIterable<string> {
      const f = fail(p.calls++);
      if (f) throw Object.assign(new Error(`HTTP ${f.status}`), f);
      for (const t of tokens) {
        await Promise.resolve();
        yield t;
      }
    },
  };
  return p;
}

describe('resilient(): circuit breaker', () => {
  it('a half-open trial whose reader stops early (break) does not leave the breaker on trial for ever', async () => {
    let now = 1_000;
    const breaker = new CircuitBreaker('mem-trial-break', { failureThreshold: 1, cooldownMs: 100 }, () => now);
    const p = resilient(provider((i) => (i === 0 ? { status: 503 } : undefined)), { retries: 0, breaker });
    await expect((async () => {
      for await (const _t of p.stream({ messages })) void _t;
    })()).rejects.toMatchObject({ codeName: 'LLM_SERVICE_ERROR' });
    expect(breaker.state).toBe('open');
    now += 200;
    // The trial: the reader takes one token and stops (an onToken callback that throws does the same).
    for await (const _t of p.stream({ messages })) break;
    const got: string[] = [];
    for await (const t of p.stream({ messages })) got.push(t);
    expect(got).toEqual(['a', 'b', 'c']);
    expect(breaker.state).toBe('closed');
  });

  it('a cancelled request admitted before the breaker opened does not let a second trial through beside the one in flight', async () => {
    let now = 1_000;
    const breaker = new CircuitBreaker('mem-trial-release', { failureThreshold: 1, cooldownMs: 100 }, () => now);
    // Request 0 hangs (a slow model) until its caller aborts; 1 fails with 503; 2 (the trial) hangs; 3 would answer.
    let calls = 0;
    const slow: LlmProvider = {
      name: 'mem-slow',
      model: 'm',
      async *stream(req: StreamRequest): AsyncIterable<string> {
        const i = calls++;
        if (i === 1) throw Object.assign(new Error('HTTP 503'), { status: 503 });
        if (i === 0 || i === 2) {
          await new Promise((_resolve, reject) => req.signal?.addEventListener('abort', () => reject(req.signal?.reason as Error), { once: true }));
        }
        yield 'ok';
      },
    };
    const p = resilient(slow, { retries: 0, breaker });
    const drain = async (signal?: AbortSignal): Promise<unknown> => {
      try {
        for await (const _t of p.stream({ messages, ...(signal ? { signal } : {}) })) void _t;
        return 'done';
      } catch (err) {
        return err;
      }
    };
    const early = new AbortController();
    const earlyRun = drain(early.signal);
    await expect(drain()).resolves.toMatchObject({ details: { status: 503 } });
    expect(breaker.state).toBe('open');
    now += 200;
    const trial = new AbortController();
    const trialRun = drain(trial.signal);
    await Promise.resolve();
    expect(breaker.state).toBe('half-open');
    // The agent whose generation began before the outage is cancelled: no verdict on the provider, and not the trial.
    early.abort(new Error('world moved on'));
    await earlyRun;
    await expect(drain()).resolves.toMatchObject({ codeName: 'CIRCUIT_BREAKER_OPEN' });
    expect(calls).toBe(3);
    trial.abort(new Error('done'));
    await trialRun;
  });

  it("a caller's bad request (4xx) does not open the breaker every agent shares; 5xx failures do", async () => {
    const breaker = new CircuitBreaker('mem-4xx', { failureThreshold: 2, cooldownMs: 60_000 });
    const bad = resilient(provider(() => ({ status: 400 })), { retries: 3, breaker });
    for (let i = 0; i < 5; i++) {
      await expect((async () => {
        for await (const _t of bad.stream({ messages })) void _t;
      })()).rejects.toMatchObject({ codeName: 'LLM_REQUEST_REFUSED', details: { status: 400 } });
    }
    expect(breaker.state).toBe('closed');
    const down = resilient(provider(() => ({ status: 503 })), { retries: 0, breaker });
    for (let i = 0; i < 2; i++) {
      await expect((async () => {
        for await (const _t of down.stream({ messages })) void _t;
      })()).rejects.toMatchObject({ details: { status: 503 } });
    }
    expect(breaker.state).toBe('open');
  });
});

describe('resilient(): token budget', () => {
  it('a spent budget says it does not reset and what to raise, rather than to wait for a window there is not', async () => {
    const p = resilient(scriptedProvider({ minDelayMs: 0, maxDelayMs: 1, respond: () => 'one two three' }), { tokenBudget: 3, breaker: new CircuitBreaker('mem-budget') });
    for await (const _t of p.stream({ messages })) void _t;
    const err = await (async () => {
      for await (const _t of p.stream({ messages })) void _t;
    })().then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ codeName: 'TOKEN_BUDGET_EXCEEDED', recovery: 'ABORT', retryable: false, details: { budget: 3, used: 5 } });
    expect((err as Error).message).toMatch(/is spent \(5 used\); it does not reset: raise tokenBudget \(WORLDLINE_LLM_TOKEN_BUDGET\)/);
  });
});
