/**
 * OpenAI-compatible chat completions, streamed through the official `openai` package. The base URL makes it cover
 * OpenAI, vLLM, llama.cpp's server and Ollama (`http://HOST:PORT/v1`); AzureOpenAI covers Azure deployments.
 * The SDK's own retries are off: retries, backoff and the circuit breaker are resilient.ts's, the same for every provider.
 * The package makes the request (URL, auth, headers, status errors) and owns its abort; the event stream of the
 * answer is read here (sse.ts) rather than through the package's Stream, whose three nested async generators and
 * copies of every chunk cost an agent process about a third of its CPU per token and 40% of its allocation.
 */
import OpenAI, { AzureOpenAI } from 'openai';
import { defaultHttpFetch } from './http-fetch.js';
import { ProviderStreamError, StreamProtocolError } from './http-errors.js';
import { SseDecoder, chunksOf, type SseEvent } from './sse.js';
import { requireEventStream, streamBody } from './stream-body.js';
import { ProviderTimeoutError } from './stall.js';
import { abortReason, closeQuietly, estimateTokens, requestSignal, type LlmProvider, type StreamRequest } from './types.js';

export interface OpenAIOptions {
  readonly model: string;
  /** e.g. http://127.0.0.1:11434/v1 (Ollama); default https://api.openai.com/v1. */
  readonly baseURL?: string;
  /** Local servers accept any key; the default is "none". */
  readonly apiKey?: string;
  /** Azure OpenAI: the api-version to use; the baseURL is then the resource endpoint and `model` the deployment. */
  readonly azureApiVersion?: string;
  readonly maxTokens?: number;
  readonly temperature?: number;
  /** The longest wait for the response to start, and then between two chunks of its stream (default 60000). */
  readonly timeoutMs?: number;
  /** Ask for usage in the last chunk (stream_options.include_usage; default true). Some servers refuse it. */
  readonly includeUsage?: boolean;
  /**
   * The fetch the `openai` package uses. Default in Node: http-fetch.ts (node:http, whose abort only destroys the
   * socket); pass globalThis.fetch for Node's own (undici). Elsewhere the package's default.
   */
  readonly fetch?: typeof fetch;
}

export function openAIProvider(opts: OpenAIOptions): LlmProvider {
  const fetchImpl = opts.fetch ?? defaultHttpFetch();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const common = { apiKey: opts.apiKey ?? 'none', maxRetries: 0, timeout: timeoutMs, ...(fetchImpl ? { fetch: fetchImpl } : {}) };
  const client = opts.azureApiVersion
    ? new AzureOpenAI({ ...common, apiVersion: opts.azureApiVersion, deployment: opts.model, ...(opts.baseURL ? { endpoint: opts.baseURL } : {}) })
    : new OpenAI({ ...common, ...(opts.baseURL ? { baseURL: opts.baseURL } : {}) });
  const name = `${opts.azureApiVersion ? 'azure' : 'openai'}:${opts.baseURL ?? 'https://api.openai.com/v1'}`;
  const includeUsage = opts.includeUsage ?? true;
  return {
    name,
    model: opts.model,
    async *stream(req: StreamRequest): AsyncIterable<string> {
      const maxTokens = req.maxTokens ?? opts.maxTokens;
      const temperature = req.temperature ?? opts.temperature;
      const request = requestSignal(req.signal);
      let answer: { data: { controller: AbortController }; response: Response };
      try {
        answer = await client.chat.completions.create(
          {
            model: opts.model,
            messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
            stream: true,
            ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
            ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
            ...(temperature !== undefined ? { temperature } : {}),
          },
          request.signal ? { signal: request.signal } : {},
        ).withResponse();
      } catch (err) {
        request.release();
        // The package's timeout bounds the wait for the response's start (it stops at the headers; StallTimer goes on).
        throw abortReason(req.signal, err instanceof OpenAI.APIConnectionTimeoutError ? new ProviderTimeoutError(timeoutMs, 'response', { cause: err }) : err);
      }
      // The package's Stream is left unread (it is lazy); the body is read here (stream-body.ts).
      const { response, controller, stall, closed } = streamBody(answer, request, timeoutMs);
      const decoder = new SseDecoder();
      let outputTokens = 0;
      // The last usage the server sent: some send running totals in several chunks, and the request is counted once.
      let usage: { inputTokens: number; outputTokens: number } | undefined;
      let done = false;
      try {
        await requireEventStream(response);
        for await (const bytes of chunksOf(response.body)) {
          stall.touch();
          for (const ev of decoder.push(bytes)) {
            // As the package does: nothing after [DONE] is read.
            if (done) continue;
            const chunk = chunkOf(ev);
            if (chunk === undefined) continue;
            if (chunk === DONE) {
              done = true;
              continue;
            }
            if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
            // A chunk without choices (some servers send usage or keep-alives so) carries no text.
            const text = chunk.choices?.[0]?.delta?.content;
            if (text) {
              outputTokens++;
              stall.hold();
              yield text;
              stall.touch();
            }
          }
        }
        // An aborted request's body ends quietly with some fetches: make the abort visible to the caller.
        if (req.signal?.aborted) throw req.signal.reason;
        if (stall.error) throw stall.error;
      } catch (err) {
        throw abortReason(req.signal, stall.error ?? err);
      } finally {
        stall.stop();
        // Also when the consumer stops early (break, or its own abort): close the HTTP stream, do not just stop reading.
        if (!closed()) closeQuietly(controller);
        request.release();
        req.onUsage?.(usage ? { ...usage, estimated: false } : { inputTokens: estimateTokens(req.messages.map((m) => m.content).join('\n')), outputTokens, estimated: true });
      }
    },
  };
}

const DONE = Symbol('[DONE]');

/**
 * A chat completion chunk from one event, DONE for the stream's end marker, undefined for events to skip. An error
 * event throws ProviderStreamError (the provider's type and message), data that is not JSON StreamProtocolError.
 */
function chunkOf(ev: SseEvent): OpenAI.Chat.Completions.ChatCompletionChunk | typeof DONE | undefined {
  if (ev.data.startsWith('[DONE]')) return DONE;
  let data: Record<string, unknown> & { error?: unknown; message?: string };
  try {
    data = JSON.parse(ev.data) as typeof data;
  } catch (err) {
    throw new StreamProtocolError(`an event's data is not JSON: ${JSON.stringify(ev.data.slice(0, 200))}`, { cause: err });
  }
  // Read as a chunk, null or a number would fail as a TypeError, taken for a connection failure and retried.
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new StreamProtocolError(`an event's data is not a JSON object: ${JSON.stringify(ev.data.slice(0, 200))}`);
  if (ev.event === null || !ev.event.startsWith('thread.')) {
    // Beside OpenAI's {"error": {...}}: vLLM's {"object": "error", "message", "type", "code"}, and an `event: error`;
    // read as a chunk either is skipped (no choices), and the answer ends short or empty as if it were whole.
    if (data.error || data['object'] === 'error' || ev.event === 'error') throw ProviderStreamError.from(data);
    return data as unknown as OpenAI.Chat.Completions.ChatCompletionChunk;
  }
  if (ev.event === 'error') throw ProviderStreamError.from(data);
  return undefined;
}
