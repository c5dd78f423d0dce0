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
