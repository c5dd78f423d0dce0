/**
 * The one catalogue of Worldline error codes. Numbers 1001-7004 keep the gunn reference design's meaning;
 * 7005 and up are Worldline's own. docs/errors.md is generated from this table (`npm run docs:errors`) and a
 * test fails when the two drift apart. Codes are never renumbered or reused.
 */

/** What a client should do when it receives an error. */
export const Recovery = {
  RETRY: 'RETRY',
  RETRY_WITH_DELAY: 'RETRY_WITH_DELAY',
  REGENERATE: 'REGENERATE',
  MODIFY_INTENT: 'MODIFY_INTENT',
  DEFER: 'DEFER',
  SHED_OLDEST: 'SHED_OLDEST',
  ABORT: 'ABORT',
} as const;
export type Recovery = (typeof Recovery)[keyof typeof Recovery];

interface CatalogueEntry {
  readonly code: number;
  readonly http: number;
  readonly recovery: Recovery;
  /** What happened, in one line. */
  readonly meaning: string;
  /** What the client or operator should do about it. */
  readonly action: string;
}

const entry = (code: number, http: number, recovery: Recovery, meaning: string, action: string): CatalogueEntry => ({
  code,
  http,
  recovery,
  meaning,
  action,
});

const R = Recovery;

export const ErrorCatalogue = {
  // 1000-1999: context and state
  STALE_CONTEXT: entry(1001, 409, R.REGENERATE, "The intent's context_seq is older than what the agent can now see.", 'Regenerate the intent against the current view (stale_due_to names the events) and submit again.'),
  INVALID_VIEW_SEQ: entry(1002, 400, R.MODIFY_INTENT, 'The view_seq given is unknown or out of range.', 'Resume from the last view_seq you applied, or omit it to get a snapshot.'),
  WORLD_STATE_CORRUPTED: entry(1003, 500, R.ABORT, 'A world state integrity check failed (state hash differs on replay).', 'Stop the world; run `worldline replay DIR --verify-determinism` and report the first differing seq.'),
  MISSING_CONTEXT: entry(1004, 400, R.MODIFY_INTENT, 'A required context field (such as context_seq) is missing.', 'Send the intent again with context_seq set to the view_seq it was generated against.'),
  // 2000-2999: intents and validation
  INTENT_CONFLICT: entry(2001, 409, R.RETRY_WITH_DELAY, 'The intent conflicts with the world state or another intent in the same quantum.', 'Wait for the next observation and retry.'),
  INVALID_INTENT: entry(2002, 400, R.MODIFY_INTENT, 'The intent is malformed (wrong shape, unknown kind, bad payload).', 'Fix the intent as the message says; it was not recorded.'),
  INTENT_VALIDATION_FAILED: entry(2003, 422, R.MODIFY_INTENT, 'A world rule rejected the intent (the rule is named in details).', 'Change the intent so the named rule passes.'),
  DUPLICATE_REQ_ID: entry(2004, 409, R.MODIFY_INTENT, 'This req_id was already used by this agent with a different intent.', 'Use a fresh req_id for a new intent; reuse one only to retry the same intent.'),
  // 3000-3999: resources and quotas
  QUOTA_EXCEEDED: entry(3001, 429, R.DEFER, 'The agent or tenant exceeded its rate or resource quota.', 'Slow down; retry after the interval in details.'),
  QUEUE_FULL: entry(3002, 503, R.SHED_OLDEST, "The agent's intent queue is full.", 'Wait for pending intents to resolve before sending more.'),
  TOKEN_BUDGET_EXCEEDED: entry(3003, 429, R.ABORT, 'The LLM token budget is exhausted.', "Raise the budget (the LLM adapters' tokenBudget, WORLDLINE_LLM_TOKEN_BUDGET): it counts for the life of the provider and does not reset."),
  MEMORY_LIMIT_EXCEEDED: entry(3004, 503, R.SHED_OLDEST, 'A server memory limit was reached.', 'Retry later; the server shed work to protect itself.'),
  // 4000-4999: timing and cancellation
  OPERATION_TIMEOUT: entry(4001, 408, R.RETRY, 'The operation passed its deadline: an intent its deadline_ms before it could commit, a REST request body bodyTimeoutSec before it arrived whole, an SDK submit its timeout before any answer.', 'Retry (the same req_id learns an intent\'s outcome): with a later deadline if the intent still makes sense, or sending the body at once.'),
  GENERATION_CANCELLED: entry(4002, 499, R.REGENERATE, 'The generation was cancelled because the world changed under it.', 'Regenerate against the new view.'),
  STALENESS_DETECTED: entry(4003, 409, R.REGENERATE, 'The context became stale while the intent was being processed.', 'Regenerate against the new view.'),
  DEBOUNCE_ACTIVE: entry(4004, 429, R.RETRY_WITH_DELAY, 'A debounce window is active for this agent.', 'Retry after the debounce window.'),
  // 5000-5999: authentication and authorisation
  UNAUTHORIZED: entry(5001, 401, R.ABORT, 'No valid credentials were presented.', 'Send a valid token: in Hello or the token query parameter on a WebSocket; in `Authorization: Bearer <token>` or the token query parameter over REST.'),
  FORBIDDEN: entry(5002, 403, R.ABORT, 'The credentials do not allow this operation.', 'Use a token whose role and agent allow it.'),
  INVALID_AGENT_ID: entry(5003, 404, R.ABORT, 'The agent id is unknown in this world.', 'Check the agent id, or spawn the agent first.'),
  TENANT_ISOLATION_VIOLATION: entry(5004, 403, R.ABORT, "The request tried to reach another tenant's data.", 'Use a token for the tenant that owns the world.'),
  AGENT_QUARANTINED: entry(5005, 403, R.ABORT, 'The agent, token or client address is quarantined after repeated violations.', 'Retry after details.until (it lifts by itself after quarantineSec), or ask an operator to lift it early: DELETE /v1/worlds/{worldId}/quarantine/{details.key}.'),
  WORLD_NOT_FOUND: entry(5006, 404, R.ABORT, 'This server hosts no world with that id.', 'Check the world id in the URL, or list the worlds your token reaches with GET /v1/worlds.'),
  WORLD_EXISTS: entry(5007, 409, R.ABORT, 'A world with this id is already hosted here, or being created.', 'Pick another id for the new world, or connect to the existing one (GET /v1/worlds lists those your token reaches).'),
  // 6000-6999: external systems
  ADAPTER_UNAVAILABLE: entry(6001, 503, R.RETRY_WITH_DELAY, 'An external adapter is not available.', 'Retry with backoff.'),
  LLM_SERVICE_ERROR: entry(6002, 502, R.RETRY, 'The LLM provider returned an error.', 'Retry; the adapter backs off on 429 and 5xx.'),
  UNITY_CONNECTION_LOST: entry(6003, 503, R.RETRY_WITH_DELAY, 'The engine (Unity) connection was lost.', 'Wait for the engine to reconnect; the world resumes with its next tick.'),
  WEB_API_ERROR: entry(6004, 502, R.RETRY, 'A web API adapter failed.', 'Retry.'),
  LLM_REQUEST_REFUSED: entry(6005, 502, R.ABORT, 'The LLM provider refused the request itself (HTTP 400, 401, 403, 404, 422, or an invalid-request error in its stream): the same request would be refused again.', 'Fix what the message names (the API key, the base URL, the model name, the request), then try again; details.status or details.provider_error say what the provider answered.'),
  // 7000-7999: system and infrastructure
  CIRCUIT_BREAKER_OPEN: entry(7001, 503, R.RETRY_WITH_DELAY, 'A circuit breaker is open for a failing dependency.', 'Retry after the breaker cool-down.'),
  DATABASE_ERROR: entry(7002, 500, R.RETRY, 'A storage operation failed.', 'Retry; if it persists, check the server logs.'),
  LOG_CORRUPTION_DETECTED: entry(7003, 500, R.ABORT, 'The event log failed its CRC, sequence or hash-chain check (details name the first bad seq).', 'Do not start on this data: run `worldline verify DIR`, restore from a copy, or repair with an explicit truncation seq.'),
  SCHEMA_VERSION_MISMATCH: entry(7004, 400, R.ABORT, 'A message, log or snapshot uses an incompatible major version.', 'Upgrade the client or server so both speak the same major version.'),
  LOG_LOCKED: entry(7005, 409, R.ABORT, 'Another live process holds the data directory lock.', 'Stop the other process, or point this one at a different --data directory.'),
  LOG_WRITE_FAILED: entry(7006, 503, R.RETRY_WITH_DELAY, 'The log could not write (disk full or I/O error); the pending batch was rolled back and not acknowledged.', 'Retry with backoff after freeing disk space: once space returns the log takes writes again and the server reopens the world from its log by itself; reconnect and resume from your view_seq.'),
  LOG_READ_ONLY: entry(7007, 503, R.RETRY_WITH_DELAY, 'The log is read-only after a write failure and is waiting for space to return.', 'Retry with backoff; nothing was recorded.'),
  LOG_FSYNC_FAILED: entry(7008, 500, R.ABORT, 'fsync failed; the kernel may have dropped data, so the process stops rather than retry.', 'Restart the server: recovery rebuilds the log from what is on disk.'),
  LOG_CLOSED: entry(7009, 503, R.ABORT, 'The log is closed (shutting down or failed).', 'Reconnect to a running server.'),
  LOG_RECORD_TOO_LARGE: entry(7010, 413, R.MODIFY_INTENT, 'A record is larger than the log accepts.', 'Send a smaller payload, or raise maxRecordBytes.'),
  LOG_WORLD_MISMATCH: entry(7011, 409, R.ABORT, 'The data directory belongs to a different world or log.', 'Point --data at the directory of this world, or at an empty one.'),
  SNAPSHOT_CORRUPTED: entry(7012, 500, R.ABORT, 'No snapshot passed its checksum.', 'Recover from the full log, or restore a snapshot from a copy.'),
  CHECKPOINT_SIGNATURE_INVALID: entry(7013, 500, R.ABORT, 'A signed checkpoint does not match its key or the log it signs.', 'Treat the log as tampered with: restore it from a trusted copy.'),
  CONFIG_INVALID: entry(7014, 400, R.ABORT, 'A configuration value or command-line argument is invalid.', 'Fix the value named in the message.'),
  LOG_RANGE_UNAVAILABLE: entry(7015, 410, R.ABORT, 'The requested seq range is no longer (compacted) or not yet in the log.', 'Load the newest snapshot and read from its anchor seq.'),
  MALFORMED_FRAME: entry(7016, 400, R.ABORT, 'A WebSocket frame could not be decoded for the negotiated subprotocol (bad encoding, unknown message, missing or mistyped field).', 'Fix the client so it sends frames as docs/protocol.md describes; details name the field at fault.'),
  ENDPOINT_NOT_FOUND: entry(7017, 404, R.ABORT, 'No HTTP endpoint answers this method and path (details name them).', 'Check the method and path against docs/server.md and docs/openapi.yaml; WebSockets connect to /v1/worlds/{worldId}/ws.'),
  SERVER_UNAVAILABLE: entry(7018, 503, R.RETRY_WITH_DELAY, 'The server takes no new connections or requests now: it is starting (recovering its worlds from their logs) or shutting down.', 'Retry with backoff (the message says which); a client reconnecting resumes from its view_seq once the server, or another instance, is up.'),
  WORLD_SYSTEM_FAILED: entry(7019, 500, R.ABORT, "A world system (the world's own per-tick code) threw or drafted an invalid effect, so the world stopped ticking.", "The world's author fixes the system named in details and restarts the server: the log is intact, and nothing of the failed tick, nor an intent refused with this code, was recorded."),
  PAYLOAD_TOO_LARGE: entry(7020, 413, R.ABORT, 'A REST request body is larger than the server accepts (maxPayloadLength).', 'Send a smaller body: details.max_bytes is the limit (a WebSocket frame over it is closed with 1009 instead).'),
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorName = keyof typeof ErrorCatalogue;

/** The error every Worldline module throws: a stable numeric code, its name, and what to do about it. */
export class WorldlineError extends Error {
  readonly code: number;
  readonly codeName: ErrorName;
  readonly recovery: Recovery;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(codeName: ErrorName, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    const e = ErrorCatalogue[codeName];
    this.name = 'WorldlineError';
    this.code = e.code;
    this.codeName = codeName;
    this.recovery = e.recovery;
    this.retryable = e.recovery === R.RETRY || e.recovery === R.RETRY_WITH_DELAY || e.recovery === R.DEFER;
    this.details = details;
  }

  /** JSON shape used on the wire and in CLI output. */
  toJSON(): { code: number; name: ErrorName; message: string; recovery: Recovery; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, name: this.codeName, message: this.message, recovery: this.recovery, details: this.details };
  }
}

/** An error as the wire and the HTTP API carry it ({code, name, message, recovery, details}). */
export interface WireErrorBody {
  readonly code: number;
  readonly name: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A WorldlineError from an error body off the wire (an unknown name becomes ADAPTER_UNAVAILABLE, keeping it in details). */
export function errorFromBody(body: WireErrorBody): WorldlineError {
  const known = body.name in ErrorCatalogue;
  const name = (known ? body.name : 'ADAPTER_UNAVAILABLE') as ErrorName;
  return new WorldlineError(name, body.message, known ? { ...body.details } : { ...body.details, server_name: body.name, server_code: body.code });
}

/**
 * The WorldlineError in an HTTP error response's body ({"error": {code, name, message, ...}}), with its status in
 * details.http_status; undefined when the body is not one (a proxy or another server answered).
 */
export function errorFromHttp(status: number, body: string): WorldlineError | undefined {
  let e: Partial<Record<keyof WireErrorBody, unknown>> | undefined;
  try {
    e = (JSON.parse(body) as { error?: Partial<Record<keyof WireErrorBody, unknown>> } | null)?.error;
  } catch {
    return undefined;
  }
  if (!e || typeof e.name !== 'string' || typeof e.message !== 'string') return undefined;
  const details = typeof e.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : {};
  return errorFromBody({ code: Number(e.code ?? 0), name: e.name, message: e.message, details: { ...details, http_status: status } });
}

/** True when `err` is a WorldlineError with the given code name. */
export function isWorldlineError(err: unknown, codeName?: ErrorName): err is WorldlineError {
  return err instanceof WorldlineError && (codeName === undefined || err.codeName === codeName);
}

/** Renders docs/errors.md from the catalogue. */
export function renderErrorsMarkdown(): string {
  const lines = [
    '# Worldline error codes',
    '',
    '<!-- Generated from server/errors.ts by `npm run docs:errors`; a test fails if this file drifts. -->',
    '',
    'Every error Worldline returns (on the wire, over HTTP, from the CLI and the TypeScript API) carries a stable',
    'numeric `code`, its `name`, a `message`, a `recovery` hint and structured `details`. Codes 1001-7004 keep the',
    "meaning they have in the gunn reference design; 7005 and up are Worldline's own. Codes are never reused.",
    '',
    '| Code | Name | HTTP | Recovery | Meaning | What to do |',
    '|------|------|------|----------|---------|------------|',
  ];
  for (const [name, e] of Object.entries(ErrorCatalogue)) {
    lines.push(`| ${e.code} | ${name} | ${e.http} | ${e.recovery} | ${e.meaning} | ${e.action} |`);
  }
  lines.push('', '## Recovery hints', '');
  const hints: Record<Recovery, string> = {
    RETRY: 'Resend the same request (same req_id: it is idempotent).',
    RETRY_WITH_DELAY: 'Resend after an exponential backoff.',
    REGENERATE: 'Drop the current generation and produce a new intent from the current view.',
    MODIFY_INTENT: 'Change the intent; sending it unchanged fails the same way.',
    DEFER: 'Queue it and try again when the quota or budget window resets.',
    SHED_OLDEST: 'Drop the oldest queued work before adding more.',
    ABORT: 'Do not retry; a person has to change something.',
  };
  for (const [k, v] of Object.entries(hints)) lines.push(`- \`${k}\`: ${v}`);
  lines.push('');
  return lines.join('\n');
}
