/**
 * The client side of one agent: a WebSocket to a world that reconnects by itself (exponential backoff, resume from
 * the last applied view_seq), the agent's current view (snapshot + strictly applied deltas, each checked against
 * its context_digest; a mismatch or a gap resynchronises), intents submitted and retried idempotently across
 * reconnects with the same req_id, generations cancelled the moment the server says so, and clock sync.
 * Uses only the public protocol module and web-standard APIs (plus node:crypto's hash when it finds it at run time),
 * so it runs in Node and in browsers.
 */
import { WorldlineError, errorFromBody } from '../../server/errors.js';
import {
  PROTOCOL_VERSION,
  type Subprotocol,
  WireSession,
  validateClientMessage,
  type Cancelled,
  type ErrorBody,
  type IntentResult,
  type ObservationDelta,
  type ServerMessage,
  type SnapshotBody,
  type StaleCause,
  type SubmitIntent,
  type WireCodec,
  type WireIntent,
} from '../../server/protocol/index.js';
import { runAct, type ActHost, type ActOptions, type ActResult, type Generate } from './act.js';
import { backoffDelay } from './backoff.js';
import { ViewDigester, defaultDigest, type DigestFunction, type MemberChanges } from './digest.js';
import { Emitter } from './emitter.js';
import { ObservationQueue } from './observations.js';
import { CODECS, subprotocolOf, type AgentEvents, type AgentStats, type ConnectOptions, type IntentInput } from './options.js';
import { probeWorld, refusalError, refusalIsFinal, worldInfoUrl } from './refusal.js';
import { OPEN, frameOf, resolveWebSocket, watchRefusal, type SocketCloseEvent, type SocketMessageEvent, type WebSocketConstructor, type WebSocketLike } from './socket.js';
import { ClockSync, LatencyRing, type ClockEstimate } from './stats.js';
import { currentToken } from './token.js';
import { nextTurn } from './turn.js';
import { ViewState, entitiesOf, type Observation, type View } from './view.js';

interface PendingSubmit {
  readonly msg: SubmitIntent;
  readonly startedAt: number;
  readonly resolve: (r: IntentResult) => void;
  readonly reject: (e: WorldlineError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  /** Times the SDK has written it to a socket: more than once after a reconnect. */
  sends: number;
}

interface OpenGeneration {
  readonly contextSeq: number;
  readonly controller: AbortController;
}

type State = 'connecting' | 'ready' | 'waiting' | 'closed';

/** A fresh id: crypto.randomUUID where it exists (browsers in secure contexts, Node), else random digits. */
export function newReqId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  let s = '';
  for (let i = 0; i < 4; i++) s += Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, '0');
  return s;
}

const defaultNow = (): number => performance.timeOrigin + performance.now();

/** The close code of a connection the SDK gave up on because the server fell silent (deadAfterMs). */
export const SILENT_CLOSE_CODE = 4004;

/**
 * The reason a cancelled generation's signal aborts with, built without a stack trace: it tells generate() to stop
 * and is not a fault, and a process running many agents gets many Cancelled frames at once (capturing the stack of
 * a frame handler was about a tenth of the SDK's work per cancel).
 */
function cancelReason(c: Cancelled, contextSeq: number): WorldlineError {
  const E = Error as { stackTraceLimit?: number | undefined };
  const limit = E.stackTraceLimit;
  E.stackTraceLimit = 0;
  try {
    return new WorldlineError('GENERATION_CANCELLED', `Generation ${c.req_id} was cancelled: ${c.reason || 'no reason given'}.`, { req_id: c.req_id, context_seq: contextSeq, stale_due_to: c.stale_due_to.map((s: StaleCause) => ({ ...s })) });
  } finally {
    E.stackTraceLimit = limit;
  }
}

/** Connects an agent and resolves once the server has welcomed it (its view is then `agent.view`). */
export async function connect(url: string, opts: ConnectOptions): Promise<Agent> {
  const agent = new Agent(url, opts);
  await agent.ready();
  return agent;
}

export class Agent extends Emitter<AgentEvents> implements ActHost {
  readonly agentId: string;
  readonly subprotocol: Subprotocol;
  /** The session id the server gave the current connection. */
  session = '';
  private readonly url: string;
  private readonly opts: ConnectOptions;
  private readonly WS: WebSocketConstructor;
  private readonly codec: WireCodec;
  private readonly digestFn: DigestFunction | undefined;
  private readonly digester: ViewDigester | undefined;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly state = new ViewState();
  private readonly pending = new Map<string, PendingSubmit>();
  private readonly generations = new Map<string, OpenGeneration>();
  private readonly queues = new Set<ObservationQueue>();
  private readonly clockSync = new ClockSync();
  private readonly submitLatency = new LatencyRing();
  private readonly cancelLatency = new LatencyRing();
  private readonly pings = new Map<number, number>();
  private readonly quietWaiters = new Set<() => void>();
  /** Called whenever the view changes (delta or snapshot) and when the agent leaves. */
  private readonly viewWaiters = new Set<() => void>();
  private ws: WebSocketLike | undefined;
  private wire = new WireSession();
  private epoch = 0;
  /**
   * Bumped when the view is thrown away (a restart without resume): digest checks queued for the old view are then
   * moot. A plain reconnect or a resume keeps the view, so checks queued before it still deliver their observations.
   */
  private viewEpoch = 0;
  private phase: State = 'connecting';
  private welcomed = false;
  private everWelcomed = false;
  private resumeNext = true;
  /** The world incarnation the view belongs to (Welcome.incarnation), sent back when resuming. */
  private incarnation: string | undefined;
  private attempt = 0;
  private resyncStreak = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pingSeq = 0;
  private verifyTail: Promise<void> = Promise.resolve();
  private readyPromise: Promise<void>;
  private settleReady: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  private counters = { deltas: 0, reconnects: 0, resyncs: 0, digestMismatches: 0 };
  private lastDeltaAt = 0;
  /** Local time of the last frame read on the current connection (any frame: a pong, a delta...). */
  private lastHeardAt = 0;
  /** A ping went out after the last frame read: only then is silence the server's (it answers every ping). */
  private pingUnanswered = false;
  private leftError: WorldlineError | undefined;

  constructor(url: string, opts: ConnectOptions) {
    super();
    if (!opts.agentId) throw new WorldlineError('INVALID_AGENT_ID', 'connect() needs an agentId');
    this.url = url;
    this.opts = opts;
    this.agentId = opts.agentId;
    this.subprotocol = subprotocolOf(opts.codec);
    this.codec = CODECS[this.subprotocol]();
    this.WS = resolveWebSocket(opts.WebSocket);
    this.now = opts.now ?? defaultNow;
    this.random = opts.random ?? Math.random;
    this.digestFn = opts.verifyDigests === false ? undefined : (opts.digest ?? defaultDigest());
    if (opts.verifyDigests !== false && !this.digestFn) throw new WorldlineError('ADAPTER_UNAVAILABLE', 'no SHA-256 is available to check context digests (neither node:crypto nor WebCrypto): pass `digest`, or verifyDigests: false');
    this.digester = this.digestFn ? new ViewDigester(this.digestFn) : undefined;
    this.readyPromise = new Promise<void>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.readyPromise.catch(() => {});
    this.open();
  }

  /** Resolves at the first Welcome; rejects if the agent leaves before one. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** The current view (snapshot plus every delta received). Treat it as read-only: the SDK replaces, never mutates it. */
  get view(): View {
    return this.state.view;
  }

  /** The view_seq of `view`: what an intent generated from it should carry as context_seq. */
  get viewSeq(): number {
    return this.state.viewSeq;
  }

  /** True while a connection is open and welcomed. */
  get connected(): boolean {
    return this.phase === 'ready';
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  /** Why the agent left, when it did not close itself (a refusal, reconnects exhausted): what submit() and act() reject with. */
  get leftWith(): WorldlineError | undefined {
    return this.leftError;
  }

  /** Clock offset to the server (server = local + offsetMs) and the round trip it was measured with. */
  get clock(): ClockEstimate | undefined {
    return this.clockSync.estimate();
  }

  /** The server's clock now, by the current estimate (the local clock until the first pong). */
  serverNow(): number {
    return this.now() + (this.clockSync.estimate()?.offsetMs ?? 0);
  }

  stats(): AgentStats {
    return { rtt: this.clockSync.rtt.summary(), submit: this.submitLatency.summary(), cancelToAbort: this.cancelLatency.summary(), clock: this.clock, ...this.counters };
  }

  /** Resolves once every observation received so far has been digest-checked and delivered to listeners. */
  async settled(): Promise<void> {
    let tail: Promise<void>;
    do {
      tail = this.verifyTail;
      await tail;
    } while (tail !== this.verifyTail);
  }

  /** Every observation from now on (each after its digest check), until `signal` aborts or the agent leaves. */
  observations(opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<Observation> {
    const signal = opts.signal;
    const onAbort = (): void => q.end();
    // However the stream ends (abort, break, close), it lets go of the signal: a long-lived one would collect them.
    const q = new ObservationQueue(this.opts.observationBuffer ?? 1024, (x) => {
      this.queues.delete(x);
      signal?.removeEventListener('abort', onAbort);
    });
    if (this.phase === 'closed' || signal?.aborted) {
      q.end();
      return q;
    }
    this.queues.add(q);
    signal?.addEventListener('abort', onAbort, { once: true });
    return q;
  }

  /** Submits an intent; resolves with its IntentResult. Resent with the same req_id after a reconnect (idempotent). */
  submit(intent: IntentInput): Promise<IntentResult> {
    if (this.phase === 'closed') return Promise.reject(this.leftError ?? new WorldlineError('LOG_CLOSED', 'the agent is closed; connect again'));
    const reqId = intent.req_id ?? newReqId();
    const wire: WireIntent = {
      req_id: reqId,
      kind: intent.kind,
      payload: intent.payload,
      context_seq: intent.context_seq ?? Math.max(0, this.state.viewSeq),
      priority: intent.priority ?? 0,
      ...(intent.deadline_ms !== undefined ? { deadline_ms: intent.deadline_ms } : {}),
    };
    const msg: SubmitIntent = { type: 'submit_intent', intent: wire };
    try {
      // The server's own check of a submit_intent frame, before anything is queued: a payload no codec can carry
      // exactly (NaN, a lone surrogate, a BigInt, a cycle, a class instance) or a field out of range is refused here,
      // at once, with the code the server would give, instead of being changed by the encoder (msgpack writes a lone
      // surrogate as bytes the server reads as U+FFFD, JSON writes NaN as null) or never leaving the process.
      validateClientMessage(msg);
    } catch (err) {
      return Promise.reject(err instanceof WorldlineError ? err : new WorldlineError('INVALID_INTENT', `the intent cannot be sent: ${(err as Error).message}`, { req_id: reqId }));
    }
    const existing = this.pending.get(reqId);
    if (existing) return new Promise((resolve, reject) => this.chainPending(reqId, existing, resolve, reject));
    return new Promise<IntentResult>((resolve, reject) => {
      const timeoutMs = this.opts.submitTimeoutMs ?? 30_000;
      const timer = setTimeout(() => {
        // The entry may have been chained by later submits of the same req_id: reject them all, not just this one.
        const current = this.pending.get(reqId);
        this.pending.delete(reqId);
        (current?.reject ?? reject)(new WorldlineError('OPERATION_TIMEOUT', `no IntentResult for ${reqId} within ${timeoutMs} ms (across reconnects); retry with the same req_id to learn its outcome`, { req_id: reqId }));
      }, timeoutMs);
      this.pending.set(reqId, { msg, startedAt: this.now(), resolve, reject, timer, sends: 0 });
      if (this.phase === 'ready') this.sendPending(reqId, msg);
    });
  }

  /** Sends a pending submit; one its codec cannot encode (validated, so not expected) is rejected, not left to time out. */
  private sendPending(reqId: string, msg: SubmitIntent): void {
    try {
      if (this.send(msg, true)) {
        const p = this.pending.get(reqId);
        if (p) p.sends++;
      }
    } catch (err) {
      const p = this.pending.get(reqId);
      if (!p) return;
      this.pending.delete(reqId);
      clearTimeout(p.timer);
      p.reject(new WorldlineError('INVALID_INTENT', `the ${this.codec.subprotocol} codec cannot encode intent ${reqId}: ${(err as Error).message}`, { req_id: reqId }));
    }
  }

  private chainPending(reqId: string, p: PendingSubmit, resolve: (r: IntentResult) => void, reject: (e: WorldlineError) => void): void {
    this.pending.set(reqId, {
      ...p,
      resolve: (r) => {
        p.resolve(r);
        resolve(r);
      },
      reject: (e) => {
        p.reject(e);
        reject(e);
      },
    });
  }

  /**
   * Generates and submits an intent, regenerating when the world moves on: see act.ts. `generate` gets the view,
   * its view_seq and a signal aborted the moment the server cancels the generation.
   */
  act(generate: Generate, opts: ActOptions = {}): Promise<ActResult> {
    return runAct(this, generate, opts);
  }

  /** Closes the connection for good. Pending submits reject; open generations abort. */
  close(reason = 'closed by the client'): void {
    this.leave(reason, undefined);
  }

  // ----- ActHost (used by act.ts) -----

  /** @internal */
  beginGeneration(reqId: string, contextSeq: number, controller: AbortController): void {
    this.generations.set(reqId, { contextSeq, controller });
    if (this.phase === 'ready') this.send({ type: 'begin_generation', req_id: reqId, context_seq: contextSeq });
  }

  /** @internal Forgets a generation; `cancelOnServer` also closes it on the server (the caller gave up on it). */
  endGeneration(reqId: string, cancelOnServer: boolean): void {
    if (!this.generations.delete(reqId)) return;
    if (cancelOnServer && this.phase === 'ready') this.send({ type: 'cancel_intent', req_id: reqId });
  }

  /** @internal Resolves once no delta has arrived for quietMs (at most maxMs), or when signal aborts. */
  /**
   * Resolves once the view has reached `viewSeq` (at once if it has), after `maxMs`, when `signal` aborts or when
   * the agent leaves; never rejects. A Cancelled frame is sent at commit and may arrive before the deltas that made
   * the context stale: act() waits here for them before regenerating.
   */
  waitForView(viewSeq: number, maxMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.state.viewSeq >= viewSeq || signal?.aborted || this.phase === 'closed') return resolve();
      const finish = (): void => {
        clearTimeout(timer);
        this.viewWaiters.delete(check);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const check = (): void => {
        if (this.state.viewSeq >= viewSeq || this.phase === 'closed') finish();
      };
      const timer = setTimeout(finish, maxMs);
      signal?.addEventListener('abort', finish, { once: true });
      this.viewWaiters.add(check);
    });
  }

  waitQuiet(quietMs: number, maxMs: number, signal: AbortSignal | undefined): Promise<void> {
    const start = this.now();
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.quietWaiters.delete(rearm);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const rearm = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        const left = maxMs - (this.now() - start);
        // Called by leave() too: an agent gone ends the wait now, not one quiet period later.
        if (left <= 0 || this.phase === 'closed') return finish();
        timer = setTimeout(finish, Math.min(quietMs, left));
      };
      if (signal?.aborted || this.phase === 'closed') return resolve();
      signal?.addEventListener('abort', finish, { once: true });
      this.quietWaiters.add(rearm);
      rearm();
    });
  }

  // ----- connection lifecycle -----

  private open(): void {
    const epoch = ++this.epoch;
    this.welcomed = false;
    this.phase = 'connecting';
    this.wire = new WireSession();
    this.armWelcomeTimer(epoch);
    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.url, [this.subprotocol]);
    } catch (err) {
      this.leave('cannot open a WebSocket', new WorldlineError('CONFIG_INVALID', `cannot open a WebSocket to ${this.url}: ${(err as Error).message}`));
      return;
    }
    this.ws = ws;
    // `ws` (Node) hands a binary frame over as the Buffer it was read into ('nodebuffer', its default), instead of
    // copying it into a new ArrayBuffer; anything else (a browser) is asked for 'arraybuffer'. Never assigned
    // 'nodebuffer': a browser ignores it, but logs a warning in the page's console at every connect.
    if (ws.binaryType !== 'nodebuffer') ws.binaryType = 'arraybuffer';
    let opened = false;
    /** Why the socket failed, where the implementation says (ws: "connect ECONNREFUSED 127.0.0.1:9"; a browser: never). */
    let failure: string | undefined;
    ws.onopen = () => {
      opened = true;
      if (epoch === this.epoch) void this.hello(epoch);
    };
    ws.onmessage = (ev: SocketMessageEvent) => {
      if (epoch === this.epoch) this.onFrame(ev.data, epoch);
    };
    ws.onclose = (ev: SocketCloseEvent) => {
      if (epoch !== this.epoch) return;
      // Closed before it opened, where the upgrade's answer cannot be read (a browser): ask the server over HTTP why.
      if (!opened && !seesRefusals) void this.probeThenClose(epoch, ev.code, ev.reason);
      else this.onSocketClosed(ev.code, ev.reason, !opened && failure ? `${failure}: check that a Worldline server is running at that host and port` : undefined);
    };
    ws.onerror = (ev: never) => {
      // A close event always follows; reconnecting is decided there. Its message is kept for the error the agent
      // leaves with, if it gives up: "1006" alone does not say that nothing listens on the port.
      const message = (ev as { message?: unknown } | undefined)?.message;
      if (typeof message === 'string' && message !== '') failure = message;
    };
    const seesRefusals = watchRefusal(ws, (status, body) => {
      if (epoch === this.epoch) this.onRefused(status, body);
    });
  }

  /**
   * A socket that closed before opening, on a WebSocket that hides the upgrade's HTTP answer: GET /v1/worlds/{id}
   * says whether the world is there and the token reaches it. A final refusal (WORLD_NOT_FOUND, UNAUTHORIZED,
   * FORBIDDEN...) ends the agent with the server's error; anything else (the world is there, the server is down or
   * starting, CORS does not let this page read the answer) is a lost connection, retried with backoff.
   */
  private async probeThenClose(epoch: number, code: number, reason: string): Promise<void> {
    let refused: WorldlineError | undefined;
    // The upgrade was judged by the URL's token when it has one (the Hello's token comes only after it opens).
    let token = new URL(this.url).searchParams.get('token');
    if (!token) {
      try {
        token = await currentToken(this.opts.token);
      } catch (err) {
        // The caller's token function failed: that, not the server, is what to report if the agent gives up.
        if (epoch !== this.epoch || this.phase === 'closed') return;
        this.onSocketClosed(code, reason, `the token function failed: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    }
    try {
      refused = await probeWorld(this.url, token);
    } catch {
      if (epoch !== this.epoch || this.phase === 'closed') return;
      // Said if the agent gives up: after minutes of retries, "1006" alone tells a web developer nothing.
      const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
      this.onSocketClosed(code, reason, `the WebSocket never opened, and a browser does not show why; GET ${worldInfoUrl(this.url)}, which would have said, could not be read either: the server is down or unreachable, or its corsOrigins does not list this page's origin${origin ? ` (${origin})` : ''}`);
      return;
    }
    if (epoch !== this.epoch || this.phase === 'closed') return;
    const status = refused?.details['http_status'];
    if (refused && typeof status === 'number' && refusalIsFinal(status)) {
      this.leave(`refused by the server: ${refused.codeName}`, refused);
      return;
    }
    this.onSocketClosed(code, reason);
  }

  /**
   * The server refused the upgrade with an HTTP response. A final refusal (an unknown world, a bad query token, no
   * common subprotocol) ends the agent with the server's error instead of retrying it maxAttempts times; any other
   * (starting, draining, a connection cap) is a failed attempt like a lost connection, and backs off.
   */
  private onRefused(status: number, body: string): void {
    const err = refusalError(this.url, status, body);
    if (refusalIsFinal(status)) {
      this.leave(`refused by the server: ${err.codeName}`, err);
      return;
    }
    this.emit('error', err);
    this.dropSocket(1006, 'upgrade refused');
    this.onSocketClosed(1006, `upgrade refused: HTTP ${status} ${err.codeName}`);
  }

  /** Closes the current socket and forgets it: its events are ignored from here on (the epoch moves). */
  private dropSocket(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = undefined;
    this.epoch++;
    try {
      ws?.close(code, reason);
    } catch {
      // already closing
    }
  }

  private welcomeTimer: ReturnType<typeof setTimeout> | undefined;

  /** Fails this connection (epoch) if no welcome comes within welcomeTimeoutMs of opening it. */
  private armWelcomeTimer(epoch: number): void {
    this.clearWelcomeTimer();
    const limit = this.opts.welcomeTimeoutMs ?? 10_000;
    if (limit <= 0) return;
    this.welcomeTimer = setTimeout(() => {
      this.welcomeTimer = undefined;
      if (epoch !== this.epoch || this.welcomed || this.phase === 'closed') return;
      // Not waiting for the close handshake: a server that never answered a hello will not answer that either.
      this.dropSocket(4003, 'no welcome');
      this.onSocketClosed(4003, `no welcome within ${limit} ms`);
    }, limit);
  }

  private clearWelcomeTimer(): void {
    if (this.welcomeTimer === undefined) return;
    clearTimeout(this.welcomeTimer);
    this.welcomeTimer = undefined;
  }

  private async hello(epoch: number): Promise<void> {
    let token: string;
    try {
      token = await currentToken(this.opts.token);
    } catch (err) {
      this.leave('the token function failed', new WorldlineError('UNAUTHORIZED', `the token function threw: ${(err as Error).message}`));
      return;
    }
    if (epoch !== this.epoch) return;
    const resume = this.resumeNext && this.state.viewSeq >= 0 ? { resume: { view_seq: this.state.viewSeq, ...(this.incarnation !== undefined ? { incarnation: this.incarnation } : {}) } } : {};
    this.send({ type: 'hello', token, agent_id: this.agentId, client_version: this.opts.clientVersion ?? 'worldline-sdk-ts/1', schema_version: PROTOCOL_VERSION, ...(this.opts.role ? { role: this.opts.role } : {}), ...resume });
  }

  /**
   * Sends a frame; false when there is no open socket or it could not be written. A frame the codec cannot encode is
   * false too, or, with `throwOnEncode`, the codec's error (for a submit, which is then rejected rather than resent).
   */
  private send(msg: Parameters<WireCodec['encodeClient']>[0], throwOnEncode = false): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    let frame: ReturnType<WireCodec['encodeClient']>;
    try {
      frame = this.codec.encodeClient(msg);
    } catch (err) {
      if (throwOnEncode) throw err;
      return false;
    }
    try {
      ws.send(frame);
      return true;
    } catch {
      return false;
    }
  }

  private stableTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Starts the attempt count again once this connection (epoch) has stayed up for minUptimeMs: only a connection that
   * lasted counts as a success, so one dropped right after its welcome backs off like a refused one.
   */
  private armStableTimer(epoch: number): void {
    this.clearStableTimer();
    const policy = this.opts.reconnect;
    const ms = policy === false ? 0 : (policy?.minUptimeMs ?? 5000);
    if (ms <= 0) {
      this.attempt = 0;
      return;
    }
    this.stableTimer = setTimeout(() => {
      this.stableTimer = undefined;
      if (epoch === this.epoch && this.welcomed) this.attempt = 0;
    }, ms);
  }

  private clearStableTimer(): void {
    if (this.stableTimer === undefined) return;
    clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
  }

  /** A connection ended: reconnect with backoff, or leave once the attempts are spent (`why`, if known, in the error). */
  private onSocketClosed(code: number, reason: string, why?: string): void {
    this.clearWelcomeTimer();
    this.clearStableTimer();
    this.stopPings();
    this.ws = undefined;
    if (this.phase === 'closed') return;
    const policy = this.opts.reconnect;
    const max = policy === false ? 0 : (policy?.maxAttempts ?? 50);
    const willReconnect = this.attempt < max;
    this.emit('drop', { code, reason, willReconnect });
    // A drop listener may have closed the agent (giving up on a lost connection is a common answer): it stays closed.
    if (this.closed) return;
    if (!willReconnect) {
      const closed = reason ? `${code} ${reason}` : `${code}`;
      // An agent that was never welcomed lost nothing: it could not connect.
      const what = this.everWelcomed ? `connection to ${this.url} lost (${closed}) and ${max} reconnect attempts failed` : `could not connect to ${this.url} (${closed}) in ${max + 1} attempt${max === 0 ? '' : 's'}`;
      this.leave(`connection lost (${closed})`, new WorldlineError('ADAPTER_UNAVAILABLE', `${what}${why ? `: ${why}` : ''}`, { code, reason }));
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.attempt++;
    this.phase = 'waiting';
    const delay = backoffDelay(this.attempt, this.opts.reconnect || {}, this.random());
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.phase === 'waiting') this.open();
    }, delay);
  }

  /**
   * Drops the connection and opens a new one: resuming from our view_seq after a gap, or without resume (so the
   * server sends a full snapshot) when our view can no longer be trusted. The first restart is immediate; repeated
   * ones without a verified delta in between back off, and past 8 the agent leaves rather than loop.
   */
  private restart(reason: AgentEvents['resync']['reason'], resume: boolean): void {
    if (this.phase === 'closed') return;
    this.counters.resyncs++;
    this.resyncStreak++;
    this.emit('resync', { reason, viewSeq: this.state.viewSeq });
    if (this.closed) return; // closed by a resync listener: no new connection
    if (this.resyncStreak > 8) {
      this.leave('the view kept failing its checks', new WorldlineError('WORLD_STATE_CORRUPTED', `the view failed its checks ${this.resyncStreak} times in a row (last: ${reason}); check that client and server canonicalise views the same way`, { reason }));
      return;
    }
    this.resumeNext = resume;
    if (!resume) this.viewEpoch++;
    this.stopPings();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.clearStableTimer();
    this.dropSocket(4000, `resync: ${reason}`);
    this.phase = 'waiting';
    const delay = this.resyncStreak === 1 ? 0 : backoffDelay(this.resyncStreak - 1, this.opts.reconnect || {}, this.random());
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.phase === 'waiting') this.open();
    }, delay);
  }

  private leave(reason: string, error: WorldlineError | undefined): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.leftError = error;
    this.clearWelcomeTimer();
    this.clearStableTimer();
    this.stopPings();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.dropSocket(1000, reason.slice(0, 120));
    const err = error ?? new WorldlineError('LOG_CLOSED', `the agent left: ${reason}`);
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    for (const [, g] of this.generations) g.controller.abort(err);
    this.generations.clear();
    for (const q of [...this.queues]) q.end();
    for (const w of [...this.quietWaiters]) w();
    for (const w of [...this.viewWaiters]) w();
    this.settleReady?.reject(err);
    this.emit('leave', { reason, ...(error ? { error } : {}) });
  }

  private startPings(): void {
    this.stopPings();
    this.clockSync.newConnection();
    this.lastHeardAt = this.now();
    this.pingUnanswered = false;
    for (let i = 0; i < 3; i++) this.ping();
    const every = this.opts.pingIntervalMs ?? 2000;
    const deadAfter = this.opts.deadAfterMs ?? 15_000;
    if (every <= 0) return;
    let lastTick = this.now();
    this.pingTimer = setInterval(() => {
      const now = this.now();
      // A tick far later than due means this process (or a frozen page) was asleep: the answers may be read but not
      // yet handled, so silence is judged from the next tick on.
      const stalled = now - lastTick > 2 * every;
      lastTick = now;
      // Silent only with a ping still unanswered: with pings further apart than deadAfterMs, a quiet world sends nothing
      // between an answered ping and the next tick, and that is no sign of a dead connection.
      if (!stalled && deadAfter > 0 && this.pingUnanswered && now - this.lastHeardAt > deadAfter) this.silent(deadAfter);
      else this.ping();
    }, every);
  }

  /**
   * The server has sent nothing, not even a pong, for longer than deadAfterMs: the connection is dead without having
   * closed (a lost network keeps a TCP connection open for many minutes). Dropped without waiting for a close
   * handshake that cannot come, then reconnected and resumed as after any drop.
   */
  private silent(deadAfter: number): void {
    this.dropSocket(SILENT_CLOSE_CODE, 'server silent');
    this.onSocketClosed(SILENT_CLOSE_CODE, `nothing heard from the server for ${deadAfter} ms`);
  }

  private stopPings(): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    this.pings.clear();
  }

  /** Sends a ping now (clock sync and RTT); the answer updates `clock` and stats().rtt. */
  ping(): void {
    if (this.phase !== 'ready') return;
    // client_time is a ping counter, so a pong is matched to its local send time exactly whatever the clock.
    const id = ++this.pingSeq;
    this.pings.set(id, this.now());
    this.pingUnanswered = true;
    if (this.pings.size > 64) this.pings.delete(this.pings.keys().next().value as number);
    this.send({ type: 'ping', client_time: id });
  }

  // ----- incoming frames -----

  private onFrame(data: unknown, epoch: number): void {
    this.lastHeardAt = this.now();
    this.pingUnanswered = false;
    const frame = frameOf(data);
    if (frame === undefined) return;
    let msg: ServerMessage;
    try {
      msg = this.codec.decodeServer(frame, this.wire);
    } catch {
      // A frame we cannot decode may have carried path definitions: this connection's dictionary is no longer
      // trustworthy, so start again from a snapshot.
      this.restart('undecodable-frame', false);
      return;
    }
    this.emit('message', msg);
    if (epoch !== this.epoch) return;
    switch (msg.type) {
      case 'welcome':
        return this.onWelcome(msg.view_seq, msg.session, msg.snapshot, msg.incarnation);
      case 'observation_delta':
        return this.onDelta(msg);
      case 'snapshot':
        return this.onSnapshot(msg, 'server');
      case 'intent_result':
        return this.onResult(msg);
      case 'cancelled':
        return this.onCancelled(msg);
      case 'pong': {
        const sent = this.pings.get(msg.client_time);
        if (sent === undefined) return;
        this.pings.delete(msg.client_time);
        this.clockSync.sample(sent, msg.server_time, this.now());
        return;
      }
      case 'error':
        return this.onError(msg);
      case 'move_command':
        return;
    }
  }

  private onWelcome(viewSeq: number, session: string, snapshot: SnapshotBody | undefined, incarnation: string | undefined): void {
    if (this.welcomed) return;
    this.clearWelcomeTimer();
    const resumed = snapshot === undefined;
    if (resumed && viewSeq !== this.state.viewSeq) {
      this.restart('resume-mismatch', false);
      return;
    }
    this.welcomed = true;
    this.session = session;
    this.incarnation = incarnation;
    this.phase = 'ready';
    this.resumeNext = true;
    if (snapshot) this.onSnapshot(snapshot, 'welcome');
    // An observation listener may have closed the agent (a snapshot is delivered at once without digest checks).
    if (this.closed) return;
    const attempt = this.attempt;
    if (this.everWelcomed) {
      this.counters.reconnects++;
      this.emit('reconnect', { attempt, resumed, viewSeq: this.state.viewSeq });
      // Closed by a reconnect listener: no pings, timers or resends for an agent that is gone.
      if (this.closed) return;
    }
    this.everWelcomed = true;
    this.armStableTimer(this.epoch);
    // Re-open generations first (the server judges events since their context at once), then resend intents.
    for (const [reqId, g] of this.generations) this.send({ type: 'begin_generation', req_id: reqId, context_seq: g.contextSeq });
    for (const [reqId, p] of this.pending) this.sendPending(reqId, p.msg);
    this.startPings();
    this.settleReady?.resolve();
  }

  private onSnapshot(body: SnapshotBody, reason: 'welcome' | 'server'): void {
    const o = this.state.snapshot(body, reason);
    for (const w of [...this.viewWaiters]) w();
    this.afterApply(o, body.context_digest);
  }

  private onDelta(d: ObservationDelta): void {
    let r: ReturnType<ViewState['delta']>;
    try {
      r = this.state.delta(d);
    } catch {
      this.restart('patch-failed', false);
      return;
    }
    if (r.outcome === 'duplicate') return;
    if (r.outcome === 'gap') {
      // A missing delta: reconnect and resume from the last one we applied (the server sends exactly the rest).
      this.restart('gap', true);
      return;
    }
    this.counters.deltas++;
    this.lastDeltaAt = this.now();
    for (const w of [...this.quietWaiters]) w();
    for (const w of [...this.viewWaiters]) w();
    this.afterApply(r.observation!, d.context_digest);
  }

  /** Checks the view's digest in arrival order, then hands the observation to listeners; a mismatch resyncs. */
  private afterApply(o: Observation, expected: string): void {
    const digester = this.digester;
    // A delta that applied and is not checked is as good as the SDK can tell: it ends a run of restarts.
    if (o.type === 'delta' && (!digester || expected === '')) this.resyncStreak = 0;
    if (!digester) {
      this.deliver(o);
      return;
    }
    // A delta's digest is worked out on the next turn of the event loop (nextTurn), after the frames already read:
    // only this observation's delivery waits for it, while other agents' Cancelled frames may be waiting in this
    // process. A view is never mutated (a delta copies what it changes), so `view` is still this view_seq's view
    // then, and `touched` is this delta's own set. A snapshot's waits only for the checks before it, as its
    // observation is the first a new connection delivers. The digester keeps its member hashes entity by entity, so
    // it sees every view, checked or not, in order (the chain).
    const view = o.view;
    const touched = this.state.touched;
    const viewEpoch = this.viewEpoch;
    const changes = async (): Promise<MemberChanges> => {
      if (o.type === 'delta') await nextTurn();
      // Only the touched entities when they are known: a delta's view builds its whole table only when read.
      return digester.changes(touched ? entitiesOf(view, touched) : view.entities, touched);
    };
    if (expected === '') {
      this.verifyTail = this.verifyTail.then(changes).then((c) => digester.apply(c)).then(() => {});
      this.deliver(o);
      return;
    }
    this.verifyTail = this.verifyTail.then(async () => {
      const got = await digester.apply(await changes());
      if (viewEpoch !== this.viewEpoch || this.phase === 'closed') return;
      if (got !== expected) {
        this.counters.digestMismatches++;
        this.restart('digest-mismatch', false);
        return;
      }
      if (o.type === 'delta') this.resyncStreak = 0;
      this.deliver(o);
    });
  }

  private deliver(o: Observation): void {
    for (const q of this.queues) q.push(o);
    this.emit('observation', o);
  }

  private onResult(r: IntentResult): void {
    const p = this.pending.get(r.req_id);
    if (!p) return;
    this.pending.delete(r.req_id);
    clearTimeout(p.timer);
    this.submitLatency.add(this.now() - p.startedAt);
    // The SDK's own resend after a reconnect met the commit of its first send: the caller submitted once, and gets
    // that first outcome (accepted, with its global_seq), not the server's answer to a retry it never made.
    p.resolve(r.status === 'duplicate' && p.sends > 1 ? { ...r, status: 'accepted' } : r);
  }

  private onCancelled(c: Cancelled): void {
    const at = this.now();
    const g = this.generations.get(c.req_id);
    if (!g) {
      this.emit('cancelled', c);
      return;
    }
    this.generations.delete(c.req_id);
    // Aborted once the frames read with this one are decoded (a microtask runs after the socket's read handler):
    // when a read carries many agents' Cancelled frames (a Link), each is heard at once instead of after the
    // teardown of every model stream aborted before it. A socket of its own aborts at once, as before.
    queueMicrotask(() => {
      g.controller.abort(cancelReason(c, g.contextSeq));
      this.cancelLatency.add(this.now() - at);
      this.emit('cancelled', c);
    });
  }

  private onError(e: ErrorBody): void {
    const err = errorFromBody(e);
    if (!this.welcomed) {
      // Refused at Hello. A bad token, a forbidden agent, quarantine or a wrong version: retrying cannot help.
      // Anything else (a transient server error): drop this connection and reconnect with backoff.
      if (err.recovery === 'ABORT') this.leave(`refused by the server: ${e.name}`, err);
      else {
        this.emit('error', err);
        this.ws?.close(4002, 'hello failed');
      }
      return;
    }
    const reqId = typeof e.details['req_id'] === 'string' ? e.details['req_id'] : undefined;
    const p = reqId === undefined ? undefined : this.pending.get(reqId);
    if (p && reqId !== undefined) {
      this.pending.delete(reqId);
      clearTimeout(p.timer);
      p.reject(err);
      return;
    }
    this.emit('error', err);
  }

  /** @internal Time of the last applied delta (local clock), for debouncing. */
  get lastDeltaTime(): number {
    return this.lastDeltaAt;
  }
}
