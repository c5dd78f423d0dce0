/**
 * A provider's silence, bounded. The openai and Anthropic SDKs stop their timeout once the response's headers
 * arrive, so a server that sends headers (or a token) and then nothing held a stream, and the circuit breaker's
 * half-open trial with it, for ever. The adapters bound the time to the response's start with the SDK's timeout and
 * then the silence between two chunks of the stream with a StallTimer of the same length: a long answer that keeps
 * streaming is never cut, a stalled one is closed as an abort closes it and fails with ProviderTimeoutError.
 */

/** The provider sent nothing for `timeoutMs`: no response (`phase` response) or no stream data (`phase` stream). */
export class ProviderTimeoutError extends Error {
  constructor(readonly timeoutMs: number, readonly phase: 'response' | 'stream', options?: { cause?: unknown }) {
    super(phase === 'response' ? `no response within ${timeoutMs} ms` : `the stream sent nothing for ${timeoutMs} ms`, options);
    this.name = 'ProviderTimeoutError';
  }
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * Calls `onStall` once when `touch()` has not been called for `ms` (counted from construction) while not held;
 * `stop()` disarms it. An adapter holds it while it waits for its reader (at a yield): a slow reader is not a
 * silent provider.
 */
export class StallTimer {
  private timer: Timer | undefined;
  private held = false;
  private stopped = false;
  /** The error it fired with, once it has. */
  error: ProviderTimeoutError | undefined;

  constructor(private readonly ms: number, private readonly onStall: (err: ProviderTimeoutError) => void) {
    this.timer = setTimeout(this.fire, ms);
  }

  /** Data came: the silence starts again. Node's refresh() re-arms the same timer (once per chunk, so no allocation). */
  touch(): void {
    this.held = false;
    const t = this.timer;
    if (t === undefined) {
      if (this.error === undefined && !this.stopped) this.timer = setTimeout(this.fire, this.ms);
      return;
    }
    if (typeof t === 'object' && typeof (t as { refresh?: unknown }).refresh === 'function') t.refresh();
    else {
      clearTimeout(t);
      this.timer = setTimeout(this.fire, this.ms);
    }
  }

  /** The reader has the data: no timeout until the next touch(), which starts the silence again. */
  hold(): void {
    this.held = true;
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.stopped = true;
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    if (this.held) return;
    this.error = new ProviderTimeoutError(this.ms, 'stream');
    this.onStall(this.error);
  };
}
