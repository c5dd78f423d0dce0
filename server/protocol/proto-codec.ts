/**
 * worldline.v1.proto: binary frames, each one protobuf ClientFrame or ServerFrame (proto/worldline.proto), through
 * protobufjs types built at startup from the generated descriptor (no .proto parsing or file access; building
 * them takes about a millisecond). ObservationDelta frames are written by hand around the shared fragment bytes,
 * byte-identical to what protobufjs would write for the same fields.
 */
import protobuf from 'protobufjs';
import { Recovery, WorldlineError } from '../errors.js';
import { FrameError, frameBytes, fromHex, toHex, utf8, varintSize, digestSize, hexInto, putVarint } from './bytes.js';
import { Subprotocol, assertDeltaHeader, binaryDeltaAssembly, WireSession, type DeltaHeader, type DeltaVisitor, type EncodedFragment, type FrameScratch, type Frame, type WireCodec } from './codec.js';
import { IntentStatus, Role, type ClientMessage, type ErrorBody, type JsonValue, type ServerMessage, type SnapshotBody, type Vec3, type WireOp } from './messages.js';
import { planOpStream, decodeOpStream, visitOpStream, encodeBinaryFragment, type OpStream, type PathTable } from './opstream.js';
import { WORLDLINE_PROTO } from './proto-schema.gen.js';
import { asFrameError, validateClientMessage, validateServerMessage } from './validate.js';

interface FrameTypes {
  readonly ClientFrame: protobuf.Type;
  readonly ServerFrame: protobuf.Type;
}

let frameTypes: FrameTypes | undefined;

/**
 * The protobufjs frame types, built on first use rather than when the module loads: protobufjs generates their code
 * with `Function`, which a web page's Content-Security-Policy without 'unsafe-eval' forbids, and a browser bundle of
 * the client SDK carries this module whichever codec it uses. Built at import, it threw there and took the json and
 * msgpack codecs down with it; built here, only choosing proto fails, with an error that says why.
 */
function protoFrameTypes(): FrameTypes {
  if (frameTypes) return frameTypes;
  try {
    const root = protobuf.Root.fromJSON(WORLDLINE_PROTO);
    frameTypes = { ClientFrame: root.lookupType('worldline.v1.ClientFrame'), ServerFrame: root.lookupType('worldline.v1.ServerFrame') };
  } catch (err) {
    if (!(err instanceof EvalError)) throw err;
    throw new WorldlineError('ADAPTER_UNAVAILABLE', `the proto codec cannot run here: protobufjs builds its types with generated code, which this environment forbids (${err.message.trim()}); use the msgpack or json codec, or allow 'unsafe-eval' in the page's Content-Security-Policy`);
  }
  return frameTypes;
}

type Obj = Record<string, unknown>;

const ROLES = [undefined, Role.AGENT, Role.ENGINE, Role.VIEWER, Role.ADMIN] as const;
const STATUSES = [undefined, IntentStatus.ACCEPTED, IntentStatus.REJECTED, IntentStatus.DUPLICATE, IntentStatus.CANCELLED] as const;
const RECOVERIES = [undefined, Recovery.RETRY, Recovery.RETRY_WITH_DELAY, Recovery.REGENERATE, Recovery.MODIFY_INTENT, Recovery.DEFER, Recovery.SHED_OLDEST, Recovery.ABORT] as const;

const toWireEnum = (table: readonly (string | undefined)[], v: string | undefined): number => (v === undefined ? 0 : Math.max(0, table.indexOf(v)));
/** Known enum numbers map to the model's strings; an unknown one maps to a string the validator refuses. */
const fromWireEnum = (table: readonly (string | undefined)[], n: unknown): string | undefined => {
  if (n === 0 || n === undefined || n === null) return undefined;
  return typeof n === 'number' ? (table[n] ?? `unknown enum value ${n}`) : `unknown enum value`;
};

/** uint64 as decoded by protobufjs (a Long above 2^32) to a number; NaN (refused later) above 2^53 - 1. */
function u64(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && 'low' in v && 'high' in v) {
    const hi = (v as { high: number }).high >>> 0;
    const lo = (v as { low: number }).low >>> 0;
    return hi > 0x1fffff ? Number.NaN : hi * 0x100000000 + lo;
  }
  return Number.NaN;
}

const bytesOf = (v: unknown): Uint8Array => (v instanceof Uint8Array ? v : new Uint8Array(0));
const has = (m: Obj, k: string): boolean => Object.prototype.hasOwnProperty.call(m, k) && m[k] !== null && m[k] !== undefined;
const sub = (m: Obj, k: string): Obj | undefined => (has(m, k) ? (m[k] as Obj) : undefined);

function jsonOf(b: unknown, field: string, code: 'MALFORMED_FRAME' | 'INVALID_INTENT', extra: Obj = {}): unknown {
  const bytes = bytesOf(b);
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(utf8.decode(bytes)) as unknown;
  } catch {
    throw new WorldlineError(code, `${field} must be UTF-8 JSON text.`, { ...extra, field });
  }
}

const jsonBytes = (v: JsonValue | undefined): Uint8Array => (v === undefined || v === null ? new Uint8Array(0) : utf8.encode(JSON.stringify(v)));
const vec = (v: Obj | undefined): Vec3 | undefined => (v === undefined ? undefined : { x: Number(v['x'] ?? 0), y: Number(v['y'] ?? 0), z: Number(v['z'] ?? 0) });

function digestBytes(hex: string): Uint8Array {
  const b = fromHex(hex);
  if (b === undefined) throw new Error('context_digest must be lowercase hex');
  return b;
}

// ----- client frames -----

function clientToModel(kind: string, m: Obj): Obj {
  switch (kind) {
    case 'hello': {
      const resume = sub(m, 'resume');
      return { type: kind, token: m['token'], agent_id: m['agent_id'], role: fromWireEnum(ROLES, m['role']), client_version: m['client_version'], schema_version: m['schema_version'], resume: resume && { view_seq: u64(resume['view_seq']), incarnation: resume['incarnation'] } };
    }
    case 'submit_intent': {
      const i = sub(m, 'intent');
      if (i === undefined) return { type: kind };
      const reqId = i['req_id'];
      return {
        type: kind,
        intent: {
          req_id: reqId,
          kind: i['kind'],
          payload: jsonOf(i['payload_json'], 'intent.payload_json', 'INVALID_INTENT', typeof reqId === 'string' && reqId !== '' ? { req_id: reqId } : {}),
          context_seq: u64(i['context_seq']),
          priority: i['priority'],
          deadline_ms: has(i, 'deadline_ms') ? i['deadline_ms'] : undefined,
        },
      };
    }
    case 'begin_generation':
      return { type: kind, req_id: m['req_id'], context_seq: u64(m['context_seq']) };
    case 'cancel_intent':
      return { type: kind, req_id: m['req_id'] };
    case 'emit':
      return { type: kind, kind: m['kind'], payload: jsonOf(m['payload_json'], 'payload_json', 'MALFORMED_FRAME'), priority: m['priority'], req_id: m['req_id'] };
    case 'ping':
      return { type: kind, client_time: m['client_time'] };
    case 'time_tick':
      return { type: kind, sim_time: u64(m['sim_time']), delta_time: m['delta_time'], frame_number: u64(m['frame_number']) };
    case 'collision_event':
      return { type: kind, entity_a: m['entity_a'], entity_b: m['entity_b'], impact_force: m['impact_force'], position: vec(sub(m, 'position')), normal: vec(sub(m, 'normal')) };
    case 'position_report':
      return {
        type: kind,
        frame_number: u64(m['frame_number']),
        entities: ((m['entities'] as Obj[] | undefined) ?? []).map((e) => ({ entity_id: e['entity_id'], position: vec(sub(e, 'position')), velocity: vec(sub(e, 'velocity')) })),
      };
    case 'close':
      return { type: kind, code: m['code'], reason: m['reason'] };
    default:
      return { type: kind };
  }
}

const vecWire = (v: Vec3): Obj => ({ x: v.x, y: v.y, z: v.z });

function clientToWire(msg: ClientMessage): Obj {
  switch (msg.type) {
    case 'hello':
      return {
        hello: {
          token: msg.token,
          agent_id: msg.agent_id,
          role: toWireEnum(ROLES, msg.role),
          client_version: msg.client_version,
          schema_version: msg.schema_version,
          ...(msg.resume ? { resume: { view_seq: msg.resume.view_seq, ...(msg.resume.incarnation !== undefined ? { incarnation: msg.resume.incarnation } : {}) } } : {}),
        },
      };
    case 'submit_intent': {
      const i = msg.intent;
      return {
        submit_intent: {
          intent: {
            req_id: i.req_id,
            kind: i.kind,
            payload_json: jsonBytes(i.payload),
            context_seq: i.context_seq,
            priority: i.priority,
            ...(i.deadline_ms === undefined ? {} : { deadline_ms: i.deadline_ms }),
          },
        },
      };
    }
    case 'begin_generation':
      return { begin_generation: { req_id: msg.req_id, context_seq: msg.context_seq } };
    case 'cancel_intent':
      return { cancel_intent: { req_id: msg.req_id } };
    case 'emit':
      return { emit: { kind: msg.kind, payload_json: jsonBytes(msg.payload), priority: msg.priority, req_id: msg.req_id } };
    case 'ping':
      return { ping: { client_time: msg.client_time } };
    case 'time_tick':
      return { time_tick: { sim_time: msg.sim_time, delta_time: msg.delta_time, frame_number: msg.frame_number } };
    case 'collision_event':
      return { collision_event: { entity_a: msg.entity_a, entity_b: msg.entity_b, impact_force: msg.impact_force, position: vecWire(msg.position), normal: vecWire(msg.normal) } };
    case 'position_report':
      return {
        position_report: {
          frame_number: msg.frame_number,
          entities: msg.entities.map((e) => ({ entity_id: e.entity_id, position: vecWire(e.position), ...(e.velocity ? { velocity: vecWire(e.velocity) } : {}) })),
        },
      };
    case 'close':
      return { close: { code: msg.code, reason: msg.reason } };
  }
}

// ----- server frames -----

const snapshotWire = (s: SnapshotBody): Obj => ({ view_seq: s.view_seq, view_json: jsonBytes(s.view), context_digest: digestBytes(s.context_digest) });
const errorWire = (e: ErrorBody): Obj => ({
  code: e.code,
  name: e.name,
  message: e.message,
  recovery: toWireEnum(RECOVERIES, e.recovery),
  details_json: Object.keys(e.details).length === 0 ? new Uint8Array(0) : jsonBytes(e.details),
});

function serverToWire(msg: Exclude<ServerMessage, { type: 'observation_delta' }>): Obj {
  switch (msg.type) {
    case 'welcome':
      return {
        welcome: {
          session: msg.session,
          world: msg.world,
          agent: msg.agent,
          schema_version: msg.schema_version,
          server_time: msg.server_time,
          view_seq: msg.view_seq,
          ...(msg.snapshot ? { snapshot: snapshotWire(msg.snapshot) } : {}),
          ...(msg.incarnation !== undefined ? { incarnation: msg.incarnation } : {}),
        },
      };
    case 'snapshot':
      return { snapshot: snapshotWire(msg) };
    case 'intent_result':
      return {
        intent_result: {
          req_id: msg.req_id,
          status: toWireEnum(STATUSES, msg.status),
          ...(msg.global_seq === undefined ? {} : { global_seq: msg.global_seq }),
          ...(msg.error ? { error: errorWire(msg.error) } : {}),
        },
      };
    case 'cancelled':
      return { cancelled: { req_id: msg.req_id, reason: msg.reason, stale_due_to: msg.stale_due_to.map((c) => ({ view_seq: c.view_seq, global_seq: c.global_seq, kind: c.kind })), server_time: msg.server_time } };
    case 'pong':
      return { pong: { client_time: msg.client_time, server_time: msg.server_time, sim_time: msg.sim_time } };
    case 'error':
      return { error: errorWire(msg) };
    case 'move_command':
      return {
        move_command: {
          entity_id: msg.entity_id,
          target_position: vecWire(msg.target_position),
          speed: msg.speed,
          use_pathfinding: msg.use_pathfinding,
          global_seq: msg.global_seq,
          req_id: msg.req_id,
        },
      };
    case 'close':
      return { close: { code: msg.code, reason: msg.reason } };
  }
}

const snapshotModel = (s: Obj): Obj => ({ view_seq: u64(s['view_seq']), view: jsonOf(s['view_json'], 'view_json', 'MALFORMED_FRAME') ?? null, context_digest: toHex(bytesOf(s['context_digest'])) });
const errorModel = (e: Obj): Obj => ({
  code: e['code'],
  name: e['name'],
  message: e['message'],
  // A recovery this build does not know (from a newer server) reads as '' rather than failing the whole frame.
  recovery: typeof e['recovery'] === 'number' ? (RECOVERIES[e['recovery']] ?? '') : '',
  details: jsonOf(e['details_json'], 'details_json', 'MALFORMED_FRAME') ?? {},
});

function serverToModel(kind: string, m: Obj, session: WireSession, visitor: DeltaVisitor | undefined): { raw: Obj; ops?: WireOp[] } {
  switch (kind) {
    case 'welcome': {
      const snap = sub(m, 'snapshot');
      return {
        raw: { type: kind, session: m['session'], world: m['world'], agent: m['agent'], schema_version: m['schema_version'], server_time: m['server_time'], view_seq: u64(m['view_seq']), snapshot: snap && snapshotModel(snap), incarnation: m['incarnation'] },
      };
    }
    case 'observation_delta': {
      const raw = { type: kind, view_seq: u64(m['view_seq']), from_seq: u64(m['from_seq']), context_digest: toHex(bytesOf(m['context_digest'])), global_seq: u64(m['global_seq']), sim_time: u64(m['sim_time']), server_time: u64(m['server_time']) };
      if (visitor === undefined) return { raw, ops: decodeOpStream(bytesOf(m['ops']), session.received) };
      visitor.delta(raw.from_seq, raw.view_seq);
      visitOpStream(bytesOf(m['ops']), session.received, visitor);
      return { raw, ops: [] };
    }
    case 'snapshot':
      return { raw: { type: kind, ...snapshotModel(m) } };
    case 'intent_result': {
      const err = sub(m, 'error');
      return {
        raw: {
          type: kind,
          req_id: m['req_id'],
          status: fromWireEnum(STATUSES, m['status']),
          global_seq: has(m, 'global_seq') ? u64(m['global_seq']) : undefined,
          error: err && errorModel(err),
        },
      };
    }
    case 'cancelled':
      return {
        raw: { type: kind, req_id: m['req_id'], reason: m['reason'], stale_due_to: ((m['stale_due_to'] as Obj[] | undefined) ?? []).map((c) => ({ view_seq: u64(c['view_seq']), global_seq: u64(c['global_seq']), kind: c['kind'] })), server_time: m['server_time'] },
      };
    case 'pong':
      return { raw: { type: kind, client_time: m['client_time'], server_time: m['server_time'], sim_time: u64(m['sim_time']) } };
    case 'error':
      return { raw: { type: kind, ...errorModel(m) } };
    case 'move_command':
      return {
        raw: { type: kind, entity_id: m['entity_id'], target_position: vec(sub(m, 'target_position')), speed: m['speed'], use_pathfinding: m['use_pathfinding'], global_seq: u64(m['global_seq']), req_id: m['req_id'] },
      };
    case 'close':
      return { raw: { type: kind, code: m['code'], reason: m['reason'] } };
    default:
      return { raw: { type: kind } };
  }
}

// ----- hand-written ObservationDelta -----

const uintFieldSize = (n: number): number => (n === 0 ? 0 : 1 + varintSize(n));
const bytesFieldSize = (n: number): number => (n === 0 ? 0 : 1 + varintSize(n) + n);

/**
 * ServerFrame { observation_delta (2) { view_seq 1, from_seq 2, context_digest 3, ops 4, global_seq 5, sim_time 6, server_time 7 } },
 * sized first and written into one buffer; fields at their proto3 default are left out, as protobuf encoders do.
 */
function assemble(h: DeltaHeader, plan: OpStream, scratch?: FrameScratch): Uint8Array {
  const digestLength = digestSize(h.context_digest);
  const global = h.global_seq ?? 0;
  const sim = h.sim_time ?? 0;
  const st = h.server_time ?? 0;
  const body = uintFieldSize(h.view_seq) + uintFieldSize(h.from_seq) + bytesFieldSize(digestLength) + bytesFieldSize(plan.length) + uintFieldSize(global) + uintFieldSize(sim) + uintFieldSize(st);
  const size = 1 + varintSize(body) + body;
  const out = scratch ? scratch.take(size) : frameBytes(size);
  out[0] = 0x12; // field 2 (observation_delta), length-delimited
  let pos = putVarint(out, 1, body);
  pos = putUintField(out, pos, 0x08, h.view_seq);
  pos = putUintField(out, pos, 0x10, h.from_seq);
  if (digestLength > 0) {
    out[pos] = 0x1a;
    pos = hexInto(h.context_digest, out, putVarint(out, pos + 1, digestLength));
  }
  if (plan.length > 0) {
    out[pos] = 0x22;
    pos = plan.writeTo(out, putVarint(out, pos + 1, plan.length));
  }
  pos = putUintField(out, pos, 0x28, global);
  pos = putUintField(out, pos, 0x30, sim);
  pos = putUintField(out, pos, 0x38, st);
  if (pos !== out.length) throw new Error('ObservationDelta size was miscomputed');
  return out;
}

/**
 * An IntentResult without an error as a ServerFrame, written by hand: every agent gets one per intent (ten a second
 * each at arena-v1's rate), and protobufjs's general encoder builds a wire object and a writer's list of operations
 * for it. The same bytes protobufjs writes (tested): req_id and status always, global_seq when set. Undefined for
 * one with an error, a req_id beyond ASCII, or a global_seq the wire cannot carry exactly: the general path takes
 * those.
 */
function intentResultFrame(msg: Extract<ServerMessage, { type: 'intent_result' }>): Uint8Array | undefined {
  if (msg.error !== undefined) return undefined;
  const g = msg.global_seq;
  if (g !== undefined && !(Number.isSafeInteger(g) && g >= 0)) return undefined;
  const status = toWireEnum(STATUSES, msg.status) as number;
  const id = msg.req_id;
  const idLen = id.length;
  for (let i = 0; i < idLen; i++) if (id.charCodeAt(i) > 0x7f) return undefined;
  const body = 1 + varintSize(idLen) + idLen + 1 + varintSize(status) + (g === undefined ? 0 : 1 + varintSize(g));
  const out = frameBytes(1 + varintSize(body) + body);
  out[0] = 0x22; // field 4 (intent_result), length-delimited
  let pos = putVarint(out, 1, body);
  out[pos] = 0x0a;
  pos = putVarint(out, pos + 1, idLen);
  for (let i = 0; i < idLen; i++) out[pos + i] = id.charCodeAt(i);
  pos += idLen;
  out[pos] = 0x10;
  pos = putVarint(out, pos + 1, status);
  if (g !== undefined) {
    out[pos] = 0x18;
    pos = putVarint(out, pos + 1, g);
  }
  if (pos !== out.length) throw new Error('IntentResult size was miscomputed');
  return out;
}

function putUintField(out: Uint8Array, pos: number, tag: number, n: number): number {
  if (n === 0) return pos;
  out[pos] = tag;
  return putVarint(out, pos + 1, n);
}

function decodeFrame(type: protobuf.Type, data: Frame): { kind: string; body: Obj } {
  if (typeof data === 'string') throw new FrameError('a text frame was sent on a binary subprotocol');
  const frame = type.decode(data) as unknown as Obj;
  const kind = frame['frame'];
  if (typeof kind !== 'string') throw new WorldlineError('MALFORMED_FRAME', `The ${type.name} carries no message this server knows (empty, or a field number from a newer protocol).`, { field: 'frame' });
  return { kind, body: frame[kind] as Obj };
}

export function createProtoCodec(table: PathTable): WireCodec {
  const { ClientFrame, ServerFrame } = protoFrameTypes();
  return {
    subprotocol: Subprotocol.PROTO,
    binary: true,
    paths: table,
    decodeClient(data: Frame): ClientMessage {
      let raw: Obj;
      try {
        const { kind, body } = decodeFrame(ClientFrame, data);
        raw = clientToModel(kind, body);
      } catch (err) {
        throw asFrameError(err, 'The frame is not a valid worldline.v1.ClientFrame');
      }
      return validateClientMessage(raw);
    },
    encodeServer(msg: ServerMessage, session: WireSession = new WireSession()): Frame {
      if (msg.type === 'observation_delta') {
        assertDeltaHeader(msg);
        return assemble(msg, planOpStream([encodeBinaryFragment(msg.ops, table)], table, session.sent));
      }
      if (msg.type === 'intent_result') {
        const fast = intentResultFrame(msg);
        if (fast) return fast;
      }
      return ServerFrame.encode(serverToWire(msg)).finish();
    },
    encodeClient(msg: ClientMessage): Frame {
      return ClientFrame.encode(clientToWire(msg)).finish();
    },
    decodeServer(data: Frame, session: WireSession = new WireSession(), visitor?: DeltaVisitor): ServerMessage {
      try {
        const { kind, body } = decodeFrame(ServerFrame, data);
        const { raw, ops } = serverToModel(kind, body, session, visitor);
        return validateServerMessage(raw, ops);
      } catch (err) {
        throw asFrameError(err, 'The frame is not a valid worldline.v1.ServerFrame');
      }
    },
    encodeFragment(ops: readonly WireOp[]): EncodedFragment {
      return encodeBinaryFragment(ops, table);
    },
    encodeFragmentText(text: string): EncodedFragment {
      return encodeBinaryFragment(JSON.parse(`[${text}]`) as WireOp[], table);
    },
    ...binaryDeltaAssembly(table, assemble),
  };
}
