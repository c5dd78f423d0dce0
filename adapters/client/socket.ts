/**
 * The WebSocket the SDK needs, described structurally so the same code runs on the browser's WebSocket and on the
 * `ws` package in Node (which implements the same onopen/onmessage/onclose properties). No Node-only API here.
 */
import { WorldlineError } from '../../server/errors.js';

/** What a message event carries: a string for text frames, an ArrayBuffer (or a view of one) for binary frames. */
export interface SocketMessageEvent {
  readonly data: unknown;
}

export interface SocketCloseEvent {
  readonly code: number;
  readonly reason: string;
}

/**
 * The subset of the WHATWG WebSocket the SDK uses. The handler parameters are typed `never` so that any
 * implementation's richer event types fit (the browser's, `ws`'s); the SDK reads them as the events above.
 */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  binaryType: string;
  onopen: ((ev: never) => void) | null;
  onmessage: ((ev: never) => void) | null;
  onclose: ((ev: never) => void) | null;
  onerror: ((ev: never) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** readyState of an open socket (the same constant in every implementation). */
export const OPEN = 1;

/** The constructor given, else globalThis.WebSocket (browsers, Deno, Node 22+), else a typed error saying what to pass. */
export function resolveWebSocket(given: WebSocketConstructor | undefined): WebSocketConstructor {
  if (given) return given;
  const g = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof g === 'function') return g;
  throw new WorldlineError('ADAPTER_UNAVAILABLE', 'no WebSocket implementation: pass one in connect(url, { WebSocket }) (in Node 20: `import WebSocket from "ws"`)');
}

/** A frame as the codecs take it: text stays a string, binary becomes a Uint8Array over the same bytes. */
export function frameOf(data: unknown): string | Uint8Array | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

/** The part of a `ws` ClientRequest / IncomingMessage pair the SDK reads when an upgrade is refused. */
interface RefusalResponse {
  readonly statusCode?: number;
  setEncoding?(encoding: string): void;
  on(event: 'data', fn: (chunk: unknown) => void): unknown;
  on(event: 'end' | 'error' | 'aborted', fn: () => void): unknown;
}

/** A refused upgrade's body is read up to this many characters (the server's error bodies are well under it). */
const REFUSAL_BODY_LIMIT = 16_384;

/**
 * Calls `onRefused(status, body)` when the server answers the WebSocket upgrade with an HTTP response instead of
 * switching protocols (an unknown world, a bad query token, a server starting or draining...). Only implementations
 * that expose the response can tell: `ws` in Node (its 'unexpected-response' event). A browser's WebSocket reports
 * a refused upgrade as a plain close (1006), so there the reconnect policy applies as to any lost connection.
 * Returns whether the socket can report refusals.
 */
export function watchRefusal(ws: WebSocketLike, onRefused: (status: number, body: string) => void): boolean {
  const on = (ws as { on?: unknown }).on;
  if (typeof on !== 'function') return false;
  (on as (event: string, fn: (req: unknown, res: RefusalResponse) => void) => unknown).call(ws, 'unexpected-response', (_req, res) => {
    const status = res.statusCode ?? 0;
    let body = '';
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      onRefused(status, body);
    };
    res.setEncoding?.('utf8');
    res.on('data', (chunk) => {
      if (body.length < REFUSAL_BODY_LIMIT) body += String(chunk).slice(0, REFUSAL_BODY_LIMIT - body.length);
    });
    res.on('end', finish);
    res.on('aborted', finish);
    res.on('error', finish);
  });
  return true;
}
