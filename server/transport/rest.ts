/**
 * REST for clients without sockets (docs/openapi.yaml): submit an intent, observe by long poll, emit, cancel.
 * The token comes as `Authorization: Bearer <token>` or the `token` query parameter; the same authorisation rules
 * as the WebSocket apply.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { WorldlineError, isWorldlineError } from '../errors.js';
import type { JsonValue } from '../core/index.js';
import { MAX_INCARNATION } from '../protocol/index.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { authorize, type Authenticator, type Principal, type Action } from './auth.js';
import { heldOps } from './resume-history.js';
import { addressKey, quarantineKeyOf, type Quarantine } from './rate-limit.js';
import type { WorldHost } from './world-host.js';
import type { SessionInfo } from './session.js';
import { decodePathSegment, errorStatus, worldNotFound, writeJson, type Cors } from './http.js';
import type { ClientAddresses } from './client-address.js';
import { countIntentOutcome, logIntent, rejectionBody } from './intent-outcome.js';

/** A hosted world as REST reaches it: its host and its sessions' quarantine. */
export interface RestWorld {
  readonly host: WorldHost;
  /** The WebSocket sessions' quarantine of this world: an agent quarantined there is refused here too. */
  readonly quarantine?: Quarantine;
}

export interface RestDeps {
  /** The hosted worlds by id, in the order configured. */
  readonly worlds: ReadonlyMap<string, RestWorld>;
  readonly auth: Authenticator;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now: () => number;
  readonly maxBody: number;
  /** How long a request's body may take to arrive whole (readJson's deadline); 10 s when absent. */
  readonly bodyTimeoutMs?: number;
  readonly isReady: () => boolean;
  /** Origins whose browser pages may call these endpoints (none when absent). */
  readonly cors?: Cors;
  /** Who a request's client is (trustProxy), for quarantine and security events. */
  readonly clients: ClientAddresses;
  /** Creates and deletes worlds at runtime (POST and DELETE /v1/worlds), for admin tokens. */
  readonly manage?: WorldManager;
  /** Told of each authorised agent request on a world (intents, cancels, emits, observes): presence, for idle deletion. */
  readonly onPresence?: (worldId: string) => void;
  /** The WebSocket sessions open on a world, for its admins. */
  readonly sessionsOf?: (worldId: string) => SessionInfo[];
}

/** What REST needs to create and delete worlds (the running server's createWorld and deleteWorld). */
export interface WorldManager {
  create(spec: { id: string; world: string; tenant: string; deleteAfterIdleSec?: number; purgeOnDelete?: boolean }): Promise<{ host: WorldHost }>;
  /** With `tenant`, kept data of a deleted world (not hosted) is purged only for that tenant. */
  remove(id: string, opts: { purge: boolean; tenant?: string }): Promise<{ id: string; purged: boolean }>;
  /** A hosted world's origin and, if created at runtime, its creation settings (shown with it). */
  describe?(id: string): Record<string, unknown>;
}

/** A world as GET /v1/worlds lists it; `about` adds its origin and creation settings when the server tracks them. */
function worldEntry(h: WorldHost, about?: WorldManager['describe']): Record<string, unknown> {
  return {
    id: h.opts.worldId, world: h.opts.world.name, tenant: h.opts.tenant, healthy: h.healthy,
    global_seq: h.runtime.lastGlobalSeq, tick: h.runtime.currentTick, ws_path: `/v1/worlds/${encodeURIComponent(h.opts.worldId)}/ws`,
    // Waiting for its engine to reconnect (engineDisconnect 'pause'): it takes no tick, REST intents are refused.
    paused: h.engine.paused,
    ...about?.(h.opts.worldId),
  };
}

interface Request {
  readonly params: string[];
  /** The world named by the path's first segment. */
  readonly world: RestWorld;
  readonly query: URLSearchParams;
  readonly token: string | undefined;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
  readonly from: RequestOrigin;
}

/** Who sent a request and what it asked for, as security events name it. */
interface RequestOrigin {
  readonly ip: string;
  readonly method: string;
  readonly path: string;
}

/** A request's abort state: set when the client goes away; `onAbort` lets a pending read settle then. */
export interface RequestState {
  aborted: boolean;
  onAbort?: (() => void) | undefined;
  /** The body was refused before it was all read (too large, too slow): the answer closes the connection. */
  closeAfter?: boolean;
  /** Aborted with the request, for handlers that wait (long polls). */
  readonly controller: AbortController;
}

/** Registers the response's (single) onAborted handler and returns the state it maintains. */
export function trackAbort(res: HttpResponse): RequestState {
  const state: RequestState = { aborted: false, controller: new AbortController() };
  res.onAborted(() => {
    state.aborted = true;
    state.onAbort?.();
    state.controller.abort();
  });
  return state;
}

/**
 * Reads the whole body (bounded in size, and in time: `deadlineMs` for all of it) as JSON. uWS's own timeout restarts
 * with every byte, so a client trickling a byte at a time would otherwise hold the request, its handler and its
 * connection as long as it liked. A body refused before it was all read closes the connection with the answer.
 */
export function readJson(res: HttpResponse, max: number, state: RequestState, deadlineMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const settle = (err: WorldlineError | undefined, value?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      chunks.length = 0;
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => {
      state.closeAfter = true;
      settle(new WorldlineError('OPERATION_TIMEOUT', `the request body did not arrive whole within ${deadlineMs} ms (${size} bytes came): send it at once, and retry`));
    }, deadlineMs);
    // uWS sends no more data after an abort: without this the read, its chunks and the handler awaiting it would
    // be held forever, for every upload a client abandons.
    state.onAbort = () => settle(new WorldlineError('MALFORMED_FRAME', 'the client went away before the request body was complete'));
    if (state.aborted) state.onAbort();
    res.onData((ab, isLast) => {
      if (state.aborted || done) return;
      size += ab.byteLength;
      if (size > max) {
        if (!isLast) state.closeAfter = true;
        return settle(new WorldlineError('PAYLOAD_TOO_LARGE', `request body over ${max} bytes (maxPayloadLength): send a smaller one`, { max_bytes: max }));
      }
      chunks.push(Buffer.from(ab.slice(0)));
      if (isLast) {
        let value: unknown;
        try {
          value = size === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return settle(new WorldlineError('MALFORMED_FRAME', 'request body is not valid JSON'));
        }
        settle(undefined, value);
      }
    });
  });
}

/**
 * A query parameter read as a whole number in decimal digits: undefined when absent, NaN for anything else (Number()
 * would read '' as 0, '0x10' as 16 and '1e3' as 1000, numbers the client did not write).
 */
const decimal = (text: string | null): number | undefined => (text === null ? undefined : /^[0-9]+$/.test(text) ? Number(text) : NaN);

/** Long polls that may wait at once for one agent's view (GET .../observe?after=N). */
export const MAX_POLLS_PER_AGENT = 8;

const obj = (v: unknown, what: string): Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new WorldlineError('INVALID_INTENT', `${what} must be a JSON object`);
  return v as Record<string, unknown>;
};

export function registerRest(app: TemplatedApp, deps: RestDeps): void {
  /**
   * The request's token: `Authorization: Bearer`, else the `token` query parameter. The scheme is case-insensitive
   * (RFC 7235 2.1): clients that build the header from an OAuth `token_type` send `bearer`.
   */
  const tokenOf = (req: HttpRequest, query: URLSearchParams): string | undefined => {
    const bearer = /^bearer +(\S+) *$/i.exec(req.getHeader('authorization'));
    return bearer ? bearer[1] : query.get('token') ?? undefined;
  };
  /** The token's principal; without one, an UNAUTHORIZED that says where a REST request puts it (not in a Hello). */
  const authenticate = (token: string | undefined): Promise<Principal> =>
    token ? deps.auth.authenticate(token) : Promise.reject(new WorldlineError('UNAUTHORIZED', 'no token: send one as `Authorization: Bearer <token>` or in the token query parameter'));

  /** Writes a handler's outcome: its result as JSON, or its typed error with the catalogue's status (a denial logged as a security event, `from` naming the request). */
  const respond = (res: HttpResponse, state: RequestState, allowOrigin: string | undefined, outcome: Promise<unknown>, ok: string, from: RequestOrigin): void => {
    outcome.then(
      (out) => !state.aborted && writeJson(res, ok, out, allowOrigin),
      (err: unknown) => {
        if (state.aborted) return;
        const e = isWorldlineError(err) ? err : new WorldlineError('DATABASE_ERROR', 'internal error; the request was not applied');
        if (!isWorldlineError(err)) deps.logger.error({ err, ...from }, 'REST handler failed');
        if (e.codeName === 'UNAUTHORIZED' || e.codeName === 'FORBIDDEN' || e.codeName === 'TENANT_ISOLATION_VIOLATION' || e.codeName === 'AGENT_QUARANTINED') {
          deps.metrics.securityEvents.inc({ event: 'rest-denied' });
          // As a socket's violations are: an operator sees who was refused what (the path, never the query: it may hold the token).
          deps.logger.warn({ event: 'rest-denied', code: e.codeName, ...from }, 'security event: rest-denied');
        }
        writeJson(res, errorStatus(e), { error: e.toJSON() }, allowOrigin, state.closeAfter === true);
      },
    );
  };

  /**
   * What every handler starts with: abort tracking, the query and token, the body (bounded, when it takes one) and
   * readiness; `fn`'s result is written as JSON with status `ok`, its typed error with the catalogue's status. Reads
   * everything from `req` before returning (it is invalid after the first await).
   */
  const handle = (res: HttpResponse, req: HttpRequest, needsBody: boolean, ok: string | undefined, fn: (query: URLSearchParams, token: string | undefined, body: Promise<unknown>, signal: AbortSignal, from: RequestOrigin) => Promise<unknown>): void => {
    const state = trackAbort(res);
    const query = new URLSearchParams(req.getQuery() ?? '');
    const token = tokenOf(req, query);
    const allowOrigin = deps.cors?.allow(req.getHeader('origin'));
    const from: RequestOrigin = { ip: deps.clients.ofUws(res, req), method: req.getCaseSensitiveMethod(), path: req.getUrl().slice(0, 200) };
    const body = needsBody ? readJson(res, deps.maxBody, state, deps.bodyTimeoutMs) : Promise.resolve(undefined);
    // A request refused before its body is awaited (not ready, wrong world, bad token) must not leave the body's
    // rejection unhandled: in Node 20 that ends the process. The handler still sees it when it awaits the body.
    body.catch(() => {});
    respond(res, state, allowOrigin, (async () => {
      if (!deps.isReady()) throw new WorldlineError('SERVER_UNAVAILABLE', 'server is not ready (starting or shutting down): retry shortly');
      return fn(query, token, body, state.controller.signal, from);
    })(), ok ?? '200 OK', from);
  };

  /** Wraps an async handler of a world's path: handle, then the world (unknown: 404 before auth, unless notHosted), then auth. */
  const route = (paramCount: number, needsBody: boolean, fn: (req: Request, body: unknown, principal: Principal) => Promise<unknown>, ok?: string, notHosted?: (id: string, query: URLSearchParams, principal: Principal) => Promise<unknown>) => (res: HttpResponse, req: HttpRequest): void => {
    // uWS hands path parameters over as they are on the wire: percent-decoded below, where a bad escape is a 400.
    const rawParams = Array.from({ length: paramCount }, (_, i) => req.getParameter(i) ?? '');
    handle(res, req, needsBody, ok, async (query, token, body, signal, from) => {
      const params = rawParams.map(decodePathSegment);
      const world = deps.worlds.get(params[0] as string);
      if (!world && !notHosted) throw worldNotFound(params[0] as string);
      // As on the WebSocket, a refused token is a strike against the client's address in that world (check() refuses
      // a quarantined address).
      const principal = await authenticate(token).catch((err: unknown) => {
        if (world?.quarantine) strike(world.quarantine, addressKey(from.ip), from);
        throw err;
      });
      if (!world) return (notHosted as NonNullable<typeof notHosted>)(params[0] as string, query, principal);
      return fn({ params, world, query, token, signal, from }, await body, principal);
    });
  };

  // The worlds a token may reach here: its tenant's, and of those its own world unless it is an admin token.
  app.get('/v1/worlds', (res, req) => handle(res, req, false, undefined, async (_query, token) => {
    // authenticate refuses an expired token; nothing here outlives the request, so expiry needs no recheck.
    const p = await authenticate(token);
    const worlds = [...deps.worlds.values()].map((w) => w.host).filter((h) => h.opts.tenant === p.tenant && (p.role === 'admin' || p.world === h.opts.worldId));
    return { worlds: worlds.map((h) => worldEntry(h, deps.manage?.describe)) };
  }));

  const purgeOf = (query: URLSearchParams): boolean => {
    const purge = query.get('purge');
    if (purge !== null && purge !== 'true' && purge !== 'false') throw new WorldlineError('CONFIG_INVALID', `purge must be true or false, got ${JSON.stringify(purge)}`, { field: 'purge' });
    return purge === 'true';
  };
  const manager = (): WorldManager => {
    if (!deps.manage) throw new WorldlineError('FORBIDDEN', 'this server does not create or delete worlds at runtime');
    return deps.manage;
  };

  // Creates a world in the admin token's tenant: {id, world} where world names a definition the server has.
  app.post('/v1/worlds', (res, req) => handle(res, req, true, '201 Created', async (_query, token, body) => {
    const p = await authenticate(token);
    // In its own tenant and as its own world: only the role is in question.
    authorize(p, { tenant: p.tenant, world: p.world, agentId: undefined }, 'manage', deps.now());
    const manage = manager();
    const b = obj(await body, 'body');
    const field = (k: string): string => {
      const v = b[k];
      if (typeof v !== 'string' || v === '') throw new WorldlineError('CONFIG_INVALID', `the body needs a string ${k}, e.g. {"id":"match-1","world":"arena"}`, { field: k });
      return v;
    };
    const id = field('id');
    const world = field('world');
    if (b['tenant'] !== undefined && b['tenant'] !== p.tenant) throw new WorldlineError('TENANT_ISOLATION_VIOLATION', `this token belongs to tenant ${p.tenant}: it creates worlds of that tenant only`, { tenant: p.tenant });
    // Checked by create (a whole number of seconds, a boolean): passed on only when given.
    const idle = b['delete_after_idle_sec'];
    const purge = b['purge_on_delete'];
    const made = await manage.create({ id, world, tenant: p.tenant, ...(idle !== undefined ? { deleteAfterIdleSec: idle as number } : {}), ...(purge !== undefined ? { purgeOnDelete: purge as boolean } : {}) });
    deps.logger.info({ world: id, definition: world, tenant: p.tenant, by: p.agent ?? p.role }, 'world created over REST');
    return worldEntry(made.host, manage.describe);
  }));

  // Browsers ask before a cross-origin POST with a JSON body or a bearer token (a CORS preflight).
  if (deps.cors) {
    const cors = deps.cors;
    app.options('/v1/worlds/*', (res, req) => cors.preflight(res, req.getHeader('origin')));
    app.options('/v1/worlds', (res, req) => cors.preflight(res, req.getHeader('origin')));
  }

  /**
   * A world whose host is closing takes nothing more (what it takes now would never be committed nor answered): it was
   * deleted (unhosted before it closes; a shutdown unhosts nothing), the server is shutting down, or the host was
   * replaced by one reopened after a log write failure.
   */
  const refuseIfClosing = (host: WorldHost, retry: string): void => {
    if (!host.isClosing) return;
    if (host.replaced) throw new WorldlineError('LOG_WRITE_FAILED', `the world was reopened after a log write failure: ${retry}`, { retryable: true });
    // A deleted world's view_seqs and req_ids mean nothing to a world created again with its id: final, as every later
    // request on it is.
    const id = host.opts.worldId;
    if (deps.worlds.get(id)?.host !== host) throw new WorldlineError('WORLD_NOT_FOUND', `world ${id} was deleted meanwhile`, { world: id });
    throw new WorldlineError('SERVER_UNAVAILABLE', `server is shutting down: ${retry} once it is back`);
  };

  /**
   * A world paused for its engine commits nothing until the engine is back, however long that takes: an HTTP request
   * would hang that long with no answer (a socket's client was told, and its result comes when the world runs again).
   */
  const refusePaused = (host: WorldHost): void => {
    if (host.engine.paused) throw host.engine.pausedError();
  };

  const check = (r: Request, p: Principal, action: Action, agentId: string | undefined): void => {
    const w = r.world;
    const where = { tenant: w.host.opts.tenant, world: w.host.opts.worldId };
    // An address quarantined for its bad tokens (here or on a socket) is refused in the world as at the upgrade, but
    // for its tenant's admins managing it: an operator on that host must still be able to see and lift it.
    const ipKey = addressKey(r.from.ip);
    if (action !== 'manage' && w.quarantine?.isQuarantined(ipKey, deps.now())) throw w.quarantine.refusal(ipKey, `address ${r.from.ip}`, deps.now());
    try {
      authorize(p, { ...where, agentId }, action, deps.now());
    } catch (err) {
      // Reading or acting beyond the token is a violation, as on the WebSocket: a strike against the agent or token.
      if (w.quarantine) strike(w.quarantine, quarantineKeyOf(p, where), r.from);
      throw err;
    }
    // As on the WebSocket: a quarantined agent or token is refused, and nobody acts for a quarantined agent.
    w.quarantine?.refuseIfQuarantined(p, where, action === 'act', agentId, deps.now());
  };
  /** check, for a request that plays in the world (not one that only reads or manages it): it counts as presence. */
  const play = (r: Request, p: Principal, action: Action, agentId: string | undefined): void => {
    check(r, p, action, agentId);
    deps.onPresence?.(r.world.host.opts.worldId);
  };

  /** Counts a REST violation (already logged as rest-denied) against `key`; quarantining it is a security event too. */
  const strike = (q: Quarantine, key: string, from: RequestOrigin): void => {
    if (!q.strike(key, deps.now())) return;
    deps.metrics.securityEvents.inc({ event: 'quarantine' });
    deps.logger.warn({ event: 'quarantine', key, ip: from.ip }, 'security event: quarantine');
  };

  const agentOf = (p: Principal, b: Record<string, unknown>): string => {
    const a = typeof b['agent_id'] === 'string' && b['agent_id'] ? b['agent_id'] : p.agent;
    if (!a) throw new WorldlineError('INVALID_AGENT_ID', 'give agent_id (or use a token with an agent claim)');
    return a;
  };

  // One world, as the list gives it, for a token that may reach it (its tenant's; its own world unless admin).
  app.get('/v1/worlds/:worldId', route(1, false, async (r, _b, p) => {
    check(r, p, 'observe', p.agent);
    return worldEntry(r.world.host, deps.manage?.describe);
  }));

  // Deletes a world created at runtime (the token an admin of its tenant); ?purge=true deletes its data too, also the
  // data a world deleted without purge left behind.
  app.del('/v1/worlds/:worldId', route(1, false, async (r, _b, p) => {
    check(r, p, 'manage', undefined);
    return manager().remove(r.params[0] as string, { purge: purgeOf(r.query) });
  }, undefined, async (id, query, p) => {
    authorize(p, { tenant: p.tenant, world: p.world, agentId: undefined }, 'manage', deps.now());
    return manager().remove(id, { purge: purgeOf(query), tenant: p.tenant });
  }));

  // Who is connected to this world over WebSockets (agent, role, codec, address, since when), for an admin of its tenant.
  app.get('/v1/worlds/:worldId/sessions', route(1, false, async (r, _b, p) => {
    check(r, p, 'manage', undefined);
    return { sessions: deps.sessionsOf?.(r.world.host.opts.worldId) ?? [] };
  }));

  // What this world's quarantine holds (agents, tokens, addresses, each with when it lifts), for an admin of its tenant.
  app.get('/v1/worlds/:worldId/quarantine', route(1, false, async (r, _b, p) => {
    check(r, p, 'manage', undefined);
    const now = deps.now();
    return { quarantined: (r.world.quarantine?.quarantined(now) ?? []).map((q) => ({ key: q.key, until: new Date(q.until).toISOString(), retry_after_ms: q.until - now })) };
  }));

  // Lifts one key's quarantine before it ends by itself (an agent id, a token's key, or ip:ADDRESS, as listed).
  app.del('/v1/worlds/:worldId/quarantine/:key', route(2, false, async (r, _b, p) => {
    check(r, p, 'manage', undefined);
    const key = r.params[1] as string;
    const lifted = r.world.quarantine?.lift(key, deps.now()) ?? false;
    if (lifted) deps.logger.warn({ world: r.world.host.opts.worldId, key, by: p.agent ?? p.role }, 'quarantine lifted by an operator');
    return { key, lifted };
  }));

  app.post('/v1/worlds/:worldId/intents', route(1, true, async (r, raw, p) => {
    const b = obj(raw, 'body');
    const agentId = agentOf(p, b);
    play(r, p, 'act', agentId);
    const rt = r.world.host.runtime;
    const again = 'submit it again (the same req_id)';
    refuseIfClosing(r.world.host, again);
    refusePaused(r.world.host);
    await rt.registerAgent(agentId, { tenant: p.tenant });
    const i = obj(b['intent'], 'intent');
    const t0 = performance.now();
    // Checked again right before the (synchronous) enqueue: one queued before the host starts closing is committed by it.
    refuseIfClosing(r.world.host, again);
    const retry = typeof i['req_id'] === 'string' && rt.inflightIntent(agentId, i['req_id']) !== undefined;
    const out = await rt.submit({ ...i, agent_id: agentId });
    // Counted and logged as the socket's intents are (a retried req_id, answered from the index or sharing the
    // outcome of one in flight, is a duplicate).
    const status = countIntentOutcome(deps.metrics, out, retry);
    logIntent(r.world.host.opts.logger, out, status, rt.viewSeq(agentId), t0, 'rest');
    if (out.status !== 'rejected') return out;
    // The core's outcome names the error; the catalogue adds what to do, as every error body over HTTP carries.
    return { ...out, error: rejectionBody(out.error) };
  }));

  app.post('/v1/worlds/:worldId/intents/:reqId/cancel', route(2, true, async (r, raw, p) => {
    const agentId = agentOf(p, obj(raw, 'body'));
    play(r, p, 'act', agentId);
    return r.world.host.runtime.cancelSettled(agentId, r.params[1]!);
  }));

  app.post('/v1/worlds/:worldId/emit', route(1, true, async (r, raw, p) => {
    play(r, p, 'emit', undefined);
    const b = obj(raw, 'body');
    if (typeof b['kind'] !== 'string') throw new WorldlineError('INVALID_INTENT', 'emit needs a string kind');
    refuseIfClosing(r.world.host, 'emit it again');
    refusePaused(r.world.host);
    // priority is the core's to check (an integer in [-1000, 1000], 0 when absent), as an intent's is: one of another
    // type is refused, not read as 0.
    return r.world.host.runtime.emit({ kind: b['kind'], payload: (b['payload'] ?? null) as JsonValue, source_id: `${p.role}:${p.agent ?? 'rest'}`, ...(b['priority'] !== undefined ? { priority: b['priority'] as number } : {}) });
  }));

  app.get('/v1/worlds/:worldId/agents/:agentId/observe', route(2, false, async (r, _b, p) => {
    const agentId = r.params[1]!;
    play(r, p, 'observe', agentId);
    const host = r.world.host;
    const rt = host.runtime;
    const afterText = r.query.get('after');
    // The world incarnation `after` belongs to (a world deleted with purge and created again under its id numbers its
    // views afresh): another one is answered with a snapshot, as a WebSocket resume is.
    const incarnationText = r.query.get('incarnation');
    if (incarnationText !== null && incarnationText.length > MAX_INCARNATION) {
      throw new WorldlineError('CONFIG_INVALID', `incarnation must be at most ${MAX_INCARNATION} characters (the incarnation of an earlier answer), got ${incarnationText.length}`, { field: 'incarnation' });
    }
    const timeoutText = r.query.get('timeout_ms');
    const timeoutMs = decimal(timeoutText) ?? 25_000;
    // Refused, not clamped: a client that asked for 70 s (or 'abc', which read as 0) would poll at a rate it did not choose.
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 60_000) {
      throw new WorldlineError('CONFIG_INVALID', `timeout_ms must be a whole number of milliseconds from 0 to 60000, got ${JSON.stringify(timeoutText)}`, { field: 'timeout_ms' });
    }
    const after = decimal(afterText);
    if (after !== undefined && (!Number.isSafeInteger(after) || after < 0)) throw new WorldlineError('INVALID_VIEW_SEQ', `after must be a non-negative integer view_seq in decimal, got ${JSON.stringify(afterText)}`);
    // Views are read once delivery has caught up with the core: a quantum still waiting for durability would give a
    // view_seq ahead of the resume history, from which the next poll could only get a snapshot.
    await host.caughtUp();
    const incarnation = host.incarnation;
    const snapshot = (): Record<string, unknown> => {
      const o = rt.observe(agentId);
      return { agent_id: agentId, kind: 'snapshot', view_seq: o.view_seq, view: o.view, context_digest: o.context_digest, incarnation };
    };
    if (after === undefined || (incarnationText !== null && incarnationText !== '' && incarnationText !== incarnation)) return snapshot();
    // Long poll: until a delta after `after` is delivered or the time is up (then an empty list of deltas). Not past the
    // token's expiry: what is delivered after it is no longer this token's to read (the next poll is told it expired).
    const deadline = Math.min(Date.now() + timeoutMs, p.expiresAt ?? Infinity);
    for (;;) {
      const plan = host.resumePlan(agentId, after);
      if (plan.kind === 'snapshot') return snapshot();
      const left = deadline - Date.now();
      if (plan.deltas.length > 0 || left <= 0) {
        return { agent_id: agentId, kind: 'deltas', incarnation, deltas: plan.deltas.map((d) => ({ view_seq: d.view_seq, from_seq: d.from_seq, global_seq: d.global_seq, ops: heldOps(d), context_digest: d.context_digest })) };
      }
      refuseIfClosing(host, 'poll again (from the same view_seq)');
      // Nobody is left to answer: stop (the route writes nothing to an aborted response).
      if (r.signal.aborted) return undefined;
      // Each waiting poll holds a response, a timer and a waiter for up to a minute: a client opening them without end
      // would grow the server's memory without bound.
      if (host.pollsWaiting(agentId) >= MAX_POLLS_PER_AGENT) throw new WorldlineError('QUOTA_EXCEEDED', `at most ${MAX_POLLS_PER_AGENT} long polls may wait for ${agentId}'s view at once: poll again once one has answered`, { retry_after_ms: 1000, max_polls: MAX_POLLS_PER_AGENT });
      await host.waitForDelivery(agentId, left, r.signal);
      // A long poll is present for as long as it waits.
      deps.onPresence?.(host.opts.worldId);
    }
  }));
}
