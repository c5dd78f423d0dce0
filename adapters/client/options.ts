/**
 * What connect() takes and what an Agent reports: its options, the intents it submits, its events and statistics,
 * and the codec a name chooses.
 */
import { WorldlineError } from '../../server/errors.js';
import { PathTable, Subprotocol, createJsonCodec, createMsgpackCodec, createProtoCodec, type Cancelled, type JsonValue, type Role, type ServerMessage, type WireCodec } from '../../server/protocol/index.js';
import type { BackoffOptions } from './backoff.js';
import type { DigestFunction } from './digest.js';
import type { WebSocketConstructor } from './socket.js';
import type { ClockEstimate, LatencySummary } from './stats.js';
import type { TokenSource } from './token.js';
import type { Observation } from './view.js';

export type CodecName = 'json' | 'msgpack' | 'proto';

export interface ConnectOptions {
  /** The agent's token, or a function called at each (re)connect (to refresh an expiring token). */
  readonly token: TokenSource;
  readonly agentId: string;
  /** Wire codec (default msgpack). */
  readonly codec?: CodecName | Subprotocol;
  readonly role?: Role;
  /** WebSocket implementation; defaults to globalThis.WebSocket (in Node 20 pass `ws`). */
  readonly WebSocket?: WebSocketConstructor;
  /** Reconnect policy, or false to leave at the first drop. */
  readonly reconnect?: BackoffOptions | false;
  /** Check every delta's context_digest (default true). */
  readonly verifyDigests?: boolean;
  /** sha256 hex of canonical JSON text; defaults to Node's crypto.hash in Node, WebCrypto elsewhere. */
  readonly digest?: DigestFunction;
  /** Clock-sync ping interval in ms (default 2000; 0 turns periodic pings off). */
  readonly pingIntervalMs?: number;
  /** How long submit() waits for its IntentResult, across reconnects (default 30000 ms). */
  readonly submitTimeoutMs?: number;
  /**
   * How long a connection may take from opening the socket to the server's welcome (default 10000 ms; 0: no limit).
   * Past it the connection counts as failed and the reconnect policy applies, so a server that accepts sockets but
   * never answers (overloaded, wedged, or not a Worldline server) cannot leave connect() waiting for ever.
   */
  readonly welcomeTimeoutMs?: number;
  /**
   * How long a welcomed connection may go without a single frame from the server, while pings go out every
   * pingIntervalMs and one of them is unanswered, before it counts as lost and the reconnect policy applies
   * (default 15000 ms; 0, or pingIntervalMs 0: never). A network that dies without closing the TCP connection (Wi-Fi lost, a laptop asleep,
   * a NAT forgetting it) otherwise leaves the agent "connected" until the operating system gives up, many minutes on.
   */
  readonly deadAfterMs?: number;
  /** Observations a slow observations() consumer may fall behind before it gets a snapshot instead (default 1024). */
  readonly observationBuffer?: number;
  readonly clientVersion?: string;
  /** Local clock in ms (default performance.timeOrigin + performance.now()). */
  readonly now?: () => number;
  /** Uniform random numbers in [0, 1) for backoff jitter (default Math.random). */
  readonly random?: () => number;
}

/** An intent as the caller gives it: req_id and context_seq are filled in when absent. */
export interface IntentInput {
  readonly kind: string;
  readonly payload: JsonValue;
  readonly req_id?: string;
  readonly context_seq?: number;
  readonly priority?: number;
  readonly deadline_ms?: number;
}

export interface AgentEvents {
  /** A socket closed or failed to open unexpectedly (each failed reconnect attempt too); `willReconnect` says whether the SDK will try again. */
  drop: { readonly code: number; readonly reason: string; readonly willReconnect: boolean };
  /** A new connection was welcomed after a drop or a resync; `resumed` is false when it came with a snapshot. */
  reconnect: { readonly attempt: number; readonly resumed: boolean; readonly viewSeq: number };
  /** The agent is gone for good (closed by the caller, refused by the server, or out of reconnect attempts). */
  leave: { readonly reason: string; readonly error?: WorldlineError };
  /** The view is being repaired on a new connection: rebuilt from a snapshot, or resumed after a gap (reason 'gap'). */
  resync: { readonly reason: 'digest-mismatch' | 'gap' | 'patch-failed' | 'undecodable-frame' | 'resume-mismatch'; readonly viewSeq: number };
  /** An observation (after its digest check). */
  observation: Observation;
  /** The server cancelled a generation. */
  cancelled: Cancelled;
  /** An Error frame not tied to a pending submit. */
  error: WorldlineError;
  /** Every decoded server message, as it arrives (before any processing). */
  message: ServerMessage;
}

export interface AgentStats {
  readonly rtt: LatencySummary;
  /** submit() to its IntentResult, in ms. */
  readonly submit: LatencySummary;
  /** A Cancelled frame's arrival to its generation's signal being aborted, in ms. */
  readonly cancelToAbort: LatencySummary;
  readonly clock: ClockEstimate | undefined;
  readonly deltas: number;
  readonly reconnects: number;
  readonly resyncs: number;
  readonly digestMismatches: number;
}

// The client side of a codec decodes with each connection's WireSession; the path table only serves encoding.
export const CODECS: Record<Subprotocol, () => WireCodec> = {
  [Subprotocol.JSON]: createJsonCodec,
  [Subprotocol.MSGPACK]: () => createMsgpackCodec(new PathTable()),
  [Subprotocol.PROTO]: () => createProtoCodec(new PathTable()),
};

export function subprotocolOf(c: CodecName | Subprotocol | undefined): Subprotocol {
  if (c === undefined || c === 'msgpack') return Subprotocol.MSGPACK;
  if (c === 'json') return Subprotocol.JSON;
  if (c === 'proto') return Subprotocol.PROTO;
  if ((Object.values(Subprotocol) as string[]).includes(c)) return c;
  throw new WorldlineError('CONFIG_INVALID', `codec must be json, msgpack or proto, got ${JSON.stringify(c)}`);
}
