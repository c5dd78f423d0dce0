/** Exponential backoff with jitter for reconnects. */

export interface BackoffOptions {
  /** First delay in ms (default 100). */
  readonly initialDelayMs?: number;
  /** Largest delay in ms (default 5000). */
  readonly maxDelayMs?: number;
  /** Growth per attempt (default 2). */
  readonly factor?: number;
  /** Fraction of the delay drawn at random either side (default 0.2), so clients do not reconnect in lockstep. */
  readonly jitter?: number;
  /** Attempts before giving up (default 50). */
  readonly maxAttempts?: number;
  /**
   * How long a welcomed connection must stay up before the attempt count starts again from 1 (default 5000 ms). A
   * server that welcomes and then drops at once (crash loop, a proxy cutting idle sockets) is reconnected to with
   * growing delays, and counts towards maxAttempts, instead of every 100 ms for ever.
   */
  readonly minUptimeMs?: number;
}

/** The delay before attempt `attempt` (1-based), given a uniform random number in [0, 1). */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: number): number {
  const initial = opts.initialDelayMs ?? 100;
  const max = opts.maxDelayMs ?? 5000;
  const factor = opts.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.2));
  const base = Math.min(max, initial * factor ** Math.max(0, attempt - 1));
  return Math.max(0, Math.round(base * (1 - jitter + 2 * jitter * random)));
}
