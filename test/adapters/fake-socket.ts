/**
 * An in-process WebSocket for SDK tests that need exact control of what the server sends and when: each socket a
 * test opens is recorded, its client frames are decoded (json codec), and the test delivers server messages to it
 * synchronously, one after another in the same task if it wants, or closes it with any code.
 */
import type { WebSocketConstructor, WebSocketLike } from '../../adapters/client/index.js';
import type { ClientMessage, ServerMessage } from '../../server/protocol/index.js';

type Handler = ((ev: never) => void) | null;

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  readonly protocol = 'worldline.v1.json';
  binaryType = 'arraybuffer';
  onopen: Handler = null;
  onmessage: Handler = null;
  onclose: Handler = null;
  onerror: Handler = null;
  /** Client messages sent on this socket, decoded. */
  readonly sent: ClientMessage[] = [];

  constructor(readonly url: string) {}

  /** Opens the socket (the SDK then sends its hello). */
  open(): void {
    this.readyState = 1;
    (this.onopen as ((e: unknown) => void) | null)?.({});
  }

  /** Delivers one server message to the SDK, synchronously. */
  deliver(msg: ServerMessage | Record<string, unknown>): void {
    if (this.readyState !== 1) return;
    (this.onmessage as ((e: unknown) => void) | null)?.({ data: JSON.stringify(msg) });
  }

  send(data: string | Uint8Array): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)) as ClientMessage);
  }

  /** The server (or the network) closes the socket. */
  drop(code = 1006, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    (this.onclose as ((e: unknown) => void) | null)?.({ code, reason });
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 2;
    // As a real socket: the close event comes later, not inside close().
    setTimeout(() => this.drop(code, reason), 0);
  }

  /** The client messages of one type. */
  of<T extends ClientMessage['type']>(type: T): Array<Extract<ClientMessage, { type: T }>> {
    return this.sent.filter((m): m is Extract<ClientMessage, { type: T }> => m.type === type);
  }
}

/** A WebSocket constructor whose sockets are recorded in `sockets`; each opens on the next macrotask. */
export function fakeSockets(): { WebSocket: WebSocketConstructor; sockets: FakeSocket[] } {
  const sockets: FakeSocket[] = [];
  class Fake extends FakeSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
      setTimeout(() => {
        if (this.readyState === 0) this.open();
      }, 0);
    }
  }
  return { WebSocket: Fake, sockets };
}

/** A welcome message; with `snapshot` set the view is sent whole. */
export function welcome(viewSeq: number, snapshot?: { view: { entities: Record<string, unknown> }; digest: string }): ServerMessage {
  return {
    type: 'welcome',
    session: 's',
    world: 'w',
    agent: 'a',
    schema_version: '1.0.0',
    server_time: Date.now(),
    view_seq: viewSeq,
    ...(snapshot ? { snapshot: { view_seq: viewSeq, view: snapshot.view as never, context_digest: snapshot.digest } } : {}),
  } as ServerMessage;
}

/** A delta from `from` to `to` that sets entity e's x (digest '' = not checked). */
export function deltaX(from: number, to: number, x: number, digest = ''): ServerMessage {
  return { type: 'observation_delta', view_seq: to, from_seq: from, context_digest: digest, ops: [{ op: 'replace', path: '/entities/e/x', value: x }], global_seq: to, sim_time: 0, server_time: 0 } as ServerMessage;
}
