/** The one streaming interface every model provider implements, and the usage it reports. */

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** Tokens counted by the provider (or estimated when a stream ended before the provider reported them). */
export interface Usage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** True when the numbers are estimates (aborted stream, or a server that does not report usage). */
  readonly estimated: boolean;
}

export interface StreamRequest {
  readonly messages: readonly ChatMessage[];
  /** Aborting ends the stream and the underlying HTTP request (the connection is closed, not merely unread). */
  readonly signal?: AbortSignal;
  readonly maxTokens?: number;
  readonly temperature?: number;
  /** Called once when the provider knows the usage of this request. */
  readonly onUsage?: (usage: Usage) => void;
}

/** A model: `stream()` yields text tokens as they are generated. */
export interface LlmProvider {
  /** Provider and endpoint, e.g. "openai:http://127.0.0.1:11434/v1": the key its circuit breaker is shared by. */
  readonly name: string;
  readonly model: string;
  stream(req: StreamRequest): AsyncIterable<string>;
}

/** Rough token count for text a provider did not count (about four characters per token for English). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The reason to rethrow when `signal` aborted, so callers see the abort reason (a GENERATION_CANCELLED error from act()). */
export function abortReason(signal: AbortSignal | undefined, fallback: unknown): unknown {
  return signal?.aborted ? signal.reason : fallback;
}

/** Runs `fn` with V8 stack traces off (Error.stackTraceLimit 0), restoring the limit after. */
export function withoutStacks(fn: () => void): void {
  const E = Error as { stackTraceLimit?: number | undefined };
  const limit = E.stackTraceLimit;
  E.stackTraceLimit = 0;
  try {
    fn();
  } finally {
    E.stackTraceLimit = limit;
  }
}

/** The signal a provider SDK gets for one request (requestSignal). */
export interface RequestSignal {
  readonly signal: AbortSignal | undefined;
  /**
   * Once the SDK has answered with its stream: the caller's abort then calls `close` with its reason (which closes
   * the stream through the SDK's own controller, made quiet by quietController, or straight through http-fetch's
   * closeResponse) rather than aborting `signal`, whose abort the SDK only passes on to that same controller. An
   * AbortSignal dispatch less per cancel for each hop skipped: Node's EventTarget makes each a few µs, and an agent
   * process may be cancelled a hundred times at once.
   */
  attach(close: (reason: unknown) => void): void;
  /** Detaches from the caller's signal once the request is over. */
  release(): void;
}

/**
 * The signal to hand a provider SDK for a request: aborted (with `outer`'s reason) when `outer` aborts, and the
 * SDK's teardown runs with stack traces off. An aborted fetch creates several internal errors (an AbortError
 * DOMException, undici's socket errors, whose .stack Node's stream teardown reads and formats); none reaches the
 * caller, who gets `outer`'s reason (abortReason), and building their stacks was about a third of the time an
 * abort took (63 → 45 µs per stream, 85 → 50 µs with source-mapped stacks; bench/cancel.ts measures the whole path).
 */
export function requestSignal(outer: AbortSignal | undefined): RequestSignal {
  if (!outer) return { signal: undefined, attach: () => {}, release: () => {} };
  const inner = new AbortController();
  let close: ((reason: unknown) => void) | undefined;
  const onAbort = (): void => {
    if (close) close(outer.reason);
    else withoutStacks(() => inner.abort(outer.reason));
  };
  if (outer.aborted) onAbort();
  else outer.addEventListener('abort', onAbort, { once: true });
  return {
    signal: inner.signal,
    attach: (fn) => {
      close = fn;
    },
    release: () => outer.removeEventListener('abort', onAbort),
  };
}

/** Tells the provider SDKs a stream was aborted: an AbortError (they end quietly on one), made once. */
const ABORTED: Error = (() => {
  const e = new Error('This operation was aborted');
  e.name = 'AbortError';
  return e;
})();

/**
 * Makes a provider SDK's stream controller cheap to abort: the first abort() runs without stack traces and, when
 * given no reason, with a shared AbortError rather than a new DOMException; later ones do nothing. Both SDKs abort
 * their controller once more as their stream iterator ends, even after an abort, and AbortController.abort() builds
 * its default DOMException (with a stack trace) before it looks whether the signal has already aborted.
 */
export function quietController(controller: AbortController): void {
  const abort = controller.abort.bind(controller);
  controller.abort = (reason?: unknown): void => {
    if (!controller.signal.aborted) withoutStacks(() => abort(reason ?? ABORTED));
  };
}

/** Closes a provider SDK's stream (its AbortController), quietly as in requestSignal; nothing when it has closed. */
export function closeQuietly(controller: AbortController): void {
  if (!controller.signal.aborted) withoutStacks(() => controller.abort());
}
