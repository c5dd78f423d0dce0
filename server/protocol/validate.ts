/**
 * Turns a decoded but untrusted value (JSON.parse, msgpack unpack, or a protobuf message mapped to the model's
 * shape) into a typed message, or throws a WorldlineError that says which field is wrong. One validator serves all
 * three codecs, so they accept and refuse exactly the same messages. Unknown fields are ignored; missing fields
 * take their proto3 defaults; a present field of the wrong type is an error.
 */
import { WorldlineError, type ErrorName } from '../errors.js';
import {
  ClientMessageType,
  IntentStatus,
  PROTOCOL_MAJOR,
  PROTOCOL_VERSION,
  Role,
  ServerMessageType,
  type ClientMessage,
  type EntityPosition,
  type ErrorBody,
  type JsonObject,
  type JsonValue,
  type ServerMessage,
  type SnapshotBody,
  type StaleCause,
  type Vec3,
  type WireIntent,
  type WireOp,
} from './messages.js';

/** Deepest nesting accepted in a JSON value (payloads, views, op values). */
export const MAX_JSON_DEPTH = 64;
const MAX_U32 = 0xffffffff;

type Raw = Record<string, unknown>;

/** Where a bad field makes the error: the frame (MALFORMED_FRAME) or an intent (INVALID_INTENT). */
class Scope {
  constructor(
    readonly code: ErrorName,
    readonly prefix: string,
    readonly extra: Record<string, unknown> = {},
  ) {}

  fail(field: string, problem: string): never {
    const name = this.prefix + field;
    throw new WorldlineError(this.code, `${name} ${problem}.`, { ...this.extra, field: name });
  }
}

const isPlainObject = (v: unknown): v is Raw => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v) as unknown;
  return p === Object.prototype || p === null;
};

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when s is well-formed UTF-16, so that every codec (UTF-8 on the wire) carries it exactly. */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** True when v is a JSON value (finite numbers, well-formed strings, plain objects and arrays) no deeper than MAX_JSON_DEPTH. */
export function isJsonValue(v: unknown, depth = 0): v is JsonValue {
  switch (typeof v) {
    case 'string':
      return isWellFormed(v);
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object': {
      if (v === null) return true;
      if (depth >= MAX_JSON_DEPTH) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!isJsonValue(v[i], depth + 1)) return false;
        return true;
      }
      if (!isPlainObject(v)) return false;
      // "__proto__" is refused: some readers (msgpackr) rename it and some objects would take it as a prototype.
      for (const k in v) if (k === '__proto__' || !isWellFormed(k) || !isJsonValue(v[k], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

class Fields {
  constructor(
    readonly raw: Raw,
    readonly scope: Scope,
  ) {}

  private get(k: string): unknown {
    const v = Object.prototype.hasOwnProperty.call(this.raw, k) ? this.raw[k] : undefined;
    return v === null ? undefined : v;
  }

  has(k: string): boolean {
    return this.get(k) !== undefined;
  }

  /** True when the key is present at all, even as null (an op's `value` may be null). */
  hasKey(k: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.raw, k) && this.raw[k] !== undefined;
  }

  str(k: string): string {
    const v = this.get(k);
    if (v === undefined) return '';
    if (typeof v !== 'string') this.scope.fail(k, 'must be a string');
    if (!isWellFormed(v)) this.scope.fail(k, 'must be well-formed Unicode (no lone surrogates)');
    return v;
  }

  requiredStr(k: string): string {
    const v = this.str(k);
    if (v === '') this.scope.fail(k, 'is required and must be a non-empty string');
    return v;
  }

  num(k: string): number {
    const v = this.get(k);
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.scope.fail(k, 'must be a finite number');
    return v;
  }

  /** A uint64 on the wire; JavaScript holds it exactly up to 2^53 - 1, and larger values are refused. */
  u64(k: string): number {
    const v = this.get(k);
    if (v === undefined) return 0;
    if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.scope.fail(k, 'must be an integer in [0, 2^53 - 1]');
    return v;
  }

  int(k: string, min: number, max: number): number {
    const v = this.get(k);
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.scope.fail(k, `must be an integer in [${min}, ${max}]`);
    return v;
  }

  bool(k: string): boolean {
    const v = this.get(k);
    if (v === undefined) return false;
    if (typeof v !== 'boolean') this.scope.fail(k, 'must be a boolean');
    return v;
  }

  json(k: string): JsonValue {
    const v = this.get(k);
    if (v === undefined) return null;
    if (!isJsonValue(v)) this.scope.fail(k, `must be a JSON value (finite numbers, at most ${MAX_JSON_DEPTH} levels deep)`);
    return v;
  }

  jsonObject(k: string): JsonObject {
    const v = this.get(k);
    if (v === undefined) return {};
    if (!isPlainObject(v) || !isJsonValue(v)) this.scope.fail(k, 'must be a JSON object');
    return v as JsonObject;
  }

  obj(k: string): Fields | undefined {
    const v = this.get(k);
    if (v === undefined) return undefined;
    if (!isPlainObject(v)) this.scope.fail(k, 'must be an object');
    return new Fields(v, new Scope(this.scope.code, `${this.scope.prefix}${k}.`, this.scope.extra));
  }

  list(k: string): { fields: (i: number) => Fields; length: number; raw: readonly unknown[] } {
    const v = this.get(k);
    const arr: readonly unknown[] = v === undefined ? [] : Array.isArray(v) ? v : this.scope.fail(k, 'must be an array');
    return {
      length: arr.length,
      raw: arr,
      fields: (i) => {
        const item = arr[i];
        if (!isPlainObject(item)) this.scope.fail(`${k}[${i}]`, 'must be an object');
        return new Fields(item, new Scope(this.scope.code, `${this.scope.prefix}${k}[${i}].`, this.scope.extra));
      },
    };
  }

  oneOf<T extends string>(k: string, allowed: readonly T[]): T | undefined {
    const v = this.get(k);
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.scope.fail(k, `must be one of ${allowed.join(', ')}`);
    return v as T;
  }

  vec3(k: string): Vec3 {
    const f = this.obj(k);
    return f === undefined ? { x: 0, y: 0, z: 0 } : { x: f.num('x'), y: f.num('y'), z: f.num('z') };
  }
}

const frameScope = new Scope('MALFORMED_FRAME', '');
const ROLES = Object.values(Role);
const STATUSES = Object.values(IntentStatus);
const CLIENT_TYPES = Object.values(ClientMessageType) as readonly string[];
const SERVER_TYPES = Object.values(ServerMessageType) as readonly string[];

/** Refuses a schema_version whose major differs from ours (SCHEMA_VERSION_MISMATCH), with what to do about it. */
export function checkSchemaVersion(version: string, peer: 'client' | 'server'): void {
  const m = /^(\d{1,6})(?:\.(\d{1,6}))?(?:\.(\d{1,6}))?(?:[-+].*)?$/.exec(version);
  if (m === null) {
    throw new WorldlineError('MALFORMED_FRAME', `schema_version ${JSON.stringify(version.slice(0, 40))} is not a semantic version such as "${PROTOCOL_VERSION}".`, { field: 'schema_version' });
  }
  const major = Number(m[1]);
  if (major !== PROTOCOL_MAJOR) {
    const fix =
      peer === 'client'
        ? major > PROTOCOL_MAJOR
          ? `Connect to a server that speaks protocol ${major}.x, or use a client release for protocol ${PROTOCOL_MAJOR}.x.`
          : `Upgrade the client to a release that speaks protocol ${PROTOCOL_MAJOR}.x.`
        : `Use a client release for protocol ${major}.x with this server.`;
    throw new WorldlineError('SCHEMA_VERSION_MISMATCH', `The ${peer} speaks protocol ${version}; this side speaks ${PROTOCOL_VERSION}. ${fix}`, {
      peer_version: version,
      supported_major: PROTOCOL_MAJOR,
    });
  }
}

function root(raw: unknown, types: readonly string[]): { f: Fields; type: string } {
  if (!isPlainObject(raw)) throw new WorldlineError('MALFORMED_FRAME', 'A frame must be an object with a "type" field.', { field: 'type' });
  const f = new Fields(raw, frameScope);
  const type = f.str('type');
  if (!types.includes(type)) {
    throw new WorldlineError('MALFORMED_FRAME', `Unknown message type ${JSON.stringify(type.slice(0, 40))}; protocol ${PROTOCOL_VERSION} knows ${types.join(', ')}.`, { field: 'type' });
  }
  return { f, type };
}

function intentOf(f: Fields): WireIntent {
  const rawReqId = f.raw['req_id'];
  const scope = new Scope('INVALID_INTENT', 'intent.', typeof rawReqId === 'string' ? { req_id: rawReqId } : {});
  const g = new Fields(f.raw, scope);
  const req_id = g.requiredStr('req_id');
  const kind = g.requiredStr('kind');
  const payload = g.json('payload');
  const context_seq = g.u64('context_seq');
  const priority = g.int('priority', -1000, 1000);
  const base = { req_id, kind, payload, context_seq, priority };
  return g.has('deadline_ms') ? { ...base, deadline_ms: g.int('deadline_ms', 0, MAX_U32) } : base;
}

function entityPosition(f: Fields): EntityPosition {
  const base = { entity_id: f.requiredStr('entity_id'), position: f.vec3('position') };
  return f.has('velocity') ? { ...base, velocity: f.vec3('velocity') } : base;
}

/** Validates a client frame already parsed into the model's shape. */
export function validateClientMessage(raw: unknown): ClientMessage {
  const { f, type } = root(raw, CLIENT_TYPES);
  switch (type as ClientMessageType) {
    case 'hello': {
      const schema_version = f.requiredStr('schema_version');
      checkSchemaVersion(schema_version, 'client');
      const role = f.oneOf('role', ROLES);
      const resume = f.obj('resume');
      return {
        type: 'hello',
        token: f.str('token'),
        agent_id: f.str('agent_id'),
        ...(role === undefined ? {} : { role }),
        client_version: f.str('client_version'),
        schema_version,
        ...(resume === undefined ? {} : { resume: { view_seq: resume.u64('view_seq') } }),
      };
    }
    case 'submit_intent': {
      const intent = f.obj('intent');
      if (intent === undefined) throw new WorldlineError('INVALID_INTENT', 'submit_intent needs an intent object.', { field: 'intent' });
      return { type: 'submit_intent', intent: intentOf(intent) };
    }
    case 'begin_generation':
      return { type: 'begin_generation', req_id: f.requiredStr('req_id'), context_seq: f.u64('context_seq') };
    case 'cancel_intent':
      return { type: 'cancel_intent', req_id: f.requiredStr('req_id') };
    case 'emit':
      return { type: 'emit', kind: f.requiredStr('kind'), payload: f.json('payload'), priority: f.int('priority', -1000, 1000), req_id: f.str('req_id') };
    case 'ping':
      return { type: 'ping', client_time: f.num('client_time') };
    case 'time_tick':
      return { type: 'time_tick', sim_time: f.u64('sim_time'), delta_time: f.num('delta_time'), frame_number: f.u64('frame_number') };
    case 'collision_event':
      return {
        type: 'collision_event',
        entity_a: f.requiredStr('entity_a'),
        entity_b: f.requiredStr('entity_b'),
        impact_force: f.num('impact_force'),
        position: f.vec3('position'),
        normal: f.vec3('normal'),
      };
    case 'position_report': {
      const list = f.list('entities');
      const entities: EntityPosition[] = [];
      for (let i = 0; i < list.length; i++) entities.push(entityPosition(list.fields(i)));
      return { type: 'position_report', frame_number: f.u64('frame_number'), entities };
    }
  }
}

const OPS = ['add', 'remove', 'replace', 'move', 'copy', 'test'] as const;

/** A JSON Pointer (RFC 6901): empty, or '/'-separated tokens where '~' is only ever '~0' or '~1'. */
export function isJsonPointer(p: string): boolean {
  return p === '' || (p.charCodeAt(0) === 0x2f && !/~[^01]|~$/.test(p));
}

function pointer(f: Fields, k: string): string {
  const p = f.str(k);
  if (!isJsonPointer(p)) f.scope.fail(k, 'must be a JSON Pointer (empty, or starting with "/")');
  return p;
}

/** Validates one RFC 6902 operation. */
export function validateOp(f: Fields): WireOp {
  const op = f.oneOf('op', OPS);
  switch (op) {
    case undefined:
      return f.scope.fail('op', `is required (one of ${OPS.join(', ')})`);
    case 'remove':
      return { op, path: pointer(f, 'path') };
    case 'move':
    case 'copy':
      return { op, from: pointer(f, 'from'), path: pointer(f, 'path') };
    default:
      if (!f.hasKey('value')) f.scope.fail('value', `is required for ${op}`);
      return { op, path: pointer(f, 'path'), value: f.json('value') };
  }
}

function digest(f: Fields, k: string): string {
  const d = f.str(k);
  if (!/^[0-9a-f]*$/.test(d) || d.length % 2 !== 0) f.scope.fail(k, 'must be lowercase hex');
  return d;
}

function snapshotBody(f: Fields): SnapshotBody {
  return { view_seq: f.u64('view_seq'), view: f.json('view'), context_digest: digest(f, 'context_digest') };
}

function errorBody(f: Fields): ErrorBody {
  return { code: f.int('code', 0, MAX_U32), name: f.str('name'), message: f.str('message'), recovery: f.str('recovery'), details: f.jsonObject('details') };
}

/**
 * Validates a server frame parsed into the model's shape (what a client does). `ops` may be given already decoded
 * by a binary codec; otherwise they are validated as RFC 6902 objects.
 */
export function validateServerMessage(raw: unknown, decodedOps?: readonly WireOp[]): ServerMessage {
  const { f, type } = root(raw, SERVER_TYPES);
  switch (type as ServerMessageType) {
    case 'welcome': {
      const schema_version = f.requiredStr('schema_version');
      checkSchemaVersion(schema_version, 'server');
      const snap = f.obj('snapshot');
      return {
        type: 'welcome',
        session: f.str('session'),
        world: f.str('world'),
        agent: f.str('agent'),
        schema_version,
        server_time: f.num('server_time'),
        view_seq: f.u64('view_seq'),
        ...(snap === undefined ? {} : { snapshot: snapshotBody(snap) }),
      };
    }
    case 'observation_delta': {
      let ops: readonly WireOp[];
      if (decodedOps !== undefined) ops = decodedOps;
      else {
        const list = f.list('ops');
        const out: WireOp[] = [];
        for (let i = 0; i < list.length; i++) out.push(validateOp(list.fields(i)));
        ops = out;
      }
      return {
        type: 'observation_delta',
        view_seq: f.u64('view_seq'),
        from_seq: f.u64('from_seq'),
        context_digest: digest(f, 'context_digest'),
        ops,
        global_seq: f.u64('global_seq'),
        sim_time: f.u64('sim_time'),
      };
    }
    case 'snapshot':
      return { type: 'snapshot', ...snapshotBody(f) };
    case 'intent_result': {
      const status = f.oneOf('status', STATUSES);
      if (status === undefined) return f.scope.fail('status', `is required (one of ${STATUSES.join(', ')})`);
      const err = f.obj('error');
      return {
        type: 'intent_result',
        req_id: f.str('req_id'),
        status,
        ...(f.has('global_seq') ? { global_seq: f.u64('global_seq') } : {}),
        ...(err === undefined ? {} : { error: errorBody(err) }),
      };
    }
    case 'cancelled': {
      const list = f.list('stale_due_to');
      const stale_due_to: StaleCause[] = [];
      for (let i = 0; i < list.length; i++) {
        const c = list.fields(i);
        stale_due_to.push({ view_seq: c.u64('view_seq'), global_seq: c.u64('global_seq'), kind: c.str('kind') });
      }
      return { type: 'cancelled', req_id: f.str('req_id'), reason: f.str('reason'), stale_due_to };
    }
    case 'pong':
      return { type: 'pong', client_time: f.num('client_time'), server_time: f.num('server_time'), sim_time: f.u64('sim_time') };
    case 'error':
      return { type: 'error', ...errorBody(f) };
    case 'move_command':
      return {
        type: 'move_command',
        entity_id: f.str('entity_id'),
        target_position: f.vec3('target_position'),
        speed: f.num('speed'),
        use_pathfinding: f.bool('use_pathfinding'),
        global_seq: f.u64('global_seq'),
        req_id: f.str('req_id'),
      };
  }
}

/** Wraps anything a decoding step throws: WorldlineErrors pass through, anything else becomes MALFORMED_FRAME. */
export function asFrameError(err: unknown, what: string): WorldlineError {
  if (err instanceof WorldlineError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new WorldlineError('MALFORMED_FRAME', `${what}: ${reason.slice(0, 200)}`, {}, { cause: err });
}
