/**
 * What every provider gets the same way: retries with exponential backoff on 429, 5xx and connection failures
 * (only before the first token: a half-streamed answer cannot be retried transparently), a circuit breaker per
 * provider, a token budget, and token and cost accounting.
 */
import { WorldlineError, isWorldlineError } from '../../server/errors.js';
import { classify } from './http-errors.js';
import type { LlmProvider, StreamRequest, Usage } from './types.js';

export interface BreakerOptions {
  /**
   * Consecutive failed attempts that open the breaker (default 5). Each retry is an attempt: with 3 retries, two
   * requests that fail every attempt open it. Only failures worth retrying count (429, 5xx, no connection, timeouts, overload error events).
   */
  readonly failureThreshold?: number;
  /** How long it stays open before one trial request is let through (default 30000 ms). */
  readonly cooldownMs?: number;
}

/** closed: requests flow; open: they fail fast with CIRCUIT_BREAKER_OPEN; half-open: one trial decides. */
export class CircuitBreaker {
  state: 'closed' | 'open' | 'half-open' = 'closed';
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;

  constructor(readonly key: string, private readonly opts: BreakerOptions = {}, private readonly now: () => number = Date.now) {}

  /** Throws CIRCUIT_BREAKER_OPEN while open; otherwise admits the request, and says whether it is the half-open trial. */
  admit(): boolean {
    const cooldown = this.opts.cooldownMs ?? 30_000;
    if (this.state === 'open') {
      const left = this.openedAt + cooldown - this.now();
      if (left > 0) throw new WorldlineError('CIRCUIT_BREAKER_OPEN', `LLM provider ${this.key} failed ${this.failures} times in a row; not calling it for another ${Math.ceil(left)} ms`, { provider: this.key, retry_after_ms: Math.ceil(left) });
      this.state = 'half-open';
    }
    if (this.state === 'half-open') {
      if (this.trialInFlight) throw new WorldlineError('CIRCUIT_BREAKER_OPEN', `LLM provider ${this.key} is on trial after failures; retry shortly`, { provider: this.key, retry_after_ms: 1000 });
      this.trialInFlight = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.failures = 0;
    this.trialInFlight = false;
    this.state = 'closed';
  }

  /** A failed attempt; `trial` false for one admitted before the breaker opened (the trial in flight is still on). */
  failure(trial = true): void {
    if (trial) this.trialInFlight = false;
    this.failures++;
    if (this.state === 'half-open' || this.failures >= (this.opts.failureThreshold ?? 5)) {
      this.state = 'open';
      this.openedAt = this.now();
    }
  }

  /**
   * A request that ended without a verdict on the provider (cancelled by the caller). Only the trial's own end
   * matters: agents are cancelled all the time, and one admitted before the breaker opened must not end the trial in
   * flight, which would let a second one through beside it.
   */
  release(trial = true): void {
    if (!trial) return;
    this.trialInFlight = false;
    if (this.state === 'half-open') this.state = 'open';
  }
}

const breakers = new Map<string, CircuitBreaker>();

/** The shared breaker of a provider (by its name: kind and endpoint). */
export function breakerFor(key: string, opts?: BreakerOptions): CircuitBreaker {
  let b = breakers.get(key);
  if (!b) breakers.set(key, (b = new CircuitBreaker(key, opts)));
  return b;
}

export interface Pricing {
  /** USD per million input tokens. */
  readonly inputPerMTok: number;
  /** USD per million output tokens. */
  readonly outputPerMTok: number;
}

export interface AccountingTotals {
  /** Every call to stream(); each ends as exactly one of completed, failures or aborted. */
  requests: number;
  /** Streams that ended with the provider's whole answer. */
  completed: number;
  /** Requests that reached the provider (attempts, retries included). */
  attempts: number;
  /** Retries sent (attempts after a request's first). */
  retries: number;
  /** Requests that ended with an error (the provider's, the breaker's, the token budget's). */
  failures: number;
  /** Streams the caller ended: its abort (cancelled generations, also during a backoff) or it stopped reading. */
  aborted: number;
  inputTokens: number;
  outputTokens: number;
  /** Requests whose usage was estimated. */
  estimatedUsage: number;
  costUsd: number;
}

const zeroTotals = (): AccountingTotals => ({ requests: 0, completed: 0, attempts: 0, retries: 0, failures: 0, aborted: 0, inputTokens: 0, outputTokens: 0, estimatedUsage: 0, costUsd: 0 });

/** Token and cost totals, per provider model. */
export class Accounting {
  readonly byModel = new Map<string, AccountingTotals>();

  totals(key: string): AccountingTotals {
    let t = this.byModel.get(key);
    if (!t) this.byModel.set(key, (t = zeroTotals()));
    return t;
  }

  addUsage(key: string, u: Usage, pricing: Pricing | undefined): void {
    const t = this.totals(key);
    t.inputTokens += u.inputTokens;
    t.outputTokens += u.outputTokens;
    if (u.estimated) t.estimatedUsage++;
    if (pricing) t.costUsd += (u.inputTokens * pricing.inputPerMTok + u.outputTokens * pricing.outputPerMTok) / 1e6;
  }

  /** Sum over every model. */
  sum(): AccountingTotals {
    const s = zeroTotals();
    for (const t of this.byModel.values()) for (const f of Object.keys(t) as Array<keyof AccountingTotals>) s[f] += t[f];
    return s;
  }
}

export interface ResilienceOptions {
  /** Retries after the first attempt (default 3). */
  readonly retries?: number;
  readonly baseDelayMs?: number;
  /** The longest backoff of our own choosing (default 8000); a wait the server asks for is bounded by maxRetryAfterMs. */
  readonly maxDelayMs?: number;
  /**
   * The longest wait a server may ask for with retry-after-ms / retry-after before a retry (default 60000). A longer
   * one is not waited for: the request fails at once with LLM_SERVICE_ERROR, details.status and details.retry_after_ms.
   */
  readonly maxRetryAfterMs?: number;
  readonly breaker?: CircuitBreaker | BreakerOptions;
  readonly pricing?: Pricing;
  readonly accounting?: Accounting;
  /** Total tokens (input + output) this wrapper may spend; past it, TOKEN_BUDGET_EXCEEDED. */
  readonly tokenBudget?: number;
  readonly random?: () => number;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface ResilientProvider extends LlmProvider {
  readonly accounting: Accounting;
  readonly breaker: CircuitBreaker;
}

/** The request's end when the breaker opened between its retries: CIRCUIT_BREAKER_OPEN, saying what the provider last answered. */
function breakerOpenedAfter(open: WorldlineError, last: WorldlineError, attempts: number, cause: unknown): WorldlineError {
  return new WorldlineError('CIRCUIT_BREAKER_OPEN', `${open.message}; this request gave up after ${attempts} attempts, the last of which failed: ${last.message}`, { ...open.details, attempts, last_error: last.toJSON() }, { cause });
}

/** Wraps a provider with retries, its circuit breaker, a token budget and accounting. */
export function resilient(provider: LlmProvider, opts: ResilienceOptions = {}): ResilientProvider {
  const retries = opts.retries ?? 3;
  const base = opts.baseDelayMs ?? 250;
  const cap = opts.maxDelayMs ?? 8000;
  const maxRetryAfter = opts.maxRetryAfterMs ?? 60_000;
  const random = opts.random ?? Math.random;
  const breaker = opts.breaker instanceof CircuitBreaker ? opts.breaker : breakerFor(provider.name, opts.breaker);
  const accounting = opts.accounting ?? new Accounting();
  const key = `${provider.name}/${provider.model}`;
  return {
    name: provider.name,
    model: provider.model,
    accounting,
    breaker,
    async *stream(req: StreamRequest): AsyncIterable<string> {
      const t = accounting.totals(key);
      t.requests++;
      // How the request ends, counted once in `finally` so that requests = completed + failures + aborted: a reader
      // that stops early (break, return()) leaves through `finally` alone, and counts as aborted.
      let outcome: 'completed' | 'failures' | 'aborted' = 'aborted';
      try {
        if (opts.tokenBudget !== undefined && t.inputTokens + t.outputTokens >= opts.tokenBudget) {
          // Spent for good: the budget counts for this wrapper's life (no window that resets), so waiting does not help.
          const used = t.inputTokens + t.outputTokens;
          throw new WorldlineError('TOKEN_BUDGET_EXCEEDED', `the token budget of ${opts.tokenBudget} for ${key} is spent (${used} used); it does not reset: raise tokenBudget (WORLDLINE_LLM_TOKEN_BUDGET) and start again`, { provider: provider.name, budget: opts.tokenBudget, used });
        }
        let last: { error: WorldlineError; cause: unknown } | undefined;
        for (let attempt = 0; ; attempt++) {
          req.signal?.throwIfAborted();
          let trial: boolean;
          try {
            trial = breaker.admit();
          } catch (err) {
            // Opened by this request's own failures (or others' meanwhile): the request fails, and says with what.
            if (last && isWorldlineError(err, 'CIRCUIT_BREAKER_OPEN')) throw breakerOpenedAfter(err, last.error, attempt, last.cause);
            throw err;
          }
          t.attempts++;
          if (attempt > 0) t.retries++;
          let streamed = 0;
          const onUsage = (u: Usage): void => {
            accounting.addUsage(key, u, opts.pricing);
            req.onUsage?.(u);
          };
          // False while the reader may still stop early (break, return()), which leaves through `finally` alone.
          let judged = false;
          try {
            for await (const token of provider.stream({ ...req, onUsage })) {
              streamed++;
              yield token;
            }
            judged = true;
            breaker.success();
            outcome = 'completed';
            return;
          } catch (err) {
            judged = true;
            if (req.signal?.aborted) {
              if (streamed > 0) breaker.success();
              else breaker.release(trial);
              throw req.signal.reason;
            }
            const f = classify(provider.name, err);
            // The breaker tracks the provider's health: a failure worth retrying (429, 5xx, no connection) counts
            // against it; a request refused on its own merits (400, 401, 404, 422: this caller's problem) shows the
            // provider answering, and must not open the breaker every other agent on this provider shares.
            if (f.retryable) breaker.failure(trial);
            else if (isWorldlineError(err, 'CIRCUIT_BREAKER_OPEN')) breaker.release(trial);
            else breaker.success();
            if (streamed > 0 || !f.retryable || attempt >= retries || isWorldlineError(err, 'CIRCUIT_BREAKER_OPEN')) {
              if (streamed > 0) throw new WorldlineError('LLM_SERVICE_ERROR', `${f.error.message} (after ${streamed} tokens; a partial answer is not retried)`, { ...f.error.details, partial: true, tokens_streamed: streamed }, { cause: err });
              throw attempt > 0 ? new WorldlineError(f.error.codeName, `${f.error.message} (after ${attempt + 1} attempts)`, { ...f.error.details, attempts: attempt + 1 }, { cause: err }) : f.error;
            }
            // The server's own wait is honoured as asked (it knows when it will serve us; a retry before then only
            // fails again and counts against the breaker), up to maxRetryAfterMs; past that the caller decides.
            if (f.retryAfterMs !== undefined && f.retryAfterMs > maxRetryAfter) {
              throw new WorldlineError(f.error.codeName, `${f.error.message} (the server asked to wait ${Math.ceil(f.retryAfterMs)} ms before a retry, longer than maxRetryAfterMs ${maxRetryAfter}: not retried${attempt > 0 ? `; after ${attempt + 1} attempts` : ''})`, { ...f.error.details, attempts: attempt + 1 }, { cause: err });
            }
            last = { error: f.error, cause: err };
            await sleep(f.retryAfterMs ?? Math.min(cap, base * 2 ** attempt) * (0.5 + random()), req.signal);
          } finally {
            // The reader stopped after tokens came: the provider answered, so a half-open trial has passed.
            if (!judged) breaker.success();
          }
        }
      } catch (err) {
        outcome = req.signal?.aborted ? 'aborted' : 'failures';
        throw err;
      } finally {
        t[outcome]++;
      }
    },
  };
}
