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
