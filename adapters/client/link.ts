/**
 * Many agents on one WebSocket. A Link holds one socket to a world and gives each agent a channel of it
 * (docs/protocol.md "Channels"): its own session, Hello, token, views, intents and cancels, as if it had its own
 * socket, but the server writes all the link's frames of a tick (or of a burst of cancels) in one system call and
 * the process reads them in one. For an agent process running tens or hundreds of agents this is the difference
 * between the last agent hearing of a cancel milliseconds after the first, and together with it.
 *
 *   const link = openLink(url, { WebSocket, codec: 'msgpack' });
 *   const a = await link.connect({ token: tokenA, agentId: 'a' });   // the same options as connect()
 *   const b = await link.connect({ token: tokenB, agentId: 'b' });
 *
 * Each agent reconnects and resumes as connect()'s agents do; when the shared socket drops, every agent on it sees
 * its own socket close, and their reconnects share one new socket. No Node-only API: it runs in browsers too.
 */
import { WorldlineError } from '../../server/errors.js';
import { MAX_CLOSE_REASON_BYTES, isCloseFrame, splitChannel, withChannel, type ChannelSplit, type Subprotocol, type WireCodec } from '../../server/protocol/index.js';
import { Agent, SILENT_CLOSE_CODE } from './agent.js';
import { CODECS, subprotocolOf, type CodecName, type ConnectOptions } from './options.js';
import { OPEN, frameOf, resolveWebSocket, type SocketCloseEvent, type SocketMessageEvent, type WebSocketConstructor, type WebSocketLike } from './socket.js';

export interface LinkOptions {
  /** Wire codec of the shared socket and every agent on it (default msgpack). */
  readonly codec?: CodecName | Subprotocol;
  /** WebSocket implementation; defaults to globalThis.WebSocket (in Node 20 pass `ws`). */
  readonly WebSocket?: WebSocketConstructor;
}

const CONNECTING = 0;
const CLOSING = 2;
const CLOSED = 3;

/** One agent's view of the link: a WebSocket-like channel that Agent drives exactly as it drives a socket. */
class Channel implements WebSocketLike {
  readyState = CONNECTING;
  binaryType = 'nodebuffer';
  onopen: ((ev: never) => void) | null = null;
  onmessage: ((ev: never) => void) | null = null;
  onclose: ((ev: never) => void) | null = null;
  onerror: ((ev: never) => void) | null = null;

  constructor(
    private readonly link: Link,
    readonly number: number,
    readonly protocol: string,
  ) {}

  send(data: string | Uint8Array): void {
    // As a WebSocket's send on a socket that is not open (the SDK checks readyState first).
    if (this.readyState !== OPEN) throw new Error(`InvalidStateError: channel ${this.number} is not open`);
    this.link.sendOn(this.number, data);
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    const wasOpen = this.readyState === OPEN;
    this.readyState = CLOSING;
    this.link.release(this, wasOpen, code, reason);
  }

  /** Opened: the shared socket is open (the Hello goes out on the channel). */
  opened(): void {
    if (this.readyState !== CONNECTING) return;
    this.readyState = OPEN;
    (this.onopen as ((ev: unknown) => void) | null)?.({});
  }

  /** Ended, by either side or with the shared socket; fires onclose once. */
  ended(code: number, reason: string): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    (this.onclose as ((ev: SocketCloseEvent) => void) | null)?.({ code, reason });
  }

  deliver(data: string | Uint8Array): void {
    if (this.readyState === OPEN) (this.onmessage as ((ev: SocketMessageEvent) => void) | null)?.({ data });
  }
}

export class Link {
  readonly url: string;
  readonly subprotocol: Subprotocol;
  /**
   * A WebSocket constructor whose sockets are channels of this link. `link.connect()` passes it to connect(); pass it
   * yourself to anything else that takes a WebSocket constructor for this world's URL and subprotocol.
   */
  readonly WebSocket: WebSocketConstructor;
  private readonly WS: WebSocketConstructor;
  private readonly codec: WireCodec;
  private socket: WebSocketLike | undefined;
  private readonly channels = new Map<number, Channel>();
  /** Channel numbers are never reused: a late frame of a closed channel cannot reach a newer session. */
  private nextChannel = 1;
  private closed = false;
  private readonly split: ChannelSplit = { channel: 0, frame: '' };

  constructor(url: string, opts: LinkOptions = {}) {
    this.url = url;
    this.subprotocol = subprotocolOf(opts.codec);
    this.codec = CODECS[this.subprotocol]();
    this.WS = resolveWebSocket(opts.WebSocket);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const link = this;
    this.WebSocket = function LinkChannel(url: string, protocols?: string | string[]): WebSocketLike {
      return link.openChannel(url, protocols);
    } as unknown as WebSocketConstructor;
  }

  /** Connects an agent on its own channel of this link: connect()'s options, with the link's codec and socket. */
  async connect(opts: Omit<ConnectOptions, 'WebSocket' | 'codec'>): Promise<Agent> {
    const agent = new Agent(this.url, { ...opts, codec: this.subprotocol, WebSocket: this.WebSocket });
    await agent.ready();
    return agent;
  }

  /** Agents (channels) on the link now. */
  get size(): number {
    return this.channels.size;
  }

  /** Closes the shared socket: every agent on it sees its socket close, and new channels are refused. */
  close(code = 1000, reason = 'link closed'): void {
    if (this.closed) return;
    this.closed = true;
    const s = this.socket;
    this.socket = undefined;
    try {
      s?.close(code, reason);
    } catch {
      // already closing
    }
    this.endAll(code, reason);
  }

  private openChannel(url: string, protocols: string | string[] | undefined): WebSocketLike {
    if (this.closed) throw new WorldlineError('CONFIG_INVALID', 'this link was closed: open a new one (openLink)');
    if (url !== this.url) throw new WorldlineError('CONFIG_INVALID', `this link connects to ${this.url}, not ${url}: open a link per world`);
    const offered = protocols === undefined ? [] : typeof protocols === 'string' ? [protocols] : protocols;
    if (offered.length > 0 && !offered.includes(this.subprotocol)) throw new WorldlineError('CONFIG_INVALID', `this link speaks ${this.subprotocol}; the channel asked for ${offered.join(', ')}`);
    const ch = new Channel(this, this.nextChannel++, this.subprotocol);
    this.channels.set(ch.number, ch);
    const s = this.socket ?? this.dial();
    // As a socket's open event, never inside its constructor: the caller sets its handlers first.
    if (s.readyState === OPEN) queueMicrotask(() => ch.opened());
    return ch;
  }

  private dial(): WebSocketLike {
    const s = new this.WS(this.url, [this.subprotocol]);
    this.socket = s;
    // As Agent does: ws's default 'nodebuffer' is kept; anything else (a browser) is asked for 'arraybuffer'.
    if (s.binaryType !== 'nodebuffer') s.binaryType = 'arraybuffer';
    s.onopen = () => {
      if (s !== this.socket) return;
      for (const ch of [...this.channels.values()]) ch.opened();
    };
    s.onmessage = (ev: SocketMessageEvent) => {
      if (s === this.socket) this.onFrame(ev.data);
    };
    s.onclose = (ev: SocketCloseEvent) => {
      if (s !== this.socket) return;
      this.socket = undefined;
      this.endAll(ev.code, ev.reason);
    };
    s.onerror = () => {
      // A close event follows.
    };
    return s;
  }

  /** Routes one frame of the shared socket to its channel; a Close ends that channel. */
  private onFrame(data: unknown): void {
    const frame = frameOf(data);
    if (frame === undefined) return;
    let split: ChannelSplit;
    try {
      split = splitChannel(this.subprotocol, frame, this.split);
    } catch {
      return; // a frame this link cannot route belongs to no agent
    }
    const ch = this.channels.get(split.channel);
    // Channel 0 is the socket's own session, which a link never joins: the server has nothing for it but errors
    // about frames it could not route, which no agent sent.
    if (ch === undefined) return;
    if (isCloseFrame(this.subprotocol, split.frame)) {
      let code = 1006;
      let reason = '';
      try {
        const m = this.codec.decodeServer(split.frame);
        if (m.type === 'close') ({ code, reason } = m);
      } catch {
        // an undecodable close still ends the channel
      }
      this.channels.delete(ch.number);
      ch.ended(code, reason);
      return;
    }
    ch.deliver(split.frame);
  }

  /** @internal A channel's frame, with its number first. */
  sendOn(channel: number, data: string | Uint8Array): void {
    const s = this.socket;
    if (s === undefined || s.readyState !== OPEN) throw new Error('InvalidStateError: the link is not connected');
    s.send(withChannel(this.subprotocol, data, channel));
  }

  /** @internal A channel closed by its agent: tell the server (which answers with a close, ignored) and end it. */
  release(ch: Channel, wasOpen: boolean, code: number, reason: string): void {
    this.channels.delete(ch.number);
    const s = this.socket;
    if (code === SILENT_CLOSE_CODE && s !== undefined) {
      // The server answers every channel's pings: one that heard nothing for deadAfterMs means the shared socket is
      // dead. Drop it, so every agent on it reconnects on a new one, rather than reopen channels on a dead socket.
      this.socket = undefined;
      try {
        s.close(1000, 'server silent');
      } catch {
        // already closing
      }
      queueMicrotask(() => ch.ended(code, reason));
      this.endAll(1006, 'the link fell silent');
      return;
    }
    if (wasOpen && s !== undefined && s.readyState === OPEN) {
      try {
        // A close code the protocol takes (the SDK's own 4xxx codes included); anything else as a normal close.
        const c = code >= 1000 && code <= 4999 ? code : 1000;
        s.send(withChannel(this.subprotocol, this.codec.encodeClient({ type: 'close', code: c, reason: truncate(reason) }), ch.number));
      } catch {
        // the socket is going anyway
      }
    }
    // As a socket's close event: after the caller's close() returns.
    queueMicrotask(() => ch.ended(code, reason));
    if (this.channels.size === 0 && s !== undefined && !this.closed) {
      // Nobody is left on the socket: close it rather than hold a connection for no one. The next agent dials again.
      this.socket = undefined;
      try {
        s.close(1000, 'no channels left');
      } catch {
        // already closing
      }
    }
  }

  private endAll(code: number, reason: string): void {
    const all = [...this.channels.values()];
    this.channels.clear();
    for (const ch of all) ch.ended(code, reason);
  }
}

/** A close reason cut to fit a close frame (MAX_CLOSE_REASON_BYTES of UTF-8). */
function truncate(reason: string): string {
  const enc = new TextEncoder();
  let r = reason;
  while (enc.encode(r).length > MAX_CLOSE_REASON_BYTES) r = r.slice(0, -1);
  return r;
}

/** Opens a link to a world (the socket itself opens with the first agent's channel). */
export function openLink(url: string, opts: LinkOptions = {}): Link {
  return new Link(url, opts);
}
