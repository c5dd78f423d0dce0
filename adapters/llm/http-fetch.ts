/**
 * A fetch for the provider SDKs in Node, over node:http and node:https with keep-alive agents, whose abort destroys
 * the request's socket and nothing more. Node's built-in fetch (undici) tears an aborted streaming request down
 * through WHATWG streams, builds several errors on the way, and then opens a new connection for the aborted request
 * (nodejs/undici#5845), which it never uses: about 190 µs of CPU per aborted stream against about 60 µs here
 * (bench/cancel/abort.ts), and an agent that is cancelled a hundred times at once pays that a hundred times.
 *
 * It does what the openai and @anthropic-ai/sdk packages ask of a fetch: a URL, a method, headers, a string or byte
 * body, a signal. The Response is a real one (status, headers, text(), json(), arrayBuffer()) whose `body` is an
 * async iterable of Uint8Array chunks rather than a ReadableStream: both SDKs read bodies through
 * `Symbol.asyncIterator` (as they do node-fetch's). Bodies it does not handle (FormData, Blob, streams) and Request
 * objects go to globalThis.fetch. It does not follow redirects (an API endpoint does not redirect; a 3xx is returned
 * as it came) and decompresses gzip, deflate and br. Node only: the modules are looked up at run time with
 * process.getBuiltinModule, so a browser bundle that imports this file carries no node: import (and gets undefined).
 */
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import type * as Zlib from 'node:zlib';
import { withoutStacks } from './types.js';

/** The pieces of a Node readable this module listens to (an IncomingMessage, or a zlib stream after it). */
type Source = Http.IncomingMessage | Zlib.Gunzip | Zlib.Inflate | Zlib.BrotliDecompress;

export interface HttpFetchOptions {
  /** Keep connections open between requests (default true). */
  readonly keepAlive?: boolean;
  /** Sockets per origin (default Infinity, as Node's fetch). */
  readonly maxSockets?: number;
}

const builtin = <T>(id: string): T | undefined => (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.(id) as T | undefined;

/** Queued body bytes past which the socket is paused until the reader catches up. */
const HIGH_WATER = 256 * 1024;

/** An AbortError as fetch rejects with when the signal has no reason. */
function abortError(): Error {
  const e = new Error('This operation was aborted');
  e.name = 'AbortError';
  return e;
}

/**
 * A response body as an async iterable of chunks, fed by the socket's 'data' events (one promise per chunk read,
 * none per chunk queued). return() before the end destroys the request: the server sees the connection close.
 */
class Body implements AsyncIterableIterator<Uint8Array> {
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private failure: unknown;
  private waiter: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: unknown) => void } | undefined;
  used = false;

  constructor(private readonly source: Source, private readonly destroy: () => void) {
    source.on('data', (chunk: Uint8Array) => {
      const w = this.waiter;
      if (w) {
        this.waiter = undefined;
        w.resolve({ value: chunk, done: false });
        return;
      }
      this.queue.push(chunk);
      this.queued += chunk.byteLength;
      if (this.queued > HIGH_WATER) source.pause();
    });
    source.on('end', () => this.finish(undefined));
    // After an abort (or return()) the body has ended already: these then come from the teardown, and building an
    // error with its stack trace for nobody was a third of what a closed connection's callbacks cost.
    source.on('error', (err: unknown) => {
      if (!this.ended) this.finish(new TypeError('terminated', { cause: err }));
    });
    source.on('close', () => {
      if (!this.ended) this.finish(new TypeError('terminated', { cause: new Error('the connection closed before the body ended') }));
    });
  }

  /**
   * Ends the body: `failure` undefined for a clean end, else what the reader gets (first call wins). With `later`, a
   * reader waiting for a chunk learns of it from a macrotask (setImmediate) rather than at once; see onAbort.
   */
  finish(failure: unknown, later = false): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = failure;
    const w = this.waiter;
    this.waiter = undefined;
    if (!w) return;
    const settle = (): void => (failure === undefined ? w.resolve({ value: undefined, done: true }) : w.reject(failure));
    if (later) setImmediate(settle);
    else settle();
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    this.used = true;
    const chunk = this.queue.shift();
    if (chunk !== undefined) {
      this.queued -= chunk.byteLength;
      if (this.source.isPaused() && this.queued <= HIGH_WATER / 2) this.source.resume();
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.ended) return this.failure === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.used = true;
    if (!this.ended) {
      this.finish(undefined);
      this.destroy();
    }
    this.queue.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this;
  }

  /** The whole body, for text(), json() and arrayBuffer(). */
  async bytes(): Promise<Uint8Array> {
    if (this.used) throw new TypeError('Body is unusable: Body has already been read');
    const parts: Uint8Array[] = [];
    let n = 0;
    for await (const c of this) {
      parts.push(c);
      n += c.byteLength;
    }
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
}

type Payload = string | Uint8Array | undefined;

/** The request body as bytes or text, or null when this fetch does not handle its type (FormData, Blob, streams). */
function payloadOf(body: unknown): Payload | null {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof URLSearchParams) return body.toString();
  return null;
}

/** The Responses this fetch makes carry their request's close(reason) under this key (closeResponse). */
const CLOSE = Symbol('http-fetch close');

/**
 * Ends the HTTP request behind `response` as aborting its signal would (the socket destroyed now, a reader waiting
 * for a chunk rejected with `reason` on the next turn), without an abort event: Node's AbortSignal dispatch costs
 * microseconds, and a provider adapter that relays its caller's abort to the provider SDK's controller, whose signal
 * this fetch listens to, would pay two per cancel. False when `response` is not from createHttpFetch's fetch (the
 * caller then aborts through the signal).
 */
export function closeResponse(response: Response, reason: unknown): boolean {
  const close = (response as { [CLOSE]?: (reason: unknown) => void })[CLOSE];
  if (!close) return false;
  close(reason);
  return true;
}

/** Statuses whose Response must have a null body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A fetch over node:http / node:https, or undefined outside Node (no process.getBuiltinModule). Each call to this
 * function makes its own keep-alive agents; share one fetch between the providers that talk to the same servers.
 */
export function createHttpFetch(opts: HttpFetchOptions = {}): typeof fetch | undefined {
  const http = builtin<typeof Http>('node:http');
  const https = builtin<typeof Https>('node:https');
  const zlib = builtin<typeof Zlib>('node:zlib');
  if (!http || !https || !zlib) return undefined;
  const agentOpts = { keepAlive: opts.keepAlive ?? true, maxSockets: opts.maxSockets ?? Infinity };
  const agents = { 'http:': new http.Agent(agentOpts), 'https:': new https.Agent(agentOpts) } as const;
  const fallback = globalThis.fetch;

  const httpFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const payload = payloadOf(init.body);
    const url = typeof input === 'string' ? new URL(input) : input instanceof URL ? input : undefined;
    if (payload === null || url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) return fallback(input, init);
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(signal.reason ?? abortError());
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    const method = (init.method ?? 'GET').toUpperCase();
    return new Promise<Response>((resolve, reject) => {
      let body: Body | undefined;
      let res: Http.IncomingMessage | undefined;
      let shut = false;
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, { method, headers, agent: agents[url.protocol as 'http:' | 'https:'] });
      const release = (): void => signal?.removeEventListener('abort', onAbort);
      // Abort: destroy the socket now (the server sees the connection close) and hand the reader the signal's reason
      // once the I/O already pending has been handled. The reader's teardown (the provider SDK's stream layers, the
      // caller's generator) waits for nothing, while other pending events may: a process running many agents reads
      // a burst of Cancelled frames, each closing a stream, and each frame read first is a generation stopped sooner.
      // The response is destroyed too, stacks off, as the socket's close comes in (libuv's closing phase, after the
      // frames pending now) and just before node:http's own close handler, which would destroy an unfinished response
      // with a ConnResetException('aborted'): destroying a stream with an error reads its err.stack, and that
      // formatted a stack trace for nobody at every abort. Not at once: the response's close events would then run
      // before the next pending socket is read.
      const destroyResponse = (): void => withoutStacks(() => res?.destroy());
      const teardown = (): void => {
        if (shut) return;
        shut = true;
        // Only while the response is unfinished: a finished one's socket may be serving another request already.
        if (res && !res.complete && req.socket) req.socket.prependOnceListener('close', destroyResponse);
        withoutStacks(() => req.destroy());
      };
      function close(reason: unknown): void {
        if (shut) return;
        teardown();
        if (body) body.finish(reason, true);
        else reject(reason);
      }
      function onAbort(): void {
        close(signal?.reason ?? abortError());
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => {
        release();
        if (body) body.finish(new TypeError('terminated', { cause: err }));
        else reject(new TypeError('fetch failed', { cause: err }));
      });
      req.on('response', (incoming) => {
        res = incoming;
        const status = incoming.statusCode ?? 0;
        const h = new Headers();
        const raw = incoming.rawHeaders;
        for (let i = 0; i + 1 < raw.length; i += 2) h.append(raw[i]!, raw[i + 1]!);
        const encoding = (incoming.headers['content-encoding'] ?? '').trim().toLowerCase();
        let source: Source = incoming;
        if (encoding === 'gzip' || encoding === 'x-gzip') source = incoming.pipe(zlib.createGunzip());
        else if (encoding === 'deflate') source = incoming.pipe(zlib.createInflate());
        else if (encoding === 'br') source = incoming.pipe(zlib.createBrotliDecompress());
        if (source !== incoming) {
          // A decompressor does not see the socket close: pass it on.
          incoming.on('error', (err) => source.destroy(err));
          incoming.on('aborted', () => source.destroy(new Error('the connection closed before the body ended')));
        }
        const b = new Body(source, teardown);
        body = b;
        incoming.on('end', release);
        incoming.on('close', release);
        const response = new Response(null, { status: status < 200 || status > 599 ? 502 : status, statusText: incoming.statusMessage ?? '', headers: h });
        const empty = NULL_BODY.has(status) || method === 'HEAD';
        const text = async (): Promise<string> => new TextDecoder().decode(await b.bytes());
        Object.defineProperties(response, {
          url: { value: url.href },
          body: { value: empty ? null : b },
          bodyUsed: { get: () => b.used },
          text: { value: text },
          json: { value: async (): Promise<unknown> => JSON.parse(await text()) as unknown },
          arrayBuffer: { value: async (): Promise<ArrayBuffer> => (await b.bytes()).slice().buffer },
          [CLOSE]: { value: close },
        });
        resolve(response);
      });
      req.end(payload);
    });
  };
  return httpFetch as typeof fetch;
}

let shared: typeof fetch | undefined | null = null;

/**
 * The providers' default fetch in Node: one createHttpFetch() for the process (so its keep-alive connections are
 * shared), made at first use; undefined outside Node, where the provider SDKs use their own default.
 */
export function defaultHttpFetch(): typeof fetch | undefined {
  if (shared === null) shared = createHttpFetch();
  return shared;
}
