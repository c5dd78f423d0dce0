/**
 * One client connection's protocol state machine, independent of the socket library: Hello (authenticate,
 * authorise, register, Welcome with a snapshot or the missed deltas), then intents, generations, cancels, emits and
 * pings. Every bad input gets a typed Error frame; repeated violations quarantine the agent.
 */
import { randomUUID } from 'node:crypto';
import { WorldlineError, isWorldlineError } from '../errors.js';
import type { GenerationToken, IntentOutcome } from '../core/index.js';
import { PROTOCOL_VERSION, checkSchemaVersion, WireSession, type ClientMessage, type Frame, type IntentResult, type JsonObject, type ServerMessage, type WireCodec, type Hello } from '../protocol/index.js';
import { authorize, type Authenticator, type Principal, type Action } from './auth.js';
import { TokenBucket, addressKey, quarantineKeyOf, type Quarantine } from './rate-limit.js';
import type { WorldHost, Subscriber } from './world-host.js';
import type { Logger } from '../obs/logger.js';
import { counterChild, type Metrics } from '../obs/metrics.js';
import { Connection } from './connection.js';
import { countIntentOutcome, logIntent, rejectionBody } from './intent-outcome.js';

export interface SessionDeps {
  readonly host: WorldHost;
  readonly auth: Authenticator;
  readonly quarantine: Quarantine;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly messagesPerSecond: number;
  /** The channels one socket may carry (maxChannelsPerSocket): sizes its connection's burst of Hellos. */
  readonly maxChannelsPerSocket?: number;
  readonly now: () => number;
  /** A connection with no successful Hello after this long is closed (undefined or 0: never). */
  readonly helloTimeoutMs?: number;
}

/** The socket side: send a frame (false when over the buffer limit or closed) and close. */
export interface SocketPort {
  send(frame: Frame): boolean;
  /** Sends frames in one write (corked together); false as for send. */
  sendMany?(frames: readonly Frame[]): boolean;
  close(code: number, reason: string): void;
  /**
   * Closes the whole WebSocket, every session on it (a channel's port; the socket's own closes it with close()): once
   * what a socket's sessions did quarantines its address, nothing more is taken from that socket.
   */
  closeConnection?(code: number, reason: string): void;
  readonly remoteAddress: string;
  /** send() copies the frame before returning (uWS does): frames may then be views into a reused buffer. */
  readonly copiesFrames?: boolean;
  /** The channel this session has on a shared socket (docs/protocol.md "Channels"); 0 or absent: the socket's own. */
  readonly channel?: number;
}

/** WebSocket close codes the server uses. */
export const CloseCode = { NORMAL: 1000, GOING_AWAY: 1001, POLICY: 1008, TOO_BIG: 1009, TRY_AGAIN: 1013 } as const;

type State = 'awaiting-hello' | 'joining' | 'ready' | 'closed';

/**
 * Generations one connection may hold open at once, over all its channels. Each holds its req_id in the core until it
 * is cancelled, submitted or cancelled on request, and for an agent whose view does not change nothing cancels it:
 * without a bound a client could grow server memory by a frame per begin_generation.
 */
export const MAX_OPEN_GENERATIONS = 256;

/** A second Hello on a session: refused (INVALID_INTENT), the session goes on. */
function helloRepeated(): WorldlineError {
  return new WorldlineError('INVALID_INTENT', 'Hello was already received on this connection');
}

/** The longest wait setTimeout takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Frames a client may pipeline behind its Hello before the Welcome (each is handled once the Hello succeeds). */
export const MAX_EARLY_FRAMES = 64;

/** A session as an operator sees it (GET /v1/worlds/{id}/sessions). */
export interface SessionInfo {
  readonly session: string;
  /** Empty until its Hello is accepted. */
  readonly agent_id: string;
  readonly role: string | undefined;
  readonly codec: string;
  /** Its channel on the socket (0: the socket's own session). */
  readonly channel: number;
  readonly address: string;
  readonly state: string;
  /** ISO 8601. */
  readonly connected_at: string;
}

export class Session implements Subscriber {
  readonly id = randomUUID();
  readonly wire = new WireSession();
  agentId = '';
  baseViewSeq = -1;
  private state: State = 'awaiting-hello';
  private principal: Principal | undefined;
  private readonly pendingAuth: Promise<Principal> | undefined;
  private unsubscribe: (() => void) | undefined;
  private detachEngine: (() => void) | undefined;
  private readonly rate: TokenBucket;
  /** What this session shares with the other sessions of its socket (its frame budget). */
  readonly connection: Connection;
  /** This session holds one of its connection's shares of the frame budget (it joined). */
  private sharing = false;
  /** The generations this connection opened that may still be open, by req_id (released when it closes). */
  private readonly generations = new Map<string, GenerationToken>();
  /** req_ids of this session's submit_intents still waiting for their outcome (a req_id sent twice counts twice). */
  private readonly submitting = new Map<string, number>();
  /** Closes the session when its token expires (set once Hello succeeds). */
  private expiryTimer: NodeJS.Timeout | undefined;
  /** IntentResults waiting to ride with this session's next delta (WorldHost.hold). */
  private held: Frame[] | undefined;
  private readonly connectedAt: number;

  /** Who this session is, for operators: no token, nothing from the world. */
  info(): SessionInfo {
    return { session: this.id, agent_id: this.agentId, role: this.principal?.role, codec: this.codec.subprotocol, channel: this.socket.channel ?? 0, address: this.socket.remoteAddress, state: this.state, connected_at: new Date(this.connectedAt).toISOString() };
  }

  /**
   * `preauth`: the verification of a token given at connect time (query parameter), still running. `connection`: the
   * socket's, for a session on a channel of it (the socket's own session starts one).
   */
  constructor(readonly codec: WireCodec, private readonly socket: SocketPort, private readonly deps: SessionDeps, preauth: Promise<Principal> | undefined, connection?: Connection) {
    this.pendingAuth = preauth;
    this.connectedAt = deps.now();
    this.connection = connection ?? new Connection(deps.messagesPerSecond, this.connectedAt, deps.maxChannelsPerSocket);
    // A bad connect-time token ends the connection at once, whether or not Hello ever comes.
    preauth?.catch((err: unknown) => this.violation('auth-failed', isWorldlineError(err) ? err : new WorldlineError('UNAUTHORIZED', 'token rejected')));
    this.rate = new TokenBucket(deps.messagesPerSecond, deps.messagesPerSecond * 2, deps.now());
    const limit = deps.helloTimeoutMs ?? 0;
    if (limit > 0) {
      // A socket that never joins holds a connection slot (and its address's share of connectionsPerIp) for as long as
      // it answers pings: it gets a bounded time to send a Hello that succeeds. A Hello still being handled is let be,
      // and so is the own session of a socket with a channel welcomed (it carries sessions, and need not join itself).
      this.helloTimer = setTimeout(() => {
        if (this.state !== 'awaiting-hello' || (!this.socket.channel && this.connection.carriesChannels)) return;
        this.sendError(new WorldlineError('UNAUTHORIZED', `no successful Hello within ${limit} ms of connecting; reconnect and send Hello first`, { hello_timeout_ms: limit }));
        this.close(CloseCode.POLICY, 'no hello');
      }, limit);
      this.helloTimer.unref?.();
    }
  }

  private helloTimer: NodeJS.Timeout | undefined;

  /**
   * Charges one frame that arrived for this socket but no open session (a channel closed meanwhile) to this session's
   * rate, as a violation beyond it: a client cannot make the server answer unboundedly many of them.
   */
  chargeStray(): boolean {
    return this.state !== 'closed' && this.takeFrame(this.deps.now());
  }

  /**
   * Takes one frame from this session's rate limit and its connection's budget (Connection); beyond either, a
   * violation (QUOTA_EXCEEDED) and false.
   */
  private takeFrame(now: number): boolean {
    if (!this.rate.take(now)) {
      this.overRate(new WorldlineError('QUOTA_EXCEEDED', `more than ${this.deps.messagesPerSecond} frames per second; slow down`, { retry_after_ms: this.rate.retryAfterMs() }));
      return false;
    }
    // A session's own Hello comes out of the connection's Hello budget (a whole Link joining at once fits it).
    if (this.connection.take(now, this.state === 'awaiting-hello')) return true;
    this.overRate(new WorldlineError('QUOTA_EXCEEDED', `more than ${this.deps.messagesPerSecond} frames per second per session joined on this WebSocket (hellos on new channels count too); slow down`, { retry_after_ms: this.connection.retryAfterMs() }));
    return false;
  }

  /**
   * A frame over the rate limit: a violation. Behind a Hello still being handled its error waits for the Welcome, in
   * order with the answers to the frames around it, as a malformed frame's does; the strike counts at once.
   */
  private overRate(err: WorldlineError): void {
    if (this.state !== 'joining') return this.violation('rate-limit', err);
    if (!this.strike('rate-limit', err, false)) this.queueEarly(err);
  }

  /** A frame for this socket that could not even be routed (a bad channel): a malformed frame, as for a bad decode. */
  refuseFrame(err: WorldlineError): void {
    this.violation('malformed-frame', err);
  }

  send(frame: Frame): boolean {
    if (this.state === 'closed') return false;
    return this.socket.send(frame);
  }

  sendMany(frames: readonly Frame[]): boolean {
    if (this.state === 'closed') return false;
    if (this.socket.sendMany) return this.socket.sendMany(frames);
    let ok = true;
    for (const f of frames) ok = this.socket.send(f) && ok;
    return ok;
  }

  takeHeld(): Frame[] | undefined {
    const h = this.held;
    this.held = undefined;
    return h;
  }

  get copiesFrames(): boolean {
    return this.socket.copiesFrames === true;
  }

  private sendMessage(msg: ServerMessage): boolean {
    return this.send(this.codec.encodeServer(msg, this.wire));
  }

  private sendError(err: WorldlineError): void {
    this.sendMessage({ type: 'error', ...err.toJSON(), details: err.details as JsonObject });
  }

  /** A frame arrived. The buffer must already be a copy the session may keep. */
  onFrame(data: Frame): void {
    if (this.state === 'closed') return;
    if (!this.takeFrame(this.deps.now())) return;
    let msg: ClientMessage;
    try {
      msg = this.codec.decodeClient(data);
    } catch (err) {
      const e = isWorldlineError(err) ? err : new WorldlineError('MALFORMED_FRAME', 'the frame could not be decoded');
      if (this.state !== 'joining') return this.refuseUndecoded(e);
      // Behind a Hello still being handled: its error goes out after the Welcome, in order with the frames around it,
      // but the strike counts now (also when the Hello is then refused and the frames behind it dropped).
      if (e.codeName !== 'SCHEMA_VERSION_MISMATCH' && this.strike('malformed-frame', e, false)) return;
      return this.queueEarly(e);
    }
    // Pipelined behind its Hello (a client need not wait for the Welcome): handled once the Hello succeeds, in order,
    // a repeated Hello too (its error then follows the Welcome).
    if (this.state === 'joining') return this.queueEarly(msg);
    // The hot path (every agent, ten times a second): one small async frame waits for the quantum, not onFrame's,
    // handle's and dispatch's (dispatch's frame holds the registers of every case). V8 keeps a waiting async
    // function's frame on the heap, and these wait past young-generation collections, so each is copied and promoted.
    if (msg.type === 'submit_intent' && this.state === 'ready') this.submitIntent(msg).then(undefined, this.failed);
    else this.handle(msg);
  }

  /**
   * A frame that could not be decoded. The decoder checks Hello's schema_version: another major version is a refused
   * Hello, which leaves the socket open for a corrected one (protocol.md), not a broken frame that closes it before Hello.
   */
  private refuseUndecoded(e: WorldlineError): void {
    if (e.codeName === 'SCHEMA_VERSION_MISMATCH') this.sendError(e);
    else this.violation('malformed-frame', e);
  }

  /** Frames that arrived while the Hello was being handled, to handle after it: messages, or the error of one that could not be decoded (its strike already counted). */
  private early: Array<ClientMessage | WorldlineError> | undefined;

  private queueEarly(m: ClientMessage | WorldlineError): void {
    const early = (this.early ??= []);
    if (early.length >= MAX_EARLY_FRAMES) this.sendError(new WorldlineError('QUEUE_FULL', `more than ${MAX_EARLY_FRAMES} frames sent before the Welcome; this one was dropped: wait for the Welcome`, { limit: MAX_EARLY_FRAMES }));
    else early.push(m);
  }

  /**
   * The Hello has ended: handles the frames pipelined behind it if it succeeded. Behind a refused Hello they are
   * dropped (the client has the Hello's error, and sends them again after a corrected Hello), without a strike each.
   */
  private drainEarly(): void {
    const early = this.early;
    this.early = undefined;
    if (!early || this.state !== 'ready') return;
    for (const m of early) {
      if (m instanceof WorldlineError) this.sendError(m);
      else this.handle(m);
    }
  }

  /**
   * Handles one decoded frame, turning its failure into an error frame (and a strike, for a security violation). A
   * frame refused at once is answered at once, so its error keeps its place among the answers to the frames after it
   * (those pipelined behind a Hello are handled in one go).
   */
  private handle(msg: ClientMessage): void {
    try {
      this.dispatch(msg)?.then(undefined, this.failed);
    } catch (err) {
      this.failed(err);
    }
  }

  /** A frame's handling failed: an error frame (and a strike, for a security violation). Bound: a rejection handler. */
  private readonly failed = (err: unknown): void => {
    if (isWorldlineError(err)) {
      // Only an expired token is UNAUTHORIZED once Hello succeeded: not an attack, so no strike; the socket can do
      // nothing more (a second Hello is refused), so it is closed for the client to reconnect with a new token.
      if (err.codeName === 'UNAUTHORIZED' && this.state === 'ready') this.expire();
      else if (err.codeName === 'FORBIDDEN' || err.codeName === 'TENANT_ISOLATION_VIOLATION' || err.codeName === 'UNAUTHORIZED') this.violation('forbidden', err);
      else this.sendError(err);
    } else {
      this.deps.logger.error({ err, session: this.id, agent_id: this.agentId }, 'unexpected error handling a frame');
      this.sendError(new WorldlineError('DATABASE_ERROR', 'internal error handling this frame; it was not applied'));
    }
  };

  private violation(event: string, err: WorldlineError): void {
    if (this.state === 'closed') return;
    if (this.strike(event, err, true)) return;
    // Before Hello a bad frame ends the connection, but not a socket that carries welcomed channels and whose own
    // session need not join (the hello timeout spares it too): its error is sent and counted, and its channels stay.
    if (this.state === 'awaiting-hello' && event !== 'rate-limit' && !(!this.socket.channel && this.connection.carriesChannels)) this.close(CloseCode.POLICY, err.codeName);
  }

  /**
   * Counts a violation against its offender (a security event, logged, a strike), sending its error now when `tell`
   * (else the caller sends it in its turn). True when the strike quarantined the offender: both errors are then sent
   * and the session (or, for an address, its socket) is closed.
   */
  private strike(event: string, err: WorldlineError, tell: boolean): boolean {
    const now = this.deps.now();
    this.deps.metrics.securityEvents.inc({ event });
    this.deps.logger.warn({ event, session: this.id, agent_id: this.agentId, ip: this.socket.remoteAddress, code: err.codeName }, `security event: ${event}`);
    if (tell) this.sendError(err);
    const key = this.quarantineKey();
    if (this.deps.quarantine.strike(key, now)) {
      if (!tell) this.sendError(err);
      this.deps.metrics.securityEvents.inc({ event: 'quarantine' });
      const who = this.principal ? (key === this.principal.agent ? `agent ${key}` : `this ${this.principal.role} token`) : `address ${this.socket.remoteAddress}`;
      this.sendError(this.deps.quarantine.refusal(key, who, now));
      if (this.principal === undefined && this.socket.closeConnection) {
        // The address is quarantined for what this socket did: the socket goes, not only this channel of it.
        this.socket.closeConnection(CloseCode.POLICY, 'quarantined');
        this.onClosed();
      } else this.close(CloseCode.POLICY, 'quarantined');
      return true;
    }
    return false;
  }

  /** Whom a violation counts against (quarantineKeyOf); before a token is verified, the address. */
  private quarantineKey(): string {
    return this.principal ? quarantineKeyOf(this.principal, this.where()) : addressKey(this.socket.remoteAddress);
  }

  /** The world this session is in, as quarantine keys name it. */
  private where(): { tenant: string; world: string } {
    return { tenant: this.deps.host.opts.tenant, world: this.deps.host.opts.worldId };
  }

  private check(action: Action, agentId: string | undefined): void {
    const p = this.principal;
    if (!p) throw new WorldlineError('UNAUTHORIZED', 'send Hello with a token first');
    const where = this.where();
    authorize(p, { ...where, agentId }, action, this.deps.now());
    // A quarantine holds for the agent or token, not just the connection that earned it: its other sessions are refused
    // too, and nobody acts for a quarantined agent.
    this.deps.quarantine.refuseIfQuarantined(p, where, action === 'act', agentId, this.deps.now());
  }

  /** SubmitIntent: its IntentResult once the effect is durable (or the rejection). */
  private async submitIntent(msg: Extract<ClientMessage, { type: 'submit_intent' }>): Promise<void> {
    const rt = this.deps.host.runtime;
    this.check('act', this.agentId);
    const i = msg.intent;
    const t0 = performance.now();
    // A retry of an intent still waiting or committing shares its outcome: it answers 'duplicate', as a retry of one
    // already recorded does, so the intent is accepted (and counted) once.
    const retry = rt.inflightIntent(this.agentId, i.req_id) !== undefined;
    const waiting = this.submitting;
    waiting.set(i.req_id, (waiting.get(i.req_id) ?? 0) + 1);
    let outcome: IntentOutcome;
    try {
      outcome = await rt.submit({ req_id: i.req_id, agent_id: this.agentId, kind: i.kind, payload: i.payload, context_seq: i.context_seq, priority: i.priority, ...(i.deadline_ms !== undefined ? { deadline_ms: i.deadline_ms } : {}) });
    } finally {
      const n = (waiting.get(i.req_id) ?? 1) - 1;
      if (n > 0) waiting.set(i.req_id, n);
      else waiting.delete(i.req_id);
    }
    const r = this.result(outcome, retry);
    const host = this.deps.host;
    if (host.collecting && this.state === 'ready') {
      // Its quantum's deltas are about to go out: ride in the same socket write as this session's delta.
      (this.held ??= []).push(this.codec.encodeServer(r, this.wire));
      host.hold(this);
    } else this.sendMessage(r);
    if (this.deps.logger.isLevelEnabled('debug')) logIntent(this.deps.logger, outcome, r.status, rt.viewSeq(this.agentId), t0, 'ws');
  }

  /** Handles a frame: synchronously as far as it can (a refusal throws), a promise for what waits (undefined when nothing). */
  private dispatch(msg: ClientMessage): Promise<void> | undefined {
    if (msg.type === 'hello') {
      if (this.state !== 'awaiting-hello') throw helloRepeated();
      return this.join(msg);
    }
    if (msg.type === 'close') {
      // Ends this session: a channel's is answered with a close and the socket stays; the socket's own closes it.
      this.close(CloseCode.NORMAL, msg.reason || 'closed by the client');
      return;
    }
    if (this.state !== 'ready') throw new WorldlineError('UNAUTHORIZED', 'the first frame must be Hello');
    const rt = this.deps.host.runtime;
    switch (msg.type) {
      case 'ping':
        this.sendMessage({ type: 'pong', client_time: msg.client_time, server_time: this.deps.now(), sim_time: rt.simTime });
        return;
      case 'submit_intent':
        return this.submitIntent(msg);
      case 'begin_generation': {
        this.check('act', this.agentId);
        const open = this.generations;
        // Counted over every session of the socket: opening channels does not multiply the bound.
        const all = this.connection.generations;
        if (all.size >= MAX_OPEN_GENERATIONS && !open.has(msg.req_id)) {
          // Forget the ones the core has closed meanwhile (their intent was submitted, or a newer one superseded them).
          for (const [t, forget] of all) {
            if (rt.generationOpen(t)) continue;
            all.delete(t);
            forget();
          }
          if (all.size >= MAX_OPEN_GENERATIONS) throw new WorldlineError('QUOTA_EXCEEDED', `at most ${MAX_OPEN_GENERATIONS} open generations per connection (all its channels together): submit or cancel_intent some before beginning another`, { limit: MAX_OPEN_GENERATIONS, req_id: msg.req_id });
        }
        const token = rt.beginGeneration(this.agentId, msg.req_id, msg.context_seq);
        if (!token.reason) {
          open.set(msg.req_id, token);
          all.set(token, () => {
            if (open.get(msg.req_id) === token) open.delete(msg.req_id);
          });
        }
        // Synchronously, inside the quantum that cancels (or at once when the context is already stale).
        token.onCancel((reason) => {
          all.delete(token);
          if (open.get(msg.req_id) === token) open.delete(msg.req_id);
          const raw = reason.details['stale_due_to'];
          const stale = Array.isArray(raw) ? (raw as Array<{ view_seq: number; global_seq: number; kind: string }>) : [];
          counterChild(this.deps.metrics.cancels, reason.codeName).inc();
          // The short reason (the core's message repeats the req_id and agent): a hundred agents' Cancelled frames of
          // one burst then fit one 16 KB write of a shared socket (a Link), which its reader takes in one read.
          const why = reason.details['reason'];
          this.sendMessage({ type: 'cancelled', req_id: msg.req_id, reason: typeof why === 'string' ? why : reason.message, stale_due_to: stale.map((c) => ({ view_seq: c.view_seq, global_seq: c.global_seq, kind: c.kind })), server_time: this.deps.host.cancelTime() });
        });
        return;
      }
      case 'cancel_intent': {
        this.check('act', this.agentId);
        // An intent this session submitted is answered once, by its submit's intent_result (cancelled, or its outcome
        // when it was already committing): a second one for the same req_id would read as a second intent.
        const mine = this.submitting.has(msg.req_id);
        // One already committing is answered with its outcome once durable (cancelSettled), as its submitter is.
        return rt.cancelSettled(this.agentId, msg.req_id).then((r) => {
          if (r.status !== 'unknown' && mine) return;
          if (r.status === 'cancelled') this.sendMessage({ type: 'intent_result', req_id: msg.req_id, status: 'cancelled' });
          else if (r.status === 'already_completed' && r.outcome) this.sendMessage(this.result(r.outcome, true));
          else throw new WorldlineError('INVALID_INTENT', `no pending intent or generation with req_id ${msg.req_id} to cancel`, { req_id: msg.req_id });
        });
      }
      case 'emit':
        this.check('emit', undefined);
        return this.emit(msg);
      case 'time_tick':
        this.checkEngine();
        return this.deps.host.engine.onTimeTick(this, msg);
      case 'collision_event':
        this.checkEngine();
        return this.deps.host.engine.onCollision(this, msg);
      case 'position_report':
        this.checkEngine();
        return this.deps.host.engine.onPositions(this, msg);
    }
  }

  /**
   * Engine frames come from the world's engine: an engine token's session that joined without an agent. One that
   * joined with an agent (Hello's agent_id, or the token's agent claim) observes that agent instead, and is told so.
   */
  private checkEngine(): void {
    this.check('engine', undefined);
    if (!this.detachEngine && this.agentId) {
      throw new WorldlineError('FORBIDDEN', `this engine connection joined as an observer of agent ${this.agentId}, not as the world's engine: an engine drives the world only when it joins without an agent (an empty Hello agent_id, and a token without an agent claim: worldline token --role engine)`, { agent_id: this.agentId });
    }
  }

  /** Emit (trusted sources): an effect; with a req_id, its intent_result. */
  private async emit(msg: Extract<ClientMessage, { type: 'emit' }>): Promise<void> {
    const rt = this.deps.host.runtime;
    let out: Awaited<ReturnType<typeof rt.emit>>;
    try {
      out = await rt.emit({ kind: msg.kind, payload: msg.payload, source_id: `${this.principal!.role}:${this.principal!.agent ?? this.id}`, priority: msg.priority });
    } catch (err) {
      // Refused before it was queued (unknown kind, bad payload): with a req_id the client waits for that req_id's
      // intent_result, which an error frame (carrying no req_id) would never give it.
      if (!msg.req_id || !isWorldlineError(err)) throw err;
      this.sendMessage({ type: 'intent_result', req_id: msg.req_id, status: 'rejected', error: { ...err.toJSON(), details: err.details as JsonObject } });
      return;
    }
    if (msg.req_id) {
      this.sendMessage(out.status === 'committed'
        ? { type: 'intent_result', req_id: msg.req_id, status: 'accepted', global_seq: out.effect.global_seq }
        : { type: 'intent_result', req_id: msg.req_id, status: 'rejected', error: { ...out.error, recovery: 'MODIFY_INTENT', details: out.error.details as JsonObject } });
    }
  }

  private result(o: IntentOutcome, replay = false): IntentResult {
    const status = countIntentOutcome(this.deps.metrics, o, replay);
    if (o.status === 'committed') return { type: 'intent_result', req_id: o.req_id, status: status as 'accepted' | 'duplicate', global_seq: o.global_seq };
    if (o.status === 'rejected') {
      const body = rejectionBody(o.error);
      return { type: 'intent_result', req_id: o.req_id, status: 'rejected', error: { ...body, details: body.details as JsonObject } };
    }
    return { type: 'intent_result', req_id: o.req_id, status: 'cancelled' };
  }

  /** A Hello, then the frames pipelined behind it (only by the Hello that began joining, not a repeated one). */
  private async join(h: Hello): Promise<void> {
    const first = this.state === 'awaiting-hello';
    try {
      await this.hello(h);
    } finally {
      if (first) this.drainEarly();
    }
  }

  private async hello(h: Hello): Promise<void> {
    if (this.state !== 'awaiting-hello') throw helloRepeated();
    // A quarantined address gets no new sessions: not at the upgrade, and not on a socket it opened before (its own
    // session's Hello, or one opening a channel).
    const address = addressKey(this.socket.remoteAddress);
    if (this.deps.quarantine.isQuarantined(address, this.deps.now())) {
      this.sendError(this.deps.quarantine.refusal(address, `address ${this.socket.remoteAddress}`, this.deps.now()));
      this.close(CloseCode.POLICY, 'quarantined');
      return;
    }
    checkSchemaVersion(h.schema_version, 'client');
    this.state = 'joining';
    try {
      if (h.token) this.principal = await this.deps.auth.authenticate(h.token);
      else if (this.pendingAuth) this.principal = await this.pendingAuth;
      // The socket may have closed while the token was verified: attach nothing to a connection that is gone.
      if ((this.state as State) === 'closed') return;
      if (!this.principal) throw new WorldlineError('UNAUTHORIZED', 'no token: send one in Hello or the token query parameter');
      const agentId = h.agent_id || this.principal.agent || '';
      if (this.principal.role === 'engine' && !agentId) {
        // The engine drives the world and sees no agent's view.
        this.check('engine', undefined);
        this.detachEngine = this.deps.host.engine.attach(this);
        this.joined();
        this.armExpiry();
        const host = this.deps.host;
        this.sendMessage({ type: 'welcome', session: this.id, world: host.opts.worldId, agent: '', schema_version: PROTOCOL_VERSION, server_time: this.deps.now(), view_seq: 0, incarnation: host.incarnation });
        this.deps.logger.info({ session: this.id, role: 'engine', codec: this.codec.subprotocol }, 'engine attached: the world now advances on its TimeTicks');
        return;
      }
      if (!agentId) throw new WorldlineError('INVALID_AGENT_ID', 'Hello needs agent_id (or a token with an agent claim); engines may leave it empty');
      this.check('observe', agentId);
      this.agentId = agentId;
      const rt = this.deps.host.runtime;
      if (this.principal.role === 'agent') await rt.registerAgent(agentId, { tenant: this.principal.tenant });
      else rt.observe(agentId); // throws INVALID_AGENT_ID for an agent not in this world
    } catch (err) {
      // A refused Hello may be corrected, unless the socket is already gone: a closed session stays closed.
      if ((this.state as State) !== 'closed') this.state = 'awaiting-hello';
      throw err;
    }
    // The Welcome's view is one whose quantum has been delivered (durable, and where the resume history ends): a
    // client that reconnects with it right away resumes with deltas, never a snapshot for being ahead of delivery.
    await this.deps.host.caughtUp();
    if ((this.state as State) === 'closed') return;
    // From here to subscribe() runs without awaiting, so no quantum can slip between the Welcome and the stream.
    const host = this.deps.host;
    // A view_seq of another incarnation of this world (deleted with purge, created again under its id) numbers another
    // world's views: its deltas would not apply to the client's view, so it gets a snapshot.
    const incarnation = host.incarnation;
    const resumable = h.resume !== undefined && (h.resume.incarnation === undefined || h.resume.incarnation === incarnation);
    const plan = resumable ? host.resumePlan(this.agentId, h.resume!.view_seq) : { kind: 'snapshot' as const };
    const welcome = { type: 'welcome' as const, session: this.id, world: host.opts.worldId, agent: this.agentId, schema_version: PROTOCOL_VERSION, server_time: this.deps.now(), incarnation };
    if (plan.kind === 'deltas') {
      this.sendMessage({ ...welcome, view_seq: h.resume!.view_seq });
      for (const d of plan.deltas) this.send(host.encodeDelta(this, d));
      this.baseViewSeq = plan.deltas.length ? plan.deltas[plan.deltas.length - 1]!.view_seq : h.resume!.view_seq;
    } else {
      const o = host.runtime.observe(this.agentId);
      this.baseViewSeq = o.view_seq;
      this.sendMessage({ ...welcome, view_seq: o.view_seq, snapshot: { view_seq: o.view_seq, view: o.view as unknown as JsonObject, context_digest: o.context_digest } });
    }
    this.unsubscribe = host.subscribe(this);
    this.joined();
    this.armExpiry();
    // A world paused for its engine: say so, as the sessions connected when the engine left were told.
    if (host.engine.paused) this.sendError(host.engine.pausedError());
    this.deps.logger.info({ session: this.id, agent_id: this.agentId, role: this.principal!.role, codec: this.codec.subprotocol, resumed: plan.kind === 'deltas' }, 'session joined');
  }

  /** The Hello succeeded. */
  private joined(): void {
    this.state = 'ready';
    clearTimeout(this.helloTimer);
    this.sharing = true;
    this.connection.sessionJoined(this.deps.now(), (this.socket.channel ?? 0) !== 0);
  }

  /** Arms the close at the token's expiry. */
  private armExpiry(): void {
    const exp = this.principal?.expiresAt;
    if (exp === undefined || this.state === 'closed') return;
    const ms = exp - this.deps.now();
    // A timer waits at most 2^31 - 1 ms (~24.8 days; longer fires at once): a token valid for longer is re-armed in
    // steps until its expiry is within one.
    const step = Math.min(Math.max(0, ms), MAX_TIMER_MS);
    // Not unref'd: its wait is another number of ms for each session, and Node keeps an unref'd timer's list for its
    // wait after clearTimeout until the wait would have ended (a token's lifetime, up to days): every session that
    // joined left one behind. The socket keeps the process alive anyway, and onClosed clears this timer.
    this.expiryTimer = setTimeout(() => (ms > MAX_TIMER_MS ? this.armExpiry() : this.expire()), step);
  }

  /** EngineSocket: a newer engine connection drives the world now; this one is told and closed (it must not fight back). */
  replaced(): void {
    if (this.state === 'closed') return;
    this.sendError(new WorldlineError('FORBIDDEN', "another engine connection took over this world (the newest engine wins): this one no longer drives it; if that was not this game reconnecting, two engines are configured for one world", { world: this.deps.host.opts.worldId }));
    this.close(CloseCode.POLICY, 'replaced by a newer engine connection');
  }

  /** The token expired: say so and close; the client reconnects with a new token and resumes. */
  private expire(): void {
    if (this.state === 'closed') return;
    this.sendError(new WorldlineError('UNAUTHORIZED', 'token expired: reconnect with a new token and resume from your last view_seq'));
    this.close(CloseCode.POLICY, 'token expired');
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.socket.close(code, reason);
    this.onClosed();
  }

  /** The socket is gone: stop delivering. Never touch the socket after this. */
  onClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.expiryTimer);
    clearTimeout(this.helloTimer);
    if (this.sharing) {
      this.sharing = false;
      this.connection.sessionLeft(this.deps.now());
    }
    this.unsubscribe?.();
    // Nobody is left to hear these generations' cancels: close them in the core rather than hold them for good.
    for (const token of this.generations.values()) {
      this.connection.generations.delete(token);
      this.deps.host.runtime.releaseGeneration(token);
    }
    this.generations.clear();
    if (this.detachEngine) this.deps.logger.warn({ session: this.id }, 'engine detached');
    this.detachEngine?.();
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }
}
