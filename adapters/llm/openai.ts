/**
 * OpenAI-compatible chat completions, streamed through the official `openai` package. The base URL makes it cover
 * OpenAI, vLLM, llama.cpp's server and Ollama (`http://HOST:PORT/v1`); AzureOpenAI covers Azure deployments.
 * The SDK's own retries are off: retries, backoff and the circuit breaker are resilient.ts's, the same for every provider.
 */
import OpenAI, { AzureOpenAI } from 'openai';
import { defaultHttpFetch } from './http-fetch.js';
import { abortReason, closeQuietly, estimateTokens, quietController, requestSignal, type LlmProvider, type StreamRequest } from './types.js';

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
  const common = { apiKey: opts.apiKey ?? 'none', maxRetries: 0, timeout: opts.timeoutMs ?? 60_000, ...(fetchImpl ? { fetch: fetchImpl } : {}) };
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
      let stream: Awaited<ReturnType<typeof client.chat.completions.create>> & AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>;
      const request = requestSignal(req.signal);
      try {
        stream = await client.chat.completions.create(
          {
            model: opts.model,
            messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
            stream: true,
            ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
            ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
            ...(temperature !== undefined ? { temperature } : {}),
          },
          request.signal ? { signal: request.signal } : {},
        );
      } catch (err) {
        request.release();
        throw abortReason(req.signal, err);
      }
      quietController(stream.controller);
      request.attach(stream.controller);
      let outputTokens = 0;
      let reported = false;
      try {
        for await (const chunk of stream) {
          if (chunk.usage) {
            reported = true;
            req.onUsage?.({ inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens, estimated: false });
          }
          const text = chunk.choices[0]?.delta?.content;
          if (text) {
            outputTokens++;
            yield text;
          }
        }
        // The SDK's stream ends quietly when its request is aborted: make the abort visible to the caller.
        if (req.signal?.aborted) throw req.signal.reason;
      } catch (err) {
        throw abortReason(req.signal, err);
      } finally {
        // Also when the consumer stops early (break, or its own abort): close the HTTP stream, do not just stop reading.
        closeQuietly(stream.controller);
        request.release();
        if (!reported) req.onUsage?.({ inputTokens: estimateTokens(req.messages.map((m) => m.content).join('\n')), outputTokens, estimated: true });
      }
    },
  };
}
