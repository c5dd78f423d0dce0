/**
 * Turns what the provider SDKs throw into Worldline errors: LLM_SERVICE_ERROR with the HTTP status, whether a retry
 * may help (429, 408, 409, 5xx, connection failures, timeouts) and how long the server asked us to wait; and
 * LLM_REQUEST_REFUSED (not retryable, err.retryable false) for a request the provider refused on its own merits (any
 * other 4xx, an invalid-request error in its stream), which would be refused again.
 */
import { WorldlineError } from '../../server/errors.js';
import { ProviderTimeoutError } from './stall.js';

export interface ProviderFailure {
  readonly error: WorldlineError;
  readonly retryable: boolean;
  /** From retry-after-ms / retry-after, when the server sent one. */
  readonly retryAfterMs: number | undefined;
}

/**
 * An error the provider reported inside a 200 stream: an OpenAI `data: {"error": {...}}` chunk, an Anthropic
 * `event: error` (overloaded_error, ...). `type` is the provider's error type (OpenAI's code when it has no type).
 */
export class ProviderStreamError extends Error {
  constructor(readonly type: string | undefined, readonly providerMessage: string, readonly body: unknown) {
    super(`${type ?? 'error'}: ${providerMessage}`);
    this.name = 'ProviderStreamError';
  }

  /** From an error body as both providers send it: {error: {type, message, code?}} (Anthropic adds type: 'error'), or text. */
  static from(body: unknown): ProviderStreamError {
    const inner = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
    const e = (inner && typeof inner === 'object' ? inner : body && typeof body === 'object' ? body : {}) as { type?: unknown; code?: unknown; message?: unknown };
    const type = typeof e.type === 'string' && e.type !== '' ? e.type : typeof e.code === 'string' ? e.code : undefined;
    const message = typeof e.message === 'string' ? e.message : typeof body === 'string' ? body : JSON.stringify(body);
    return new ProviderStreamError(type, message, body);
  }
}

/** Stream data that breaks the provider's format (an event whose data is not JSON): a protocol error, not retried. */
export class StreamProtocolError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamProtocolError';
  }
}

/** The error types of in-stream errors that mean overload, rate limiting or the provider's own trouble: worth a retry. */
/** Stream error types that refuse the request itself (a bad key, model or request): sent again, refused again. */
const REFUSED_STREAM_ERRORS = new Set(['invalid_request_error', 'authentication_error', 'permission_error', 'not_found_error', 'request_too_large', 'BadRequestError', 'AuthenticationError', 'PermissionDeniedError', 'NotFoundError']);

const TRANSIENT_STREAM_ERRORS = new Set(['overloaded_error', 'rate_limit_error', 'rate_limit_exceeded', 'api_error', 'server_error', 'timeout_error', 'service_unavailable']);

interface HttpishError {
  readonly status?: unknown;
  readonly headers?: unknown;
  readonly message?: unknown;
  readonly name?: unknown;
}

function header(headers: unknown, name: string): string | undefined {
  if (headers && typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  if (headers && typeof headers === 'object') {
    const v = (headers as Record<string, unknown>)[name];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

/** Milliseconds from retry-after-ms or retry-after (seconds or an HTTP date). */
export function retryAfterMs(headers: unknown, now = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = header(headers, 'retry-after');
  if (ra === undefined) return undefined;
  if (Number.isFinite(Number(ra))) return Math.max(0, Number(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** Classifies a provider SDK error. */
export function classify(provider: string, err: unknown): ProviderFailure {
  if (err instanceof WorldlineError) return { error: err, retryable: err.retryable && err.codeName !== 'CIRCUIT_BREAKER_OPEN', retryAfterMs: undefined };
  // An error event in a 200 stream: the provider answered, so not a connection failure; a retry (and a failure for the
  // breaker) only when its type says overload or trouble on the provider's side.
  if (err instanceof ProviderStreamError) {
    const code = err.body && typeof err.body === 'object' ? ((err.body as { error?: { code?: unknown } }).error?.code ?? undefined) : undefined;
    const providerError = { type: err.type ?? null, message: err.providerMessage, ...(typeof code === 'string' ? { code } : {}) };
    const retryable = (err.type !== undefined && TRANSIENT_STREAM_ERRORS.has(err.type)) || (typeof code === 'string' && TRANSIENT_STREAM_ERRORS.has(code));
    const refused = !retryable && ((err.type !== undefined && REFUSED_STREAM_ERRORS.has(err.type)) || (typeof code === 'string' && REFUSED_STREAM_ERRORS.has(code)));
    return { error: new WorldlineError(refused ? 'LLM_REQUEST_REFUSED' : 'LLM_SERVICE_ERROR', `LLM provider ${provider} reported an error in its stream: ${err.message}`, { provider, provider_error: providerError }, { cause: err }), retryable, retryAfterMs: undefined };
  }
  if (err instanceof StreamProtocolError) {
    return { error: new WorldlineError('LLM_SERVICE_ERROR', `LLM provider ${provider} sent a stream that breaks its format: ${err.message}`, { provider, protocol: true }, { cause: err }), retryable: false, retryAfterMs: undefined };
  }
  // A provider gone silent (no response, or a stream that stopped sending): retried and counted against the breaker
  // as a connection failure is, but named for what it is.
  if (err instanceof ProviderTimeoutError) {
    const what = err.phase === 'response' ? `sent no response within ${err.timeoutMs} ms` : `stopped sending: its stream was silent for ${err.timeoutMs} ms`;
    return { error: new WorldlineError('LLM_SERVICE_ERROR', `LLM provider ${provider} ${what} (the timeout, timeoutMs / WORLDLINE_LLM_TIMEOUT_MS)`, { provider, timeout_ms: err.timeoutMs, timeout: err.phase }, { cause: err }), retryable: true, retryAfterMs: undefined };
  }
  const e = (err ?? {}) as HttpishError;
  const status = typeof e.status === 'number' ? e.status : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const retryable = status === undefined || status === 408 || status === 409 || status === 429 || status >= 500;
  const wait = retryAfterMs(e.headers);
  const details: Record<string, unknown> = { provider, ...(status !== undefined ? { status } : { connection: true }), ...(wait !== undefined ? { retry_after_ms: Math.ceil(wait) } : {}) };
  const what = status === undefined ? 'could not be reached' : `answered HTTP ${status}`;
  // The refusals a configuration causes, and will cause again on every request: say which setting to look at.
  const hint =
    status === 401 || status === 403
      ? '; check the API key (apiKey, WORLDLINE_LLM_API_KEY)'
      : status === 404
        ? "; check the base URL (baseURL, WORLDLINE_LLM_BASE_URL; an OpenAI-compatible server's usually ends in /v1) and the model name (model, WORLDLINE_LLM_MODEL)"
        : '';
  return {
    // A 4xx that is not about timing (408, 409, 429) refuses this request for what it is: retrying it cannot help.
    error: new WorldlineError(status !== undefined && status >= 400 && status < 500 && !retryable ? 'LLM_REQUEST_REFUSED' : 'LLM_SERVICE_ERROR', `LLM provider ${provider} ${what}: ${message}${hint}`, details, { cause: err }),
    retryable,
    retryAfterMs: wait,
  };
}
