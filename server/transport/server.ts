/**
 * The uWebSockets.js server: one WebSocket endpoint per world (/v1/worlds/{worldId}/ws, codec chosen by
 * subprotocol, token checked at upgrade when given in the query), health and metrics on the same port, REST for
 * clients without sockets, and a graceful shutdown that loses no acknowledged intent.
 */
import net from 'node:net';
import path from 'node:path';
import type { WebSocket, us_listen_socket } from 'uWebSockets.js';
import { WorldlineError } from '../errors.js';
import { Cors, decodePathSegment, errorStatus, worldNotFound, writeJson } from './http.js';
import { isWorldModule, loadWorld } from '../worlds/index.js';
import type { AgentClassPolicy, WorldDefinition } from '../core/index.js';
import { negotiateSubprotocol, splitChannel, SUBPROTOCOLS, withChannel, type ChannelSplit, type ClientMessage, type Frame, type ServerMessage, type Subprotocol } from '../protocol/index.js';
import { ensureDataDir, hostedWorlds, idProblem, type Config } from '../config.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { createMetrics, type Metrics } from '../obs/metrics.js';
import { createAuthenticator, type Authenticator } from './auth.js';
import { loadNativeUws } from './uws-native.js';
import type { WorldHost } from './world-host.js';
import { ClientAddresses } from './client-address.js';
import { checkTls } from './tls.js';
import { addressKey } from './rate-limit.js';
import { CloseCode, Session, type SessionDeps, type SocketPort } from './session.js';
import { registerRest } from './rest.js';
import { WorldSet, type NewWorld, type ToHost, type WorldSetOptions } from './world-set.js';

/** Upgrade refusals counted as security events (worldline_security_events_total{event="upgrade-refused"}). */
const SECURITY_REFUSALS: ReadonlySet<string> = new Set(['UNAUTHORIZED', 'AGENT_QUARANTINED', 'QUOTA_EXCEEDED']);

export type { NewWorld } from './world-set.js';

interface SocketData {
  readonly worldId: string;
  readonly subprotocol: Subprotocol;
  /** The query token, verified after open (see the upgrade handler for why not before). */
  readonly token: string | undefined;
  readonly ip: string;
  session: Session | undefined;
  closed: boolean;
  /** Sessions on channels 1 and up (docs/protocol.md "Channels"), created by the first frame on each. */
  channels: Map<number, Session> | undefined;
  /** Channel frames waiting for this turn's one corked write (flushChannels). */
  out: Frame[] | undefined;
}

/** One world a running server hosts. */
export interface ServedWorld {
  readonly id: string;
  readonly tenant: string;
  readonly host: WorldHost;
  /** ws[s]://host:port/v1/worlds/{id}/ws */
  readonly wsUrl: string;
  /** Hosted because the configuration (or startServer's code) names it, or because it was created at runtime. */
  readonly origin: 'configured' | 'created';
}

export interface RunningServer {
  readonly port: number;
  /** The first (or only) world's host (a new one after the world is reopened following a log write failure). */
  readonly host: WorldHost;
  /** Every hosted world: the configured ones in the order configured, then those created at runtime. */
  readonly worlds: readonly ServedWorld[];
  readonly auth: Authenticator;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The first (or only) world's ws://host:port/v1/worlds/{worldId}/ws */
  readonly wsUrl: string;
  readonly httpUrl: string;
  /**
   * Opens a new world and hosts it until deleteWorld, also after a restart (it is listed in
   * DATA/created-worlds.json). WORLD_EXISTS when the id is taken, QUOTA_EXCEEDED past maxWorlds.
   */
  createWorld(spec: NewWorld): Promise<ServedWorld>;
  /**
   * Stops hosting a world created at runtime: its sockets are closed (going away; a reconnect then gets
   * WORLD_NOT_FOUND), its log is flushed and closed, and it is no longer listed. Its data stays unless `purge`.
   * A configured world cannot be deleted (FORBIDDEN): the configuration would bring it back.
   */
  deleteWorld(id: string, opts?: { purge?: boolean }): Promise<{ id: string; purged: boolean }>;
  /** Readiness 503, stop accepting, close sockets with going-away, flush and close every world's log. */
  shutdown(reason?: string): Promise<void>;
}

/** A world defined in code for startServer, with its id (default: its name) and tenant (default: cfg.tenant). */
export interface WorldInCode {
  readonly world: WorldDefinition;
  readonly id?: string;
  readonly tenant?: string;
}

export interface ServerDeps {
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly now?: () => number;
  /** The world to host, defined in code (defineWorld); cfg.world is then not looked up, and the world id is its name unless cfg.worldId is set. */
  readonly world?: WorldDefinition;
  /** Several worlds defined in code; cfg.world, cfg.worldId and cfg.worlds are then not used. */
  readonly worlds?: readonly WorldInCode[];
  /**
   * More world definitions that createWorld (and POST /v1/worlds) may run, by name, beside the built-in ones and
   * those the hosted worlds run. A world created from one comes back after a restart only if it is given again.
   */
  readonly templates?: readonly WorldDefinition[];
  /** @internal Every world's log file layer and disk probe interval (tests inject a full disk). */
  readonly logIo?: WorldSetOptions['logIo'];
}

/** The worlds to host: from code (deps.worlds, deps.world) or from the configuration (worlds, or world). */
async function worldsToHost(cfg: Config, deps: ServerDeps): Promise<ToHost[]> {
  let out: ToHost[];
  if (deps.worlds) {
    out = deps.worlds.map((w) => ({ id: w.id ?? w.world.name, tenant: w.tenant ?? cfg.tenant, world: w.world }));
  } else if (deps.world) {
    // A world given in code is named by itself unless worldId was set (left alone, it defaulted to cfg.world).
    out = [{ id: cfg.worldId === cfg.world ? deps.world.name : cfg.worldId, tenant: cfg.tenant, world: deps.world }];
  } else {
    out = [];
    for (const w of hostedWorlds(cfg)) out.push({ id: w.id, tenant: w.tenant, world: await loadWorld(w.world), source: isWorldModule(w.world) ? path.resolve(w.world) : w.world });
  }
  if (out.length === 0) throw new WorldlineError('CONFIG_INVALID', 'no world to host: give world, or worlds, or a world in code');
  const ids = new Set<string>();
  for (const w of out) {
    const problem = idProblem('world id', w.id);
    if (problem !== undefined) throw new WorldlineError('CONFIG_INVALID', problem);
    if (ids.has(w.id)) throw new WorldlineError('CONFIG_INVALID', `two worlds have the id ${JSON.stringify(w.id)}: give each its own id`);
    ids.add(w.id);
  }
  return out;
}

/** Starts a server for the configured worlds; it listens (answering "starting") while they open, and resolves once they are. */
export async function startServer(cfg: Config, deps: ServerDeps = {}): Promise<RunningServer> {
  const uws = loadNativeUws();
  const logger = deps.logger ?? createLogger({ level: cfg.logLevel, redact: cfg.logRedact });
  const metrics = deps.metrics ?? createMetrics();
  const now = deps.now ?? Date.now;
  const toHost = await worldsToHost(cfg, deps);
  // The intent quotas (per agent, of every class; per tenant), with bursts of twice the rate like the frame limit, where
  // the world sets none: a quota the world's own policies give a class or its tenants is the world author's and holds.
  const quota = (rate: number): { rate: number; burst: number } => ({ rate, burst: 2 * rate });
  const configured = (named: WorldDefinition): WorldDefinition => {
    // snapshotEvery, when set, replaces the world's own snapshot policy.
    const snapshotted = cfg.snapshotEvery >= 0 ? { ...named, policies: { ...named.policies, snapshotEvery: cfg.snapshotEvery } } : named;
    return {
      ...snapshotted,
      policies: {
        ...snapshotted.policies,
        // A table without a prototype, as defineWorld makes it: a class named by a client or agentClassOf is looked up own-only.
        agentClasses: Object.assign(Object.create(null) as Record<string, AgentClassPolicy>, Object.fromEntries(Object.entries(snapshotted.policies.agentClasses).map(([name, c]) => [name, { ...c, quota: c.quota ?? quota(cfg.intentsPerSecondPerAgent) }]))),
        tenantQuota: snapshotted.policies.tenantQuota ?? quota(cfg.intentsPerSecondPerTenant),
      },
    };
  };
  ensureDataDir(cfg.dataDir);
  const auth = createAuthenticator({ ...cfg, authMode: cfg.authMode as 'jwt' | 'tokens' }, now);
  const tls = checkTls(cfg, now());
  for (const w of tls.warnings) logger.warn(w);
  // The server listens before the worlds are open (recovering a long log takes a while): meanwhile /livez answers,
  // /readyz says "starting", and upgrades and REST calls are refused with a 503 telling the client to retry shortly.
  // Each world has its own log, tick loop, quarantine and log field (world); they share the port, auth and metrics.
  let worlds: WorldSet | undefined = undefined;
  let hosts: ReadonlyMap<string, WorldHost> = new Map();
  let sessionDeps: ReadonlyMap<string, SessionDeps> = new Map();
  const firstId = (toHost[0] as { id: string }).id;
  const sockets = new Set<WebSocket<SocketData>>();
  /** Closes a socket with going-away (through its session once it has one). */
  const goAway = (ws: WebSocket<SocketData>, reason: string): void => {
    const d = ws.getUserData();
    if (d.session) d.session.close(CloseCode.GOING_AWAY, reason);
    else if (!d.closed) {
      d.closed = true;
      ws.end(CloseCode.GOING_AWAY, reason);
    }
  };
  const perIp = new Map<string, number>();
  /** Open WebSockets by world (idle deletion). */
  const perWorld = new Map<string, number>();
  const clients = new ClientAddresses(cfg.trustProxy);
  let ready = false;
  let draining = false;

  let app: ReturnType<typeof uws.App>;
  try {
    app = tls.files ? uws.SSLApp(tls.files) : uws.App();
  } catch (err) {
    throw new WorldlineError('CONFIG_INVALID', `the listener could not be set up (${(err as Error).message}); check tlsCertFile and tlsKeyFile`);
  }
  app.get('/livez', (res) => writeJson(res, '200 OK', { status: 'ok' }));
  app.get('/readyz', (res) => {
    if (worlds === undefined) return writeJson(res, '503 Service Unavailable', { status: 'starting' });
    const ok = worlds.healthy;
    const status = ready && ok ? 'ready' : draining ? 'draining' : ok ? 'starting' : 'failed';
    writeJson(res, ready && ok ? '200 OK' : '503 Service Unavailable', hosts.size === 1 ? { status } : { status, worlds: Object.fromEntries([...hosts].map(([id, h]) => [id, h.healthy ? 'ok' : 'failed'])) });
  });
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    metrics.registry.metrics().then((text) => {
      if (!aborted) res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', metrics.registry.contentType).end(text));
    }, (err: unknown) => {
      // A metric's collect failed: the scraper gets the error body every refusal has, the operator the cause.
      logger.error({ err }, 'metrics could not be collected');
      const e = new WorldlineError('DATABASE_ERROR', `metrics could not be collected (${err instanceof Error ? err.message : String(err)}); the server log has the cause: scrape again`);
      if (!aborted) writeJson(res, errorStatus(e), { error: e.toJSON() });
    });
  });
  const cors = cfg.corsOrigins.length > 0 ? new Cors(cfg.corsOrigins) : undefined;
  registerRest(app, {
    // Read at each request (REST answers nothing before the worlds are open: isReady).
    get worlds() {
      return sessionDeps;
    },
    auth, logger, metrics, now, maxBody: cfg.maxPayloadLength, bodyTimeoutMs: cfg.bodyTimeoutSec * 1000, isReady: () => ready, clients, ...(cors ? { cors } : {}),
    // Called only once the server listens, by when createWorld is defined.
    manage: { create: (spec) => createWorld(spec), remove: (id, o) => (worlds as WorldSet).delete(id, o), describe: (id) => worlds?.describe(id) ?? {} },
    sessionsOf: (id) => {
      const out = [];
      for (const ws of sockets) {
        const d = ws.getUserData();
        if (d.worldId !== id || d.closed) continue;
        if (d.session) out.push(d.session.info());
        if (d.channels) for (const c of d.channels.values()) out.push(c.info());
      }
      return out.sort((a, b) => (a.connected_at < b.connected_at ? -1 : a.connected_at > b.connected_at ? 1 : a.session < b.session ? -1 : 1));
    },
    onPresence: (id) => worlds?.presence(id),
  });

  /** splitChannel's answer for the socket being read (handlers run one at a time). */
  const route: ChannelSplit = { channel: 0, frame: '' };

  /**
   * Queues a channel's frame for the socket's next write. Every frame queued in one turn of the event loop (a tick's
   * deltas, a quantum's cancels, for all the channels of the socket) leaves in one corked write when the turn's
   * synchronous work is done: one system call per socket instead of one per channel.
   */
  const queueFrame = (ws: WebSocket<SocketData>, d: SocketData, frame: Frame): boolean => {
    if (d.closed) return false;
    if (d.out === undefined) {
      d.out = [frame];
      queued.add(ws);
      if (!flushQueued) {
        flushQueued = true;
        queueMicrotask(flushAll);
      }
    } else d.out.push(frame);
    return true;
  };
  /** Sockets with channel frames waiting (queueFrame). */
  const queued = new Set<WebSocket<SocketData>>();
  let flushQueued = false;
  /** Writes every socket's waiting frames; also run by a quantum as soon as its cancels are out (afterCancels). */
  const flushAll = (): void => {
    flushQueued = false;
    for (const ws of queued) flushChannels(ws, ws.getUserData());
    queued.clear();
  };

  const flushChannels = (ws: WebSocket<SocketData>, d: SocketData): void => {
    const frames = d.out;
    d.out = undefined;
    if (frames !== undefined) writeFrames(ws, d, frames);
  };

  /**
   * Writes frames in one cork: they leave in one write. Counted as sent: those uWS took (not one it dropped over
   * maxBackpressure, nor any after it or after the socket closed). False when one was dropped: uWS then closes the
   * socket, and its clients (every channel's) resume from their view_seq.
   */
  const writeFrames = (ws: WebSocket<SocketData>, d: SocketData, frames: readonly Frame[]): boolean => {
    if (d.closed) return false;
    // Counted in plain numbers per codec, added to the frames and bytes counters at each scrape.
    const sentCount = metrics.sent(d.subprotocol);
    let dropped = false;
    let sent = 0;
    let bytes = 0;
    ws.cork(() => {
      for (const frame of frames) {
        if (d.closed || ws.send(frame, typeof frame !== 'string') === 2) {
          dropped = true;
          break;
        }
        sent++;
        bytes += typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
      }
    });
    sentCount.frames += sent;
    sentCount.bytes += bytes;
    if (dropped) metrics.backpressureCloses.inc();
    return !dropped;
  };

  /** Queues a message on a channel, encoded with the socket's codec. */
  const sendOnChannel = (ws: WebSocket<SocketData>, d: SocketData, channel: number, msg: ServerMessage): void => {
    const codec = (sessionDeps.get(d.worldId) as SessionDeps).host.codecs[d.subprotocol];
    queueFrame(ws, d, withChannel(d.subprotocol, codec.encodeServer(msg), channel));
  };

  /** The socket side of a channel's session: frames carry the channel first and share the socket's writes. */
  const channelPort = (ws: WebSocket<SocketData>, d: SocketData, channel: number): SocketPort => {
    const sub = d.subprotocol;
    return {
      remoteAddress: d.ip,
      channel,
      copiesFrames: true,
      send: (frame) => queueFrame(ws, d, withChannel(sub, frame, channel)),
      sendMany: (frames) => {
        let ok = true;
        for (const f of frames) ok = queueFrame(ws, d, withChannel(sub, f, channel)) && ok;
        return ok;
      },
      close: (code, reason) => {
        // The session ends; the socket and its other channels stay. The client hears it as a close on the channel.
        if (d.channels?.get(channel) === undefined) return;
        d.channels.delete(channel);
        sendOnChannel(ws, d, channel, { type: 'close', code, reason });
      },
      closeConnection: (code, reason) => {
        if (d.closed) return;
        // What the channel was sent (its error) leaves first, then the socket closes: every channel on it ends.
        flushChannels(ws, d);
        d.closed = true;
        ws.cork(() => ws.end(code, reason));
      },
    };
  };

  /** A frame on channel `channel` > 0: to its session, or opening one when it is a hello. */
  const onChannelFrame = (ws: WebSocket<SocketData>, d: SocketData, channel: number, frame: Frame): void => {
    if (d.closed) return;
    const open = d.channels?.get(channel);
    if (open) return open.onFrame(frame);
    const deps = sessionDeps.get(d.worldId) as SessionDeps;
    const codec = deps.host.codecs[d.subprotocol];
    const refuse = (code: number, reason: string, err?: WorldlineError): void => {
      if (err) sendOnChannel(ws, d, channel, { type: 'error', ...err.toJSON(), details: err.details as never });
      sendOnChannel(ws, d, channel, { type: 'close', code, reason });
    };
    // A channel opens with a hello. Anything else on a channel not open (a frame in flight when the server closed it)
    // is answered with a close, charged to the socket's own rate, and opens nothing. Only this first frame is decoded
    // twice (here and by its session).
    let first: ClientMessage | undefined;
    try {
      first = codec.decodeClient(frame);
    } catch {
      first = undefined;
    }
    if (first?.type !== 'hello') {
      if (d.session?.chargeStray() ?? true) refuse(CloseCode.POLICY, `channel ${channel} is not open: open it with a hello`);
      return;
    }
    if ((d.channels?.size ?? 0) >= cfg.maxChannelsPerSocket) {
      if (d.session?.chargeStray() ?? true) {
        refuse(CloseCode.TRY_AGAIN, 'too many channels', new WorldlineError('QUOTA_EXCEEDED', cfg.maxChannelsPerSocket === 0
          ? 'this server does not multiplex sessions on channels (maxChannelsPerSocket is 0): open one WebSocket per session'
          : `at most ${cfg.maxChannelsPerSocket} channels per WebSocket: close one, or open another WebSocket`, { limit: cfg.maxChannelsPerSocket }));
      }
      return;
    }
    deps.host.runtime.afterCancels = flushAll;
    // The socket's sessions share one frame budget: a new channel brings no fresh allowance (Connection).
    const s = new Session(codec, channelPort(ws, d, channel), deps, undefined, d.session?.connection);
    (d.channels ??= new Map()).set(channel, s);
    s.onFrame(frame);
  };

  // uWS drops a connection whose frame is over its limit without a close frame (the client sees 1006): it reads frames
  // up to this larger bound so that the server refuses one over maxPayloadLength itself, with 1009 and a reason. The
  // bound is what a socket may make the server buffer; a frame beyond it is still cut without a close frame.
  const readLimit = Math.max(2 * cfg.maxPayloadLength, cfg.maxPayloadLength + 64 * 1024);
  app.ws<SocketData>('/v1/worlds/:worldId/ws', {
    maxPayloadLength: readLimit,
    maxBackpressure: cfg.maxBackpressure,
    closeOnBackpressureLimit: 1 as unknown as number,
    idleTimeout: cfg.idleTimeoutSec,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      // Everything from req must be read now: it is invalid after the first await.
      const rawWorldId = req.getParameter(0) ?? '';
      const key = req.getHeader('sec-websocket-key');
      const offered = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const token = new URLSearchParams(req.getQuery() ?? '').get('token') ?? undefined;
      const ip = clients.ofUws(res, req);
      const refuse = (err: WorldlineError): void => {
        metrics.upgradesRefused.inc({ code: err.codeName });
        // Only a refusal for what the client is (a token, an address, too many connections) is a security event: an
        // unknown world, a server starting or draining or a missing subprotocol would raise security alerts at every
        // rolling restart.
        if (SECURITY_REFUSALS.has(err.codeName)) metrics.securityEvents.inc({ event: 'upgrade-refused' });
        writeJson(res, errorStatus(err), { error: err.toJSON() });
      };
      // Decoded as REST decodes its path segments, so a client that percent-encodes the id reaches the same world.
      let worldId: string;
      try {
        worldId = decodePathSegment(rawWorldId);
      } catch (err) {
        return refuse(err as WorldlineError);
      }
      // Starting, the server does not know yet which worlds it hosts: every path is told to retry.
      if (worlds === undefined) return refuse(new WorldlineError('SERVER_UNAVAILABLE', 'server is starting (recovering its worlds\' logs): retry shortly'));
      if (!hosts.has(worldId)) return refuse(worldNotFound(worldId));
      if (!ready) return refuse(new WorldlineError('SERVER_UNAVAILABLE', draining ? 'server is shutting down: reconnect to another instance or retry shortly' : 'server is starting: retry shortly'));
      const subprotocol = negotiateSubprotocol(offered);
      if (!subprotocol) return refuse(new WorldlineError('SCHEMA_VERSION_MISMATCH', `offer one of the subprotocols ${SUBPROTOCOLS.join(', ')} in Sec-WebSocket-Protocol`));
      if ((perIp.get(ip) ?? 0) >= cfg.connectionsPerIp) return refuse(new WorldlineError('QUOTA_EXCEEDED', `more than ${cfg.connectionsPerIp} connections from ${ip}`));
      // An address quarantined for what its unauthenticated connections did (bad tokens, bad Hellos) gets no new ones.
      const q = (sessionDeps.get(worldId) as SessionDeps).quarantine;
      if (q.isQuarantined(addressKey(ip), now())) return refuse(q.refusal(addressKey(ip), `address ${ip}`, now()));
      // A token that is not even shaped like one is refused with 401 here. Its signature is checked right after
      // open, before the session may do anything: upgrading after an await trips a uWS v20.30 bug (cork() on an
      // asynchronously upgraded socket can close it; fixed upstream in uWebSockets PR #1929), so the upgrade
      // itself stays synchronous.
      if (token !== undefined && !auth.plausible(token)) return refuse(new WorldlineError('UNAUTHORIZED', 'the token query parameter is not a token this server accepts'));
      res.upgrade<SocketData>({ worldId, subprotocol, token, ip, session: undefined, closed: false, channels: undefined, out: undefined }, key, subprotocol, extensions, context);
    },
    open: (ws) => {
      const d = ws.getUserData();
      sockets.add(ws);
      perIp.set(d.ip, (perIp.get(d.ip) ?? 0) + 1);
      perWorld.set(d.worldId, (perWorld.get(d.worldId) ?? 0) + 1);
      const deps = sessionDeps.get(d.worldId)!;
      const codec = deps.host.codecs[d.subprotocol];
      // Counted in plain numbers per codec, added to the frames and bytes counters at each scrape.
      const sentCount = metrics.sent(d.subprotocol);
      d.session = new Session(codec, {
        remoteAddress: d.ip,
        // uWS copies a message into its own buffers (or the kernel's) before send returns.
        copiesFrames: true,
        send: (frame: Frame) => {
          if (d.closed) return false;
          // Sends often happen after an await (outside any uWS callback): cork so uWS batches and flushes correctly.
          let r = 0;
          ws.cork(() => {
            r = ws.send(frame, typeof frame !== 'string');
          });
          if (r === 2) {
            // Dropped over maxBackpressure: uWS closes the socket; the client resumes from its view_seq.
            metrics.backpressureCloses.inc();
            return false;
          }
          sentCount.frames++;
          sentCount.bytes += typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
          return true;
        },
        sendMany: (frames: readonly Frame[]) => writeFrames(ws, d, frames),
        close: (code: number, reason: string) => {
          if (d.closed) return;
          d.closed = true;
          ws.cork(() => ws.end(code, reason));
        },
      }, deps, d.token === undefined ? undefined : auth.authenticate(d.token));
    },
    message: (ws, message, isBinary) => {
      const d = ws.getUserData();
      if (message.byteLength > cfg.maxPayloadLength) {
        metrics.securityEvents.inc({ event: 'frame-too-large' });
        if (!d.closed) {
          flushChannels(ws, d);
          d.closed = true;
          ws.cork(() => ws.end(CloseCode.TOO_BIG, `frame of ${message.byteLength} bytes is over maxPayloadLength (${cfg.maxPayloadLength}): send smaller frames`));
        }
        return;
      }
      // uWS reuses the message buffer after this callback returns: copy before anything awaits. Into a Buffer (protobufjs
      // reads a Buffer's strings with Node's native UTF-8 decoder, ~7% faster decode) from Node's pool, through a view:
      // ~0.1 us a frame, where message.slice(0) made an ArrayBuffer with a backing store of its own for each (~1 us of
      // CPU with the GC work it brings; an intent frame is ~50 bytes, ten thousand a second at 1,000 clients).
      const frame: Frame = isBinary ? Buffer.from(new Uint8Array(message)) : Buffer.from(message).toString('utf8');
      let split: ChannelSplit;
      try {
        split = splitChannel(d.subprotocol, frame, route);
      } catch (err) {
        d.session?.refuseFrame(err as WorldlineError);
        return;
      }
      if (split.channel === 0) d.session?.onFrame(split.frame);
      else onChannelFrame(ws, d, split.channel, split.frame);
    },
    close: (ws, code) => {
      const d = ws.getUserData();
      d.closed = true;
      logger.debug({ session: d.session?.id, agent_id: d.session?.agentId, code }, 'socket closed');
      sockets.delete(ws);
      const n = (perIp.get(d.ip) ?? 1) - 1;
      if (n <= 0) perIp.delete(d.ip);
      else perIp.set(d.ip, n);
      const w = (perWorld.get(d.worldId) ?? 1) - 1;
      if (w <= 0) perWorld.delete(d.worldId);
      else perWorld.set(d.worldId, w);
      d.session?.onClosed();
      if (d.channels) {
        for (const c of d.channels.values()) c.onClosed();
        d.channels = undefined;
      }
      d.out = undefined;
      queued.delete(ws);
    },
  });

  app.any('/*', (res, req) => {
    const method = req.getCaseSensitiveMethod();
    const url = req.getUrl();
    const err = new WorldlineError('ENDPOINT_NOT_FOUND', `no endpoint for ${method} ${url.slice(0, 200)}: see docs/server.md and docs/openapi.yaml for the endpoints`, { method, path: url.slice(0, 200) });
    // Readable by the pages corsOrigins lets in, as the REST answers are: the client SDK in a browser asks about a
    // WebSocket URL it could not open, and a wrong path must tell it so rather than look like a server that is down.
    writeJson(res, errorStatus(err), { error: err.toJSON() }, cors?.allow(req.getHeader('origin')));
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    // Exclusive: by default uSockets sets SO_REUSEPORT, so a second server started on a port in use (npm start run
    // twice) would listen too, and the kernel would split new connections between two different worlds.
    listenExclusive(uws, app, cfg.host, cfg.port, (s) =>
      s ? resolve(s) : reject(new WorldlineError('CONFIG_INVALID', `cannot listen on ${cfg.host}:${cfg.port}: in use (another server?) or not allowed; stop the other process or pick another --port`)),
    );
  });
  const port = uws.us_socket_local_port(listenSocket as never);
  let opened: WorldSet;
  try {
    opened = await WorldSet.open(toHost, { cfg, logger, metrics, auth, now, configure: configured, ...(deps.templates ? { templates: deps.templates } : {}), ...(deps.logIo ? { logIo: deps.logIo } : {}) });
  } catch (err) {
    // The start fails as it did before the server listened early: nothing may keep the process (or the port) alive,
    // neither the listener nor a connection made while starting (a keep-alive client asking /readyz).
    uws.us_listen_socket_close(listenSocket);
    closeAll(app);
    throw err;
  }
  worlds = opened;
  hosts = opened.hosts;
  sessionDeps = opened.sessionDeps;
  const first = hosts.get(firstId) as WorldHost;
  ready = true;
  // An IPv6 address is bracketed in a URL (ws://[::1]:8080/...), or its colons read as the port's.
  const base = `${net.isIPv6(cfg.host) ? `[${cfg.host}]` : cfg.host}:${port}`;
  logger.info({ port, worlds: [...hosts.keys()], durability: cfg.durability, auth: auth.mode }, `worldline listening on ${base}`);
  const served = (id: string, host: WorldHost): ServedWorld => ({ id, tenant: host.opts.tenant, host, wsUrl: `${tls.files ? 'wss' : 'ws'}://${base}/v1/worlds/${encodeURIComponent(id)}/ws`, origin: opened.origin(id) });
  const createWorld = async (spec: NewWorld): Promise<ServedWorld> => served(spec.id, await opened.create(spec));
  opened.accept({
    count: (id) => perWorld.get(id) ?? 0,
    closeAll: (id, reason) => {
      for (const ws of [...sockets]) if (ws.getUserData().worldId === id) goAway(ws, reason);
    },
  });

  let shuttingDown: Promise<void> | undefined;
  return {
    port, auth, metrics, logger,
    get host() {
      // The world set replaces a world's host when it reopens the world after a log write failure.
      return hosts.get(firstId) ?? first;
    },
    get worlds() {
      return [...hosts].map(([id, host]) => served(id, host));
    },
    wsUrl: served(first.opts.worldId, first).wsUrl,
    httpUrl: `${tls.files ? 'https' : 'http'}://${base}`,
    createWorld,
    deleteWorld: (id, opts) => opened.delete(id, opts),
    shutdown(reason = 'server shutting down: reconnect and resume from your last view_seq') {
      shuttingDown ??= (async () => {
        ready = false;
        draining = true;
        uws.us_listen_socket_close(listenSocket);
        await opened.quiesce();
        for (const ws of [...sockets]) goAway(ws, reason);
        try {
          await opened.close();
        } finally {
          // What is still open now holds nothing to deliver: idle keep-alive HTTP connections (a client polling /readyz
          // on one would be answered 503 for ever and keep the process from exiting) and WebSockets whose client has
          // not read its going-away close. Closing them lets the process exit, also when closing a world failed.
          closeAll(app);
        }
        for (const h of hosts.values()) h.opts.logger.info({ lastSeq: h.log.lastSeq }, 'shut down cleanly');
      })();
      return shuttingDown;
    },
  };
}

/**
 * Closes every socket the app still has (HTTP connections, kept alive or not, and WebSockets). uWS.js v20.30 has
 * app.close(), but its type definitions do not list it.
 */
function closeAll(app: object): void {
  (app as { close(): void }).close();
}

/**
 * app.listen(host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, cb). uWS.js has this form (as it has (port, options, cb)) and
 * exports the constant, but its type definitions list neither.
 */
function listenExclusive(uws: object, app: { listen: unknown }, host: string, port: number, cb: (s: us_listen_socket | false) => void): void {
  const exclusive = (uws as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT;
  (app.listen as (host: string, port: number, options: number, cb: (s: us_listen_socket | false) => void) => unknown).call(app, host, port, exclusive, cb);
}
