/**
 * The worlds of a server over its REST API (docs/openapi.yaml): list those a token reaches, and with an admin token
 * create and delete worlds at runtime, e.g. one per match from a matchmaker. Web-standard fetch, so it runs in Node
 * and in browsers; failures are WorldlineErrors with the server's code.
 */
import { WorldlineError, errorFromHttp } from '../../server/errors.js';
import { currentToken, type TokenSource } from './token.js';

/** A hosted world as the server describes it. */
export interface WorldInfo {
  readonly id: string;
  /** The name of the world definition it runs. */
  readonly world: string;
  readonly tenant: string;
  readonly healthy: boolean;
  readonly global_seq: number;
  readonly tick: number;
  /** /v1/worlds/{id}/ws */
  readonly ws_path: string;
  /** Waiting for its engine to reconnect: it takes no tick (absent from older servers). */
  readonly paused?: boolean;
  /** Named by the server's configuration, or created at runtime (absent from older servers). */
  readonly origin?: 'configured' | 'created';
  /** A created world: when, its idle limit if it has one, and whether its deletion deletes its data. */
  readonly created_at?: string;
  readonly delete_after_idle_sec?: number;
  readonly purge_on_delete?: boolean;
}

/** A WebSocket session open on a world, as its admins see it. */
export interface WorldSession {
  readonly session: string;
  readonly agent_id: string;
  readonly role?: string;
  readonly codec: string;
  readonly address: string;
  readonly state: string;
  readonly connected_at: string;
}

export interface NewWorldSpec {
  readonly id: string;
  /** A world definition the server has: built-in (default, arena, arena-<entities>, conversation) or one a hosted world runs. */
  readonly world: string;
  /** Delete it once no WebSocket has been connected to it for this many seconds. */
  readonly deleteAfterIdleSec?: number;
  /** That deletion also deletes its data. */
  readonly purgeOnDelete?: boolean;
}

export interface WorldsOptions {
  /** The token, or a function called before each request (to refresh an expiring one). */
  readonly token: TokenSource;
  /** fetch implementation (default globalThis.fetch). */
  readonly fetch?: typeof fetch;
}

export class Worlds {
  private readonly base: string;

  /** `baseUrl`: the server's http(s)://host:port. */
  constructor(baseUrl: string, private readonly opts: WorldsOptions) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  /** The worlds the token reaches: its tenant's, and of those only its own world unless it is an admin token. */
  async list(): Promise<WorldInfo[]> {
    return ((await this.request('GET', '/v1/worlds')) as { worlds: WorldInfo[] }).worlds;
  }

  /** One world the token may reach. */
  async get(id: string): Promise<WorldInfo> {
    return (await this.request('GET', `/v1/worlds/${encodeURIComponent(id)}`)) as WorldInfo;
  }

  /** Who is connected to a world over WebSockets (an admin token of its tenant). */
  async sessions(id: string): Promise<WorldSession[]> {
    return ((await this.request('GET', `/v1/worlds/${encodeURIComponent(id)}/sessions`)) as { sessions: WorldSession[] }).sessions;
  }

  /** Creates a world of the (admin) token's tenant; resolves once it is open and its WebSocket accepts agents. */
  async create(spec: NewWorldSpec): Promise<WorldInfo> {
    return (await this.request('POST', '/v1/worlds', {
      id: spec.id, world: spec.world,
      ...(spec.deleteAfterIdleSec !== undefined ? { delete_after_idle_sec: spec.deleteAfterIdleSec } : {}),
      ...(spec.purgeOnDelete !== undefined ? { purge_on_delete: spec.purgeOnDelete } : {}),
    })) as WorldInfo;
  }

  /** Deletes a world created at runtime: its sockets are closed and it is unlisted; its data stays unless `purge`. */
  async delete(id: string, opts: { purge?: boolean } = {}): Promise<{ id: string; purged: boolean }> {
    return (await this.request('DELETE', `/v1/worlds/${encodeURIComponent(id)}${opts.purge ? '?purge=true' : ''}`)) as { id: string; purged: boolean };
  }

  /** The WebSocket URL of a world on this server, for connect(). */
  wsUrl(id: string): string {
    return `${this.base.replace(/^http/, 'ws')}/v1/worlds/${encodeURIComponent(id)}/ws`;
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const f = this.opts.fetch ?? globalThis.fetch;
    const token = await currentToken(this.opts.token);
    const url = this.base + path;
    let res: Response;
    try {
      res = await f(url, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (err) {
      throw new WorldlineError('ADAPTER_UNAVAILABLE', `${method} ${url} failed: ${(err as Error).message}; check the server is running and the URL`, {}, { cause: err });
    }
    const text = await res.text();
    if (res.ok) {
      try {
        return JSON.parse(text);
      } catch {
        // answered below
      }
    }
    const err = errorFromHttp(res.status, text);
    if (err) throw err;
    throw new WorldlineError('ADAPTER_UNAVAILABLE', `${method} ${url} answered HTTP ${res.status} without a Worldline error body: check the URL points at a Worldline server`, { http_status: res.status });
  }
}
