/**
 * Anthropic's Messages API, streamed through `@anthropic-ai/sdk`: text comes in content_block_delta / text_delta
 * events; input tokens in message_start, output tokens in message_delta. System messages go in `system`.
 */
import Anthropic from '@anthropic-ai/sdk';
import { defaultHttpFetch } from './http-fetch.js';
import { abortReason, closeQuietly, estimateTokens, quietController, requestSignal, type LlmProvider, type StreamRequest } from './types.js';

export interface AnthropicOptions {
  readonly model: string;
  readonly apiKey?: string;
  /** Default https://api.anthropic.com. */
  readonly baseURL?: string;
  /** Required by the API (default 1024). */
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly timeoutMs?: number;
  /** The fetch the SDK uses: as OpenAIOptions.fetch (default in Node: http-fetch.ts). */
  readonly fetch?: typeof fetch;
}

export function anthropicProvider(opts: AnthropicOptions): LlmProvider {
  const fetchImpl = opts.fetch ?? defaultHttpFetch();
  const client = new Anthropic({
    apiKey: opts.apiKey ?? 'none',
    maxRetries: 0,
    timeout: opts.timeoutMs ?? 60_000,
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
      let stream: Awaited<ReturnType<typeof client.messages.create>> & AsyncIterable<Anthropic.Messages.RawMessageStreamEvent>;
      const request = requestSignal(req.signal);
      try {
        stream = await client.messages.create(
          {
            model: opts.model,
            max_tokens: req.maxTokens ?? opts.maxTokens ?? 1024,
            messages: turns,
            stream: true,
            ...(system ? { system } : {}),
            ...(temperature !== undefined ? { temperature } : {}),
          },
          request.signal ? { signal: request.signal } : {},
        );
      } catch (err) {
        request.release();
        throw abortReason(req.signal, err);
      }
      quietController(stream.controller);
      request.attach(() => stream.controller.abort());
      let inputTokens: number | undefined;
      let outputTokens: number | undefined;
      let streamed = 0;
      try {
        for await (const ev of stream) {
          if (ev.type === 'message_start') inputTokens = ev.message.usage.input_tokens;
          else if (ev.type === 'message_delta') outputTokens = ev.usage.output_tokens;
          else if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta' && ev.delta.text) {
            streamed++;
            yield ev.delta.text;
          }
        }
        // The SDK's stream ends quietly when its request is aborted: make the abort visible to the caller.
        if (req.signal?.aborted) throw req.signal.reason;
      } catch (err) {
        throw abortReason(req.signal, err);
      } finally {
        closeQuietly(stream.controller);
        request.release();
        const estimated = inputTokens === undefined || outputTokens === undefined;
        req.onUsage?.({ inputTokens: inputTokens ?? estimateTokens(req.messages.map((m) => m.content).join('\n')), outputTokens: outputTokens ?? streamed, estimated });
      }
    },
  };
}
