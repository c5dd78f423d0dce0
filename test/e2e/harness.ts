/**
 * End-to-end harness: a real server on port 0 in a temp data dir, and protocol clients over real sockets (the `ws`
 * npm client) speaking any of the three codecs through the public protocol API.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import fastJsonPatch from 'fast-json-patch';
import { afterAll, beforeAll, expect } from 'vitest';
import WebSocket from 'ws';
import { loadConfig, type ConfigKey } from '../../server/config.js';
import { createLogger } from '../../server/obs/logger.js';
import { startServer, type RunningServer, type ServerDeps } from '../../server/transport/server.js';
import { WireSession, createWorldCodecs, type ClientMessage, type ServerMessage, Subprotocol, type WireCodec, type WireOp } from '../../server/protocol/index.js';
import type { Role } from '../../server/transport/auth.js';

export interface TestServer extends RunningServer {
  readonly dataDir: string;
  readonly logLines: Array<Record<string, unknown>>;
}

/** Starts a server with test-friendly settings; `overrides` are config keys, `deps` startServer's (its logger is the test's). */
export async function startTestServer(overrides: Partial<Record<ConfigKey, unknown>> = {}, dataDir?: string, deps: Omit<ServerDeps, 'logger'> = {}): Promise<TestServer> {
  const dir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-e2e-'));
  const cfg = loadConfig({ env: {}, overrides: { port: 0, dataDir: dir, logLevel: 'info', tickMs: 20, ...overrides } });
  const logLines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { for (const l of chunk.toString().split('\n')) if (l) logLines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  const srv = await startServer(cfg, { ...deps, logger: createLogger({ level: 'info' }, sink) });
  return Object.assign(srv, { dataDir: dir, logLines });
}

/**
 * A test server for the enclosing file or describe block: started in beforeAll, shut down and its data deleted in
 * afterAll. Returns a getter (the server exists only once beforeAll has run).
 */
export function sharedTestServer(overrides: Partial<Record<ConfigKey, unknown>> = {}): () => TestServer {
  let srv: TestServer | undefined;
  beforeAll(async () => {
    srv = await startTestServer(overrides);
  });
  afterAll(async () => {
    if (!srv) return;
    await srv.shutdown();
    fs.rmSync(srv.dataDir, { recursive: true, force: true });
  });
  return () => {
    if (!srv) throw new Error('the shared test server is not started yet (use it inside a test)');
    return srv;
  };
}

/** Runs `fn` against a fresh test server, then shuts it down and deletes its data directory, whatever happened. */
export async function withServer(overrides: Partial<Record<ConfigKey, unknown>>, fn: (srv: TestServer) => Promise<void>): Promise<void> {
  const srv = await startTestServer(overrides);
  try {
    await fn(srv);
  } finally {
    await srv.shutdown();
    fs.rmSync(srv.dataDir, { recursive: true, force: true });
  }
}

/** A client codec of the same family as the server's (its own path dictionary per connection). */
const clientCodecs = createWorldCodecs();

export class TestClient {
  readonly received: ServerMessage[] = [];
  readonly wire = new WireSession();
  readonly codec: WireCodec;
  closed: { code: number; reason: string } | undefined;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket, subprotocol: Subprotocol) {
    this.codec = clientCodecs[subprotocol];
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = isBinary ? new Uint8Array(data) : data.toString('utf8');
      this.received.push(this.codec.decodeServer(frame, this.wire));
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  /** Connects; rejects with the HTTP status when the upgrade is refused. */
  static connect(url: string, subprotocol: Subprotocol, token?: string): Promise<TestClient> {
    const u = token === undefined ? url : `${url}?token=${encodeURIComponent(token)}`;
    const ws = new WebSocket(u, subprotocol);
    return new Promise((resolve, reject) => {
      const c = new TestClient(ws, subprotocol);
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  send(msg: ClientMessage): void {
    this.ws.send(this.codec.encodeClient(msg));
  }

  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** Waits for the first received message (from index `from`) matching pred. */
  async waitFor<T extends ServerMessage>(pred: (m: ServerMessage) => m is T, timeoutMs?: number, from?: number): Promise<T>;
  async waitFor(pred: (m: ServerMessage) => boolean, timeoutMs?: number, from?: number): Promise<ServerMessage>;
  async waitFor(pred: (m: ServerMessage) => boolean, timeoutMs = 5000, from = 0): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.slice(from).find(pred);
      if (found) return found;
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting; got ${this.received.map((m) => m.type).join(',')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting; got ${this.received.map((m) => m.type).join(',')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return (async () => {
      const deadline = Date.now() + timeoutMs;
      while (!this.closed) {
        if (Date.now() > deadline) throw new Error('socket did not close');
        await new Promise((r) => setTimeout(r, 10));
      }
      return this.closed;
    })();
  }

  hello(agentId: string, extra: Partial<Extract<ClientMessage, { type: 'hello' }>> = {}): void {
    this.send({ type: 'hello', token: '', agent_id: agentId, client_version: 'e2e/1', schema_version: '1.0.0', ...extra });
  }

  close(): void {
    this.ws.close();
  }
}

export function token(srv: RunningServer, agent: string | undefined, role: Role = 'agent', extra: { tenant?: string; world?: string; ttl?: number } = {}): Promise<string> {
  return srv.auth.issue({ tenant: extra.tenant ?? 'default', world: extra.world ?? 'default', ...(agent ? { agent } : {}), role }, extra.ttl ?? 600);
}

/**
 * Joins a hosted world as an agent of `tenant` (msgpack), checks the Welcome names the world, and spawns the agent's
 * entity at `at`; resolves with the client and the Spawn's global_seq.
 */
export async function joinAndSpawn(srv: RunningServer, world: string, tenant: string, agent: string, at: { x: number; y: number }): Promise<{ c: TestClient; seq: number }> {
  const url = srv.worlds.find((x) => x.id === world)?.wsUrl;
  if (url === undefined) throw new Error(`no world ${world}`);
  const c = await TestClient.connect(url, Subprotocol.MSGPACK, await token(srv, agent, 'agent', { tenant, world }));
  c.hello(agent);
  const w = await c.waitFor(is('welcome'));
  expect(w.world).toBe(world);
  c.send({ type: 'submit_intent', intent: { req_id: `spawn-${agent}`, kind: 'Spawn', payload: { entity_id: agent, fields: at }, context_seq: w.view_seq, priority: 0 } });
  const r = await c.waitFor((m): m is Extract<ServerMessage, { type: 'intent_result' }> => m.type === 'intent_result' && m.req_id === `spawn-${agent}`);
  expect(r.status).toBe('accepted');
  return { c, seq: r.global_seq ?? 0 };
}

/** A REST answer: its status and JSON body. */
export interface Reply {
  status: number;
  json: Record<string, unknown>;
}

/** One REST call with a bearer token (and a JSON body when given). */
export async function call(srv: RunningServer, method: string, p: string, tok: string, body?: unknown): Promise<Reply> {
  const res = await fetch(`${srv.httpUrl}${p}`, { method, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

type IntentResultMessage = Extract<ServerMessage, { type: 'intent_result' }>;

/**
 * Joins `agent` to the server's first world over JSON and returns a submit that sends a Spawn (req_id 'spawn', at
 * 0, 0) or a Move (any other req_id, dx 1) with the agent's current view_seq and waits for its intent_result.
 */
export async function joinFirstWorld(srv: TestServer, agent: string): Promise<{ c: TestClient; submit: (reqId: string) => Promise<IntentResultMessage> }> {
  const c = await TestClient.connect(srv.worlds[0]!.wsUrl, Subprotocol.JSON, await token(srv, agent, 'agent', { world: srv.worlds[0]!.id }));
  c.hello(agent);
  await c.waitFor(is('welcome'));
  const submit = async (reqId: string): Promise<IntentResultMessage> => {
    const from = c.received.length;
    const spawn = reqId.startsWith('spawn');
    const payload = spawn ? { entity_id: agent, fields: { x: 0, y: 0 } } : { dx: 1, dy: 0 };
    c.send({ type: 'submit_intent', intent: { req_id: reqId, kind: spawn ? 'Spawn' : 'Move', payload, context_seq: srv.host.runtime.viewSeq(agent), priority: 0 } });
    return c.waitFor((m): m is IntentResultMessage => m.type === 'intent_result' && m.req_id === reqId, 5000, from);
  };
  return { c, submit };
}

export const is = <K extends ServerMessage['type']>(type: K) => (m: ServerMessage): m is Extract<ServerMessage, { type: K }> => m.type === type;

const { applyPatch, deepClone } = fastJsonPatch;
export type View = { entities: Record<string, Record<string, unknown>> };

/** Tracks a client's view: snapshot, then every delta applied strictly; checks from_seq chains with no gap. */
export class ViewTracker {
  view: View = { entities: {} };
  viewSeq = -1;
  private consumed = 0;

  constructor(private readonly c: TestClient) {}

  /** Applies everything received so far (Welcome snapshot, Snapshot, ObservationDelta). */
  sync(): void {
    for (; this.consumed < this.c.received.length; this.consumed++) this.apply(this.c.received[this.consumed]!);
  }

  apply(m: ServerMessage): void {
    if (m.type === 'welcome') {
      if (m.snapshot) {
        this.view = deepClone(m.snapshot.view) as View;
        this.viewSeq = m.snapshot.view_seq;
      } else {
        expect(m.view_seq).toBe(this.viewSeq); // resumed: our view is the base
      }
    } else if (m.type === 'snapshot') {
      this.view = deepClone(m.view) as View;
      this.viewSeq = m.view_seq;
    } else if (m.type === 'observation_delta') {
      expect(m.from_seq, 'delta must start where the previous one ended (no gap, no duplicate)').toBe(this.viewSeq);
      this.view = applyPatch(this.view, deepClone(m.ops) as WireOp[] as never, true, false).newDocument as View;
      this.viewSeq = m.view_seq;
    }
  }

  /** Waits until the client has caught up with the server's delivered view, then compares them. */
  async matchesServer(srv: TestServer, agentId: string): Promise<void> {
    const deadline = Date.now() + 5000;
    for (;;) {
      this.sync();
      const s = srv.host.runtime.observe(agentId);
      if (s.view_seq === this.viewSeq) {
        expect(this.view).toEqual(s.view);
        return;
      }
      if (Date.now() > deadline) throw new Error(`client view_seq ${this.viewSeq} never caught up with server ${s.view_seq}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
