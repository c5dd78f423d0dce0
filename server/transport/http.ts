/** Small HTTP helpers shared by the health, metrics, upgrade and REST handlers. */
import type { HttpResponse } from 'uWebSockets.js';
import { ErrorCatalogue, WorldlineError } from '../errors.js';

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone', 413: 'Payload Too Large', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 499: 'Client Closed Request', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };

/** The HTTP status line for an error, from the catalogue. */
export function errorStatus(err: WorldlineError): string {
  const code = ErrorCatalogue[err.codeName].http;
  return `${code} ${STATUS_TEXT[code] ?? 'Error'}`;
}

/**
 * Which browser origins may read responses across origins (config corsOrigins): the value for
 * Access-Control-Allow-Origin for a request's Origin header, or undefined (no CORS headers: the browser refuses).
 */
export class Cors {
  private readonly any: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.any = origins.includes('*');
    this.origins = new Set(origins);
  }

  allow(origin: string): string | undefined {
    if (origin === '') return undefined;
    return this.any ? '*' : this.origins.has(origin) ? origin : undefined;
  }

  /** Answers a preflight (OPTIONS): the methods and headers the REST API takes, cached by the browser for 10 minutes. */
  preflight(res: HttpResponse, origin: string): void {
    const allow = this.allow(origin);
    res.cork(() => {
      res.writeStatus('204 No Content');
      if (allow !== undefined) {
        allowHeaders(res, allow);
        res.writeHeader('access-control-allow-methods', 'GET, POST, DELETE, OPTIONS');
        res.writeHeader('access-control-allow-headers', 'authorization, content-type');
        res.writeHeader('access-control-max-age', '600');
      }
      res.end();
    });
  }
}

function allowHeaders(res: HttpResponse, allow: string): void {
  res.writeHeader('access-control-allow-origin', allow);
  // A response that depends on Origin must say so, or a cache could serve one origin's answer to another.
  if (allow !== '*') res.writeHeader('vary', 'Origin');
}

/**
 * The error for a path naming a world this server does not host (WebSocket upgrade and REST alike). It names no hosted
 * world: it is answered before any token is verified, and the ids of other tenants' worlds are theirs (GET /v1/worlds
 * lists those a token reaches).
 */
export function worldNotFound(worldId: string): WorldlineError {
  return new WorldlineError('WORLD_NOT_FOUND', `no world ${JSON.stringify(worldId)} here: GET /v1/worlds lists the worlds your token reaches`, { world: worldId });
}

/** A path segment as uWS hands it over (as on the wire), percent-decoded; a bad escape is MALFORMED_FRAME (400). */
export function decodePathSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new WorldlineError('MALFORMED_FRAME', `path segment ${JSON.stringify(raw.slice(0, 40))} is not valid percent-encoded UTF-8`);
  }
}

/** Writes a JSON response in one corked batch; with `allowOrigin`, readable by that origin's pages (Cors.allow). */
export function writeJson(res: HttpResponse, status: string, body: unknown, allowOrigin?: string, closeConnection = false): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'application/json');
    if (allowOrigin !== undefined) allowHeaders(res, allowOrigin);
    res.end(JSON.stringify(body), closeConnection);
  });
}
