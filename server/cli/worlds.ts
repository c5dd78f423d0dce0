/**
 * `worldline worlds`: a running server's worlds from the shell, over its REST API (docs/server.md, "Creating and
 * deleting worlds at runtime"): list them, create one, delete one, see who is connected. It signs itself an admin
 * token with the server's HS256 secret in the data directory (as `worldline token` does), or takes one with --token.
 */
import net from 'node:net';
import { hostedWorlds, loadConfig, type ConfigKey } from '../config.js';
import { WorldlineError, errorFromHttp } from '../errors.js';
import { createAuthenticator } from '../transport/auth.js';
import type { Out } from './main.js';

export interface WorldsFlags {
  /** list | get ID | create ID WORLD | delete ID | sessions ID */
  readonly args: readonly string[];
  readonly url?: string | undefined;
  readonly token?: string | undefined;
  readonly tenant?: string | undefined;
  readonly idle?: number | undefined;
  readonly purge?: boolean | undefined;
  readonly config?: string | undefined;
  readonly overrides: Partial<Record<ConfigKey, unknown>>;
}

const USAGE = 'worlds list | get ID | create ID WORLD [--idle SEC] [--purge] | delete ID [--purge] | sessions ID';

export async function runWorlds(flags: WorldsFlags, io: Out): Promise<number> {
  const [verb, id, world, ...extra] = flags.args;
  const need = (n: number): void => {
    if (flags.args.length !== n || extra.length > 0) throw new WorldlineError('CONFIG_INVALID', `usage: worldline ${USAGE}`);
  };
  let method: string;
  let path: string;
  let body: Record<string, unknown> | undefined;
  const one = (): string => `/v1/worlds/${encodeURIComponent(id as string)}`;
  switch (verb) {
    case 'list':
      need(1);
      [method, path] = ['GET', '/v1/worlds'];
      break;
    case 'get':
      need(2);
      [method, path] = ['GET', one()];
      break;
    case 'sessions':
      need(2);
      [method, path] = ['GET', `${one()}/sessions`];
      break;
    case 'create':
      need(3);
      [method, path] = ['POST', '/v1/worlds'];
      body = { id, world, ...(flags.idle !== undefined ? { delete_after_idle_sec: flags.idle } : {}), ...(flags.purge !== undefined ? { purge_on_delete: flags.purge } : {}) };
      break;
    case 'delete':
      need(2);
      [method, path] = ['DELETE', `${one()}${flags.purge ? '?purge=true' : ''}`];
      break;
    default:
      throw new WorldlineError('CONFIG_INVALID', `usage: worldline ${USAGE}`);
  }
  const cfg = loadConfig({ ...(flags.config ? { file: flags.config } : {}), overrides: flags.overrides });
  // A server on every interface is reached on loopback; an IPv6 address is bracketed in a URL.
  const host = cfg.host === '0.0.0.0' || cfg.host === '::' ? '127.0.0.1' : net.isIPv6(cfg.host) ? `[${cfg.host}]` : cfg.host;
  const base = (flags.url ?? `http://${host}:${cfg.port}`).replace(/\/+$/, '');
  const token = flags.token ?? (await adminToken(cfg, flags.tenant));
  let res: Response;
  try {
    res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  } catch (err) {
    throw new WorldlineError('ADAPTER_UNAVAILABLE', `no answer from ${base} (${(err as Error).message}): is the server running there? give its address with --url`);
  }
  const text = await res.text();
  if (!res.ok) throw errorFromHttp(res.status, text) ?? new WorldlineError('ADAPTER_UNAVAILABLE', `${base} answered HTTP ${res.status} without a Worldline error: is it a Worldline server?`, { http_status: res.status });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WorldlineError('ADAPTER_UNAVAILABLE', `${base} answered HTTP ${res.status} with something that is not JSON: is it a Worldline server?`);
  }
  io.out(JSON.stringify(json, null, 2));
  return 0;
}

/** An admin token for the configured tenant (or `tenant`), signed with the server's HS256 secret. */
async function adminToken(cfg: ReturnType<typeof loadConfig>, tenant: string | undefined): Promise<string> {
  const auth = createAuthenticator({ ...cfg, authMode: cfg.authMode as 'jwt' | 'tokens' });
  const first = hostedWorlds(cfg)[0] as { id: string; tenant: string };
  try {
    return await auth.issue({ tenant: tenant ?? first.tenant, world: first.id, role: 'admin' }, 300);
  } catch (err) {
    throw new WorldlineError('CONFIG_INVALID', `cannot sign an admin token here (${(err as Error).message}): pass one with --token`);
  }
}
