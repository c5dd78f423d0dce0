/** Small HTTP helpers shared by the health, metrics, upgrade and REST handlers. */
import type { HttpResponse } from 'uWebSockets.js';
import { ErrorCatalogue, type WorldlineError } from '../errors.js';

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone', 413: 'Payload Too Large', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 499: 'Client Closed Request', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };

/** The HTTP status line for an error, from the catalogue. */
export function errorStatus(err: WorldlineError): string {
  const code = ErrorCatalogue[err.codeName].http;
  return `${code} ${STATUS_TEXT[code] ?? 'Error'}`;
}

/** Writes a JSON response in one corked batch. */
export function writeJson(res: HttpResponse, status: string, body: unknown): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(body));
  });
}
