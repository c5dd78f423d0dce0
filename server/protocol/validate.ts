/**
 * Turns a decoded but untrusted value (JSON.parse, msgpack unpack, or a protobuf message mapped to the model's
 * shape) into a typed message, or throws a WorldlineError that says which field is wrong. One validator serves all
 * three codecs, so they accept and refuse exactly the same messages. Unknown fields are ignored; missing fields
 * take their proto3 defaults; a present field of the wrong type is an error.
 */
import { WorldlineError } from '../errors.js';
import { utf8 } from './bytes.js';
import { Fields, MAX_U32, Scope, isPlainObject } from './fields.js';
import {
  ClientMessageType,
  IntentStatus,
  MAX_CLOSE_REASON_BYTES,
  PROTOCOL_MAJOR,
  PROTOCOL_VERSION,
  Role,
  ServerMessageType,
  type ClientMessage,
  type Close,
  type EntityPosition,
  type ErrorBody,
  type ServerMessage,
  type SnapshotBody,
  type StaleCause,
  type WireIntent,
  type WireOp,
} from './messages.js';

export { MAX_JSON_DEPTH, isJsonValue, isWellFormed } from './fields.js';

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

/**
 * The longest req_id (in UTF-16 code units), the core's bound on an intent's (server/core/intake.ts): a generation or a
 * cancel names the intent it is for, and a server holds the req_id of each open generation.
 */
const MAX_REQ_ID = 128;
/** The longest world incarnation a client may name (Hello.resume.incarnation, REST observe's incarnation). */
export const MAX_INCARNATION = 128;

function reqIdOf(f: Fields): string {
  const v = f.requiredStr('req_id');
  if (v.length > MAX_REQ_ID) f.scope.fail('req_id', `must be a string of 1-${MAX_REQ_ID} characters`);
  return v;
}

/** The longest deadline an intent may ask for (a day), as the core enforces it: one range in both error messages. */
const MAX_DEADLINE_MS = 86_400_000;

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
  return g.has('deadline_ms') ? { ...base, deadline_ms: g.int('deadline_ms', 1, MAX_DEADLINE_MS) } : base;
}

function entityPosition(f: Fields): EntityPosition {
  const base = { entity_id: f.requiredStr('entity_id'), position: f.vec3('position') };
  return f.has('velocity') ? { ...base, velocity: f.vec3('velocity') } : base;
}

/** Close: a WebSocket close code and a reason that fits a close frame (at most 123 bytes of UTF-8). */
function closeOf(f: Fields): Close {
  // Absent (or proto3's default 0): a normal close.
  const code = !f.has('code') || f.raw['code'] === 0 ? 1000 : f.int('code', 1000, 4999);
  const reason = f.str('reason');
  if (utf8.encode(reason).length > MAX_CLOSE_REASON_BYTES) return f.scope.fail('reason', `must be at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8 (it ends a WebSocket close frame)`);
  return { type: 'close', code, reason };
}

/** Validates a client frame already parsed into the model's shape. */
export function validateClientMessage(raw: unknown): ClientMessage {
  const { f, type } = root(raw, CLIENT_TYPES);
  // A router strips the channel it read from the frame's first member: one left here was written elsewhere.
  if (f.has('channel')) f.scope.fail('channel', 'must be the first member of the frame, where a router reads it without decoding the rest (docs/protocol.md "Channels")');
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
        ...(resume === undefined ? {} : { resume: resumeOf(resume) }),
      };
    }
    case 'submit_intent': {
      const intent = f.obj('intent');
      if (intent === undefined) throw new WorldlineError('INVALID_INTENT', 'submit_intent needs an intent object.', { field: 'intent' });
      return { type: 'submit_intent', intent: intentOf(intent) };
    }
    case 'begin_generation':
      return { type: 'begin_generation', req_id: reqIdOf(f), context_seq: f.u64('context_seq') };
    case 'cancel_intent':
      return { type: 'cancel_intent', req_id: reqIdOf(f) };
    case 'emit': {
      // A client that set req_id waits for that req_id's answer: an undecodable Emit's error names it, as an intent's does.
      const rawReqId = f.raw['req_id'];
      const g = typeof rawReqId === 'string' && rawReqId !== '' ? new Fields(f.raw, new Scope('MALFORMED_FRAME', '', { req_id: rawReqId })) : f;
      return { type: 'emit', kind: g.requiredStr('kind'), payload: g.json('payload'), priority: g.int('priority', -1000, 1000), req_id: g.str('req_id') };
    }
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
    case 'close':
      return closeOf(f);
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

/** `{ [k]: value }` for a non-empty string field of at most `max` characters, else nothing (proto sends '' for an absent string). */
function optionalStr(f: Fields, k: string, max: number): Record<string, string> {
  const v = f.str(k);
  if (v.length > max) f.scope.fail(k, `must be at most ${max} characters`);
  return v === '' ? {} : { [k]: v };
}

/** Hello.resume: the view_seq, and the incarnation when the client knows it. */
function resumeOf(r: Fields): { view_seq: number; incarnation?: string } {
  return { view_seq: r.u64('view_seq'), ...optionalStr(r, 'incarnation', MAX_INCARNATION) };
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
        ...optionalStr(f, 'incarnation', MAX_INCARNATION),
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
        server_time: f.u64('server_time'),
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
      return { type: 'cancelled', req_id: f.str('req_id'), reason: f.str('reason'), stale_due_to, server_time: f.num('server_time') };
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
    case 'close':
      return closeOf(f);
  }
}

/** Wraps anything a decoding step throws: WorldlineErrors pass through, anything else becomes MALFORMED_FRAME. */
export function asFrameError(err: unknown, what: string): WorldlineError {
  if (err instanceof WorldlineError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new WorldlineError('MALFORMED_FRAME', `${what}: ${reason.slice(0, 200)}`, {}, { cause: err });
}
