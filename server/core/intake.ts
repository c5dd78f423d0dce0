/**
 * Stage 1 of the intent pipeline: the shape check. A malformed intent is rejected with INVALID_INTENT before
 * anything is looked up or recorded.
 */
import { WorldlineError } from '../errors.js';
import { MAX_JSON_DEPTH, frozenJson, isJsonValue } from './json-value.js';
import { checkId } from './state.js';
import { SCHEMA_VERSION, type EffectDraft, type Intent, type JsonValue } from './types.js';
import type { EffectKindHandler } from './world.js';

const MAJOR = SCHEMA_VERSION.split('.')[0];
const MAX_DEADLINE_MS = 86_400_000;

/**
 * A kind's shape check, whose throw is the payload's fault as much as a message is (`p.item.name` on a payload without
 * item): INVALID_INTENT naming the kind, not an internal error (which the runtime would report as a log failure).
 */
function shapeOf(h: EffectKindHandler, kind: string, payload: JsonValue, ctx: Parameters<EffectKindHandler['shape']>[1]): string | undefined {
  try {
    return h.shape(payload, ctx);
  } catch (err) {
    return `the ${kind} shape check threw on this payload: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** The payload rule of every road in (a codec checks it too; REST and in-process calls reach the core directly). */
const NOT_JSON = `payload must be a JSON value (finite numbers, well-formed strings, plain objects and arrays at most ${MAX_JSON_DEPTH} levels deep, no "__proto__" key).`;

function invalid(message: string, details: Record<string, unknown> = {}): WorldlineError {
  return new WorldlineError('INVALID_INTENT', message, details);
}

function checkPriority(v: unknown): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || (v as number) < -1000 || (v as number) > 1000) throw invalid('priority must be an integer in [-1000, 1000].', { field: 'priority' });
  return v as number;
}

/** Checks an intent's fields and payload shape; returns it with defaults filled in. */
export function checkIntent(input: unknown, handlers: Readonly<Record<string, EffectKindHandler>>): Intent & { readonly priority: number } {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw invalid('An intent must be an object.');
  const i = input as Record<string, unknown>;
  if (i['schema_version'] !== undefined) {
    if (typeof i['schema_version'] !== 'string' || i['schema_version'].split('.')[0] !== MAJOR) {
      throw new WorldlineError('SCHEMA_VERSION_MISMATCH', `Intent schema ${String(i['schema_version'])} is not compatible with ${SCHEMA_VERSION}.`, { found: i['schema_version'] });
    }
  }
  if (typeof i['req_id'] !== 'string' || i['req_id'].length === 0 || i['req_id'].length > 128) throw invalid('req_id must be a string of 1-128 characters.', { field: 'req_id' });
  const agentId = checkId(i['agent_id'], 'agent_id');
  const kind = i['kind'];
  if (typeof kind !== 'string') throw invalid('kind must be a string.', { field: 'kind' });
  const h = Object.hasOwn(handlers, kind) ? handlers[kind] : undefined;
  if (!h) throw invalid(`Unknown intent kind ${kind}.`, { field: 'kind', kind });
  const cs = i['context_seq'];
  if (cs === undefined) throw new WorldlineError('MISSING_CONTEXT', 'context_seq is required: send the view_seq the intent was generated against.', { field: 'context_seq' });
  if (!Number.isSafeInteger(cs) || (cs as number) < 0) throw invalid('context_seq must be a non-negative integer.', { field: 'context_seq' });
  const priority = checkPriority(i['priority']);
  const dl = i['deadline_ms'];
  if (dl !== undefined && (typeof dl !== 'number' || !(dl > 0) || dl > MAX_DEADLINE_MS)) throw invalid(`deadline_ms must be a number in (0, ${MAX_DEADLINE_MS}].`, { field: 'deadline_ms' });
  if (!('payload' in i)) throw invalid('payload is required.', { field: 'payload' });
  if (!isJsonValue(i['payload'])) throw invalid(NOT_JSON, { field: 'payload', kind });
  // The intent keeps its own deeply frozen copy: a caller that changes its object afterwards changes nothing here.
  const payload = frozenJson(i['payload'] as JsonValue);
  const msg = shapeOf(h, kind, payload, { kind, source_id: agentId, agent_id: agentId });
  if (msg !== undefined) throw invalid(msg, { field: 'payload', kind });
  const out: Intent & { priority: number } = { req_id: i['req_id'], agent_id: agentId, kind, payload, context_seq: cs as number, priority };
  return dl === undefined ? out : { ...out, deadline_ms: dl };
}

/** Checks an effect draft from a system or emit(). */
export function checkDraft(input: EffectDraft, handlers: Readonly<Record<string, EffectKindHandler>>): EffectDraft & { readonly priority: number } {
  if (input === null || typeof input !== 'object') throw invalid('An effect draft must be an object.');
  const source = checkId(input.source_id, 'source_id');
  const h = typeof input.kind === 'string' && Object.hasOwn(handlers, input.kind) ? handlers[input.kind] : undefined;
  if (!h) throw invalid(`Unknown effect kind ${String(input.kind)}.`, { kind: input.kind });
  if (!isJsonValue(input.payload)) throw invalid(NOT_JSON, { field: 'payload', kind: input.kind });
  const msg = shapeOf(h, input.kind, input.payload, { kind: input.kind, source_id: source, agent_id: undefined });
  if (msg !== undefined) throw invalid(msg, { kind: input.kind });
  return { kind: input.kind, payload: frozenJson(input.payload), source_id: source, priority: checkPriority(input.priority) };
}
