/**
 * Anthropic's Messages API, streamed through `@anthropic-ai/sdk`: text comes in content_block_delta / text_delta
 * events; input tokens in message_start, output tokens in message_delta. System messages go in `system`.
 * As in openai.ts, the package makes the request and the event stream is read here (sse.ts): the adapter sees every
 * chunk of it, so the silence between them is bounded (stall.ts) and an abort closes the request straight through
 * http-fetch.
 */
import Anthropic from '@anthropic-ai/sdk';
import { defaultHttpFetch } from './http-fetch.js';
import { ProviderStreamError, StreamProtocolError } from './http-errors.js';
import { SseDecoder, chunksOf, type SseEvent } from './sse.js';
import { requireEventStream, streamBody } from './stream-body.js';
import { ProviderTimeoutError } from './stall.js';
import { abortReason, closeQuietly, estimateTokens, requestSignal, type LlmProvider, type StreamRequest } from './types.js';

export interface AnthropicOptions {
  readonly model: string;
  readonly apiKey?: string;
  /** Default https://api.anthropic.com. */
  readonly baseURL?: string;
  /** Required by the API (default 1024). */
  readonly maxTokens?: number;
  readonly temperature?: number;
  /** The longest wait for the response to start, and then between two chunks of its stream (default 60000). */
  readonly timeoutMs?: number;
  /** The fetch the SDK uses: as OpenAIOptions.fetch (default in Node: http-fetch.ts). */
  readonly fetch?: typeof fetch;
}

export function anthropicProvider(opts: AnthropicOptions): LlmProvider {
  const fetchImpl = opts.fetch ?? defaultHttpFetch();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const client = new Anthropic({
    apiKey: opts.apiKey ?? 'none',
    maxRetries: 0,
    timeout: timeoutMs,
    ...(opts.baseURL ? { baseURL: opts.baseURL } : {}),
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
  return {
    name: `anthropic:${opts.baseURL ?? 'https://api.anthropic.com'}`,
    model: opts.model,
    async *stream(req: StreamRequest): AsyncIterable<string> {
      const system = req.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
      const turns = req.messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role as 'user' | 'assistant', content: m.content }));
      const temperature = req.temperature ?? opts.temperature;
      const request = requestSignal(req.signal);
      let answer: { data: { controller: AbortController }; response: Response };
      try {
        answer = await client.messages.create(
          {
            model: opts.model,
            max_tokens: req.maxTokens ?? opts.maxTokens ?? 1024,
            messages: turns,
            stream: true,
            ...(system ? { system } : {}),
            ...(temperature !== undefined ? { temperature } : {}),
          },
          request.signal ? { signal: request.signal } : {},
        ).withResponse();
      } catch (err) {
        request.release();
        // The package's timeout bounds the wait for the response's start (it stops at the headers; StallTimer goes on).
        throw abortReason(req.signal, err instanceof Anthropic.APIConnectionTimeoutError ? new ProviderTimeoutError(timeoutMs, 'response', { cause: err }) : err);
      }
      // The package's Stream is left unread (it is lazy); the body is read here (stream-body.ts).
      const { response, controller, stall, closed } = streamBody(answer, request, timeoutMs);
      const decoder = new SseDecoder();
      let inputTokens: number | undefined;
      let outputTokens: number | undefined;
      let streamed = 0;
      try {
        await requireEventStream(response);
        for await (const bytes of chunksOf(response.body)) {
          stall.touch();
          for (const sse of decoder.push(bytes)) {
            const ev = eventOf(sse);
            if (ev === undefined) continue;
            // Some Anthropic-compatible servers leave usage out: then it is estimated, not a TypeError taken for a lost connection.
            if (ev.type === 'message_start') inputTokens = ev.message?.usage?.input_tokens ?? inputTokens;
            else if (ev.type === 'message_delta') outputTokens = ev.usage?.output_tokens ?? outputTokens;
            else if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta' && ev.delta.text) {
              streamed++;
              stall.hold();
              yield ev.delta.text;
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
        const estimated = inputTokens === undefined || outputTokens === undefined;
        req.onUsage?.({ inputTokens: inputTokens ?? estimateTokens(req.messages.map((m) => m.content).join('\n')), outputTokens: outputTokens ?? streamed, estimated });
      }
    },
  };
}

/**
 * A stream event, undefined for events to skip (ping, unnamed). An `event: error` (overloaded_error, ...) throws
 * ProviderStreamError with the provider's type and message, data that is not JSON StreamProtocolError.
 */
function eventOf(ev: SseEvent): Anthropic.Messages.RawMessageStreamEvent | undefined {
  if (ev.event === null || ev.event === 'ping') return undefined;
  if (ev.event === 'error') {
    let body: unknown = ev.data;
    try {
      body = JSON.parse(ev.data);
    } catch {
      // the error's text as it came
    }
    throw ProviderStreamError.from(body);
  }
  if (!ev.data) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(ev.data);
  } catch (err) {
    throw new StreamProtocolError(`the data of a ${ev.event} event is not JSON: ${JSON.stringify(ev.data.slice(0, 200))}`, { cause: err });
  }
  // Read as an event, null or a number would fail as a TypeError, taken for a connection failure and retried.
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new StreamProtocolError(`the data of a ${ev.event} event is not a JSON object: ${JSON.stringify(ev.data.slice(0, 200))}`);
  return data as Anthropic.Messages.RawMessageStreamEvent;
}
