/**
 * Local fake LLM servers (node:http on 127.0.0.1, port 0) speaking each provider's real streaming format:
 * OpenAI chat completions SSE (`data: {chat.completion.chunk}` lines, then `data: [DONE]`) and Anthropic's Messages
 * event stream (message_start, content_block_start, ping, content_block_delta/text_delta, content_block_stop,
 * message_delta, message_stop). Each request records when the client closed the connection before the answer
 * ended, which is what proves an abort ends the HTTP request rather than merely stopping the reader.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Dialect = 'openai' | 'anthropic';

/** How to answer one request (by its index, from 0). */
export interface ReplyPlan {
  /** An error status instead of a stream (429, 500, 503, 400, ...). */
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Text chunks to stream. */
  readonly tokens?: readonly string[];
  /** Pause before each chunk (default 5 ms). */
  readonly delayMs?: number;
  /** Destroy the socket after this many chunks (a provider dying mid-answer). */
  readonly dropAfter?: number;
  /**
   * Leave usage out of the stream (servers that do not report it): true sends Anthropic's usage objects empty,
   * 'absent' leaves them out altogether (message_start's message.usage, message_delta's usage), as some
   * Anthropic-compatible servers do. OpenAI: no usage chunk either way.
   */
  readonly noUsage?: boolean | 'absent';
  /**
   * Go silent, keeping the connection open: 'response' without answering, 'headers' once the headers are sent, or a
   * number: after that many text chunks (a stalled provider).
   */
  readonly stallAt?: 'response' | 'headers' | number;
  /** After `after` text chunks (default 0), send the provider's in-stream error event (200 status) and end. */
  readonly errorEvent?: { readonly type: string; readonly message?: string; readonly after?: number };
  /** After this many text chunks, send an event whose data is not JSON, then go on. */
  readonly malformedAfter?: number;
  /** After `after` text chunks, write `frame` (a whole SSE event, as it is), then go on. */
  readonly extraFrame?: { readonly after: number; readonly frame: string };
}

export interface FakeRequest {
  readonly index: number;
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly startedAt: number;
  chunksWritten: number;
  /** performance.now() when the connection closed, if it did. */
  closedAt: number | undefined;
  /** True when the client closed it before the whole answer was written. */
  clientAborted: boolean;
  finished: boolean;
}

export interface FakeLlmServer {
  /** Base URL: for openai clients use `${url}/v1`. */
  readonly url: string;
  readonly requests: FakeRequest[];
  /** Called when a request's connection closes early (the client aborted). */
  onClientAbort: ((r: FakeRequest) => void) | undefined;
  /** Resolves when request `index` has closed (bounded by timeoutMs). */
  waitClosed(index: number, timeoutMs?: number): Promise<FakeRequest>;
  close(): Promise<void>;
}

const sse = (event: string | undefined, data: unknown): string => `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

function openaiFrames(model: string, tokens: readonly string[], noUsage: boolean | 'absent'): { head: string[]; body: string[]; tail: string[] } {
  const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1_700_000_000, model, system_fingerprint: 'fp_fake' };
  const chunk = (delta: Record<string, unknown>, finish: string | null): string => sse(undefined, { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  const tail = [chunk({}, 'stop')];
  if (!noUsage) tail.push(sse(undefined, { ...base, choices: [], usage: { prompt_tokens: 42, completion_tokens: tokens.length, total_tokens: 42 + tokens.length } }));
  tail.push(sse(undefined, '[DONE]'));
  return { head: [chunk({ role: 'assistant', content: '' }, null)], body: tokens.map((t) => chunk({ content: t }, null)), tail };
}

function anthropicFrames(model: string, tokens: readonly string[], noUsage: boolean | 'absent'): { head: string[]; body: string[]; tail: string[] } {
  const head = [
    sse('message_start', { type: 'message_start', message: { id: 'msg_fake', type: 'message', role: 'assistant', content: [], model, stop_reason: null, stop_sequence: null, ...(noUsage === 'absent' ? {} : { usage: { input_tokens: 42, output_tokens: 1 } }) } }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sse('ping', { type: 'ping' }),
  ];
  const body = tokens.map((t) => sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } }));
  const tail = [
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, ...(noUsage === 'absent' ? {} : { usage: noUsage ? {} : { output_tokens: tokens.length } }) }),
    sse('message_stop', { type: 'message_stop' }),
  ];
  return { head, body, tail };
}

export type Frames = { head: string[]; body: string[]; tail: string[] };

/**
 * Frames by plan: a bench answers hundreds of requests per second with the same long token list, and building
 * thousands of SSE strings per request made the fake provider, not the code under test, the bottleneck.
 */
const frameCache = new WeakMap<readonly string[], Map<string, Frames>>();

/** The SSE frames of one answer in `dialect`: head, one per token, tail (cached per token list). */
export function framesFor(dialect: Dialect, model: string, tokens: readonly string[], noUsage: boolean | 'absent'): Frames {
  let byKey = frameCache.get(tokens);
  if (!byKey) frameCache.set(tokens, (byKey = new Map()));
  const key = `${dialect}\n${model}\n${noUsage}`;
  let f = byKey.get(key);
  if (!f) byKey.set(key, (f = (dialect === 'openai' ? openaiFrames : anthropicFrames)(model, tokens, noUsage)));
  return f;
}

function errorBody(dialect: Dialect, status: number): string {
  const msg = `fake ${status}`;
  if (dialect === 'anthropic') return JSON.stringify({ type: 'error', error: { type: status === 429 ? 'rate_limit_error' : status >= 500 ? 'api_error' : 'invalid_request_error', message: msg } });
  return JSON.stringify({ error: { message: msg, type: status === 429 ? 'rate_limit_exceeded' : 'server_error', param: null, code: null } });
}

/** The error event a provider sends inside a 200 stream. */
function errorEvent(dialect: Dialect, e: { readonly type: string; readonly message?: string }): string {
  const message = e.message ?? `fake ${e.type}`;
  if (dialect === 'anthropic') return sse('error', { type: 'error', error: { type: e.type, message } });
  return sse(undefined, { error: { message, type: e.type, param: null, code: null } });
}

/** Starts a fake provider; `plan(index, body)` says how to answer each request. */
export async function startFakeLlmServer(dialect: Dialect, plan: (index: number, body: Record<string, unknown>) => ReplyPlan): Promise<FakeLlmServer> {
  const requests: FakeRequest[] = [];
  const closeWaiters = new Map<number, Array<(r: FakeRequest) => void>>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (raw += d));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw || '{}') as Record<string, unknown>;
      } catch {
        // an unparseable body still gets an answer below
      }
      const r: FakeRequest = { index: requests.length, path: req.url ?? '', body, startedAt: performance.now(), chunksWritten: 0, closedAt: undefined, clientAborted: false, finished: false };
      requests.push(r);
      res.on('close', () => {
        r.closedAt = performance.now();
        r.clientAborted = !r.finished;
        if (r.clientAborted) api.onClientAbort?.(r);
        for (const w of closeWaiters.get(r.index) ?? []) w(r);
        closeWaiters.delete(r.index);
      });
      const p = plan(r.index, body);
      if (p.stallAt === 'response') return;
      if (p.status !== undefined && p.status !== 200) {
        res.writeHead(p.status, { 'content-type': 'application/json', ...p.headers });
        r.finished = true;
        res.end(errorBody(dialect, p.status));
        return;
      }
      const model = typeof body['model'] === 'string' ? body['model'] : 'fake';
      const frames = framesFor(dialect, model, p.tokens ?? [], p.noUsage ?? false);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', ...p.headers });
      res.flushHeaders();
      if (p.stallAt === 'headers') return;
      for (const f of frames.head) res.write(f);
      let i = 0;
      let malformedSent = false;
      let extraSent = false;
      const step = (): void => {
        if (res.destroyed || res.writableEnded) return;
        if (p.dropAfter !== undefined && i >= p.dropAfter) {
          res.socket?.destroy();
          return;
        }
        if (typeof p.stallAt === 'number' && i >= p.stallAt) return;
        if (p.errorEvent && i >= (p.errorEvent.after ?? 0)) {
          r.finished = true;
          res.end(errorEvent(dialect, p.errorEvent));
          return;
        }
        if (p.malformedAfter === i && !malformedSent) {
          malformedSent = true;
          res.write(dialect === 'anthropic' ? 'event: content_block_delta\ndata: {"type":"content_block_de\n\n' : 'data: {"id":"chatcmpl-fake","choi\n\n');
        }
        if (p.extraFrame?.after === i && !extraSent) {
          extraSent = true;
          res.write(p.extraFrame.frame);
        }
        if (i < frames.body.length) {
          res.write(frames.body[i++]!);
          r.chunksWritten = i;
          setTimeout(step, p.delayMs ?? 5);
          return;
        }
        for (const f of frames.tail) res.write(f);
        r.finished = true;
        res.end();
      };
      setTimeout(step, p.delayMs ?? 5);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const api: FakeLlmServer = {
    url: `http://127.0.0.1:${port}`,
    requests,
    onClientAbort: undefined,
    waitClosed(index, timeoutMs = 5000) {
      const r = requests[index];
      if (r?.closedAt !== undefined) return Promise.resolve(r);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`request ${index} was not closed within ${timeoutMs} ms`)), timeoutMs);
        const list = closeWaiters.get(index) ?? [];
        list.push((x) => {
          clearTimeout(t);
          resolve(x);
        });
        closeWaiters.set(index, list);
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}
