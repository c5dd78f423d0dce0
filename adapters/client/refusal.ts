/**
 * Why a WebSocket could not be opened. A browser shows a refused upgrade only as a close with 1006, so the SDK asks
 * the server over HTTP (GET /v1/worlds/{id}) and reads its typed error; these turn an answer into that error and say
 * whether trying again can help.
 */
import { WorldlineError, errorFromHttp } from '../../server/errors.js';

/**
 * The error for a WebSocket upgrade the server answered with HTTP `status` instead of switching protocols: the
 * Worldline error in its body, else one named from the status (a proxy or another server answered).
 */
export function refusalError(url: string, status: number, body: string): WorldlineError {
  const given = errorFromHttp(status, body);
  if (given) return given;
  const what = `the server answered the WebSocket upgrade to ${url} with HTTP ${status} and no Worldline error`;
  const details = { http_status: status };
  if (status === 401) return new WorldlineError('UNAUTHORIZED', `${what}: check the token`, details);
  if (status === 403) return new WorldlineError('FORBIDDEN', `${what}: check the token's world and role`, details);
  if (status === 404) return new WorldlineError('WORLD_NOT_FOUND', `${what}: check the URL's host, port and path (/v1/worlds/{worldId}/ws)`, details);
  if (!refusalIsFinal(status)) return new WorldlineError('ADAPTER_UNAVAILABLE', `${what}; retrying with backoff`, details);
  return new WorldlineError('CONFIG_INVALID', `${what}: check that the URL points at a Worldline server`, details);
}

/**
 * Whether a refused upgrade's HTTP status means trying again cannot help: a client error (a world it does not host,
 * a bad query token, no subprotocol in common), but not 408 or 429 (a per-IP connection cap) and not a 5xx (a
 * server starting or draining answers 503, and a rolling restart is exactly when an agent must keep trying).
 */
export function refusalIsFinal(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * Asks the server about the world a WebSocket URL names (GET /v1/worlds/{id} with the token): its WorldlineError when
 * it answers with one, undefined when the world is there or the answer is not a Worldline error. Rejects when no
 * answer can be had (no fetch, the server is down, CORS).
 */
export async function probeWorld(wsUrl: string, token: string, timeoutMs = 5000): Promise<WorldlineError | undefined> {
  const res = await fetch(worldInfoUrl(wsUrl), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
  if (res.ok) return undefined;
  return errorFromHttp(res.status, await res.text());
}

/** The REST URL of the world a WebSocket URL names: GET /v1/worlds/{id}. */
export function worldInfoUrl(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = u.pathname.replace(/\/ws\/?$/, '');
  u.search = '';
  return u.href;
}
