/**
 * worldline.v1.msgpack: binary frames, each one msgpack map in the shape of messages.ts (plain msgpack, no
 * extensions, so any msgpack library reads it), except that digests are `bin` (32 raw bytes instead of 64 hex
 * characters) and ObservationDelta.ops is `bin` holding the compact op stream (opstream.ts). Deltas are written
 * by hand around the shared fragment bytes; every other message goes through msgpackr.
 */
import { Packr, Unpackr } from 'msgpackr';
import { ByteWriter, FrameError, frameBytes, fromHex, toHex, digestSize, hexInto } from './bytes.js';
import { Subprotocol, assertDeltaHeader, binaryDeltaAssembly, WireSession, type DeltaHeader, type DeltaVisitor, type EncodedFragment, type FrameScratch, type Frame, type WireCodec } from './codec.js';
import type { ClientMessage, ServerMessage, SnapshotBody, WireOp } from './messages.js';
import { planOpStream, decodeOpStream, visitOpStream, encodeBinaryFragment, type OpStream, type PathTable } from './opstream.js';
import { MAX_JSON_DEPTH, asFrameError, validateClientMessage, validateServerMessage } from './validate.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
/** Maps read as Map: unpackr reads a "__proto__" key as "__proto_", which would carry the value under another key. */
const mapUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: false });

/** "__proto__" in ASCII, and Horspool's shift for each byte at the end of a window: 9 for a byte not in it. */
const PROTO_KEY = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f];
const PROTO_SHIFT = new Uint8Array(256).fill(PROTO_KEY.length);
for (let i = 0; i < PROTO_KEY.length - 1; i++) PROTO_SHIFT[PROTO_KEY[i]!] = PROTO_KEY.length - 1 - i;

/**
 * True when the bytes hold "__proto__" anywhere (rare: only such a frame is read the slower way). Every client frame
 * passes here, so it skips ahead as Horspool's search does (~40 ns for an 80-byte frame, where a byte-by-byte loop took
 * ~130 ns and Buffer#indexOf, a native call per underscore, ~0.4 us on a SubmitIntent).
 */
function mentionsProtoKey(b: Uint8Array): boolean {
  const last = PROTO_KEY.length - 1;
  for (let i = last; i < b.length; i += PROTO_SHIFT[b[i]!]!) {
    if (b[i] !== 0x5f) continue;
    let j = last - 1;
    while (j >= 0 && b[i - last + j] === PROTO_KEY[j]) j--;
    if (j < 0) return true;
  }
  return false;
}

/**
 * A value read with mapUnpackr as unpackr would read it (maps as objects, keys as strings), except that "__proto__"
 * stays an own key, which the validator then refuses as it does in a JSON frame. Nesting past any depth the validator
 * accepts is left as read (a Map, refused as not a JSON value).
 */
function ownKeys(v: unknown, depth: number): unknown {
  if (depth > MAX_JSON_DEPTH + 4) return v;
  if (Array.isArray(v)) return v.map((x) => ownKeys(x, depth + 1));
  if (!(v instanceof Map)) return v;
  const o: Record<string, unknown> = {};
  for (const [k, x] of v as Map<unknown, unknown>) {
    if (typeof k === 'object' && k !== null) throw new FrameError(`a map key must be a string, not ${Array.isArray(k) ? 'an array' : 'a map'}`);
    const key = String(k);
    const value = ownKeys(x, depth + 1);
    if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
    else o[key] = value;
  }
  return o;
}

function unpack(data: Frame, keepProtoKey = false): unknown {
  if (typeof data === 'string') throw asFrameError(new Error('a text frame was sent on a binary subprotocol'), 'The frame is not msgpack');
  try {
    return keepProtoKey && mentionsProtoKey(data) ? ownKeys(mapUnpackr.unpack(data), 0) : unpackr.unpack(data);
  } catch (err) {
    throw asFrameError(err, 'The frame is not valid msgpack');
  }
}

function digestBytes(hex: string): Uint8Array {
  const b = fromHex(hex);
  if (b === undefined) throw new Error('context_digest must be lowercase hex');
  return b;
}

// msgpack writers for the hand-assembled delta map.
function mpKey(w: ByteWriter, k: string): void {
  w.u8(0xa0 | k.length);
  for (let i = 0; i < k.length; i++) w.u8(k.charCodeAt(i));
}

const mpUintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9);

function mpUint(w: ByteWriter, n: number): void {
  if (n < 0x80) w.u8(n);
  else if (n < 0x100) { w.u8(0xcc); w.u8(n); }
  else if (n < 0x10000) { w.u8(0xcd); w.u8(n >>> 8); w.u8(n & 0xff); }
  else if (n < 0x100000000) { w.u8(0xce); w.u8(n >>> 24); w.u8((n >>> 16) & 0xff); w.u8((n >>> 8) & 0xff); w.u8(n & 0xff); }
  else {
    // Like msgpackr, integers from 2^32 up are written as float64 (exact up to 2^53 - 1), so a plain msgpack
    // reader gets a number rather than a 64-bit integer type (BigInt in JavaScript).
    w.u8(0xcb);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, n);
    w.bytes(b);
  }
}

const mpBinHeaderSize = (n: number): number => (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);

function mpBinHeader(w: ByteWriter, n: number): void {
  if (n < 0x100) { w.u8(0xc4); w.u8(n); }
  else if (n < 0x10000) { w.u8(0xc5); w.u8(n >>> 8); w.u8(n & 0xff); }
  else { w.u8(0xc6); w.u8(n >>> 24); w.u8((n >>> 16) & 0xff); w.u8((n >>> 8) & 0xff); w.u8(n & 0xff); }
}

const KEYS = { type: 5, observation_delta: 18, view_seq: 9, from_seq: 9, context_digest: 15, ops: 4, global_seq: 11, sim_time: 9, server_time: 12 } as const;

/** The delta as a msgpack map, sized first and written into one buffer around the shared fragment bytes. */
function assemble(h: DeltaHeader, plan: OpStream, scratch?: FrameScratch): Uint8Array {
  const digestLength = digestSize(h.context_digest);
  const global = h.global_seq ?? 0;
  const sim = h.sim_time ?? 0;
  const st = h.server_time ?? 0;
  // Zero global_seq, sim_time and server_time are left out, as proto3 leaves out defaults; readers default them to 0.
  const entries = 5 + (global > 0 ? 1 : 0) + (sim > 0 ? 1 : 0) + (st > 0 ? 1 : 0);
  const size =
    1 + KEYS.type + KEYS.observation_delta + KEYS.view_seq + mpUintSize(h.view_seq) + KEYS.from_seq + mpUintSize(h.from_seq) +
    KEYS.context_digest + mpBinHeaderSize(digestLength) + digestLength + KEYS.ops + mpBinHeaderSize(plan.length) + plan.length +
    (global > 0 ? KEYS.global_seq + mpUintSize(global) : 0) + (sim > 0 ? KEYS.sim_time + mpUintSize(sim) : 0) + (st > 0 ? KEYS.server_time + mpUintSize(st) : 0);
  const out = scratch ? scratch.take(size) : frameBytes(size);
  const w = new ByteWriter(out);
  w.u8(0x80 | entries);
  mpKey(w, 'type');
  mpKey(w, 'observation_delta');
  mpKey(w, 'view_seq');
  mpUint(w, h.view_seq);
  mpKey(w, 'from_seq');
  mpUint(w, h.from_seq);
  mpKey(w, 'context_digest');
  mpBinHeader(w, digestLength);
  w.pos = hexInto(h.context_digest, out, w.pos);
  mpKey(w, 'ops');
  mpBinHeader(w, plan.length);
  w.pos = plan.writeTo(out, w.pos);
  if (global > 0) { mpKey(w, 'global_seq'); mpUint(w, global); }
  if (sim > 0) { mpKey(w, 'sim_time'); mpUint(w, sim); }
  if (st > 0) { mpKey(w, 'server_time'); mpUint(w, st); }
  if (w.buf !== out || w.pos !== size) throw new Error('observation_delta size was miscomputed');
  return out;
}

const snapshotWire = (s: SnapshotBody): Record<string, unknown> => ({ view_seq: s.view_seq, view: s.view, context_digest: digestBytes(s.context_digest) });

/** Turns the bin fields of a received server map back into the model's hex and ops. */
function fromWire(raw: unknown, session: WireSession, visitor: DeltaVisitor | undefined): { raw: unknown; ops?: WireOp[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { raw };
  const o = { ...(raw as Record<string, unknown>) };
  const hex = (v: unknown): unknown => (v instanceof Uint8Array ? toHex(v) : v);
  o['context_digest'] = hex(o['context_digest']);
  const snap = o['snapshot'];
  if (typeof snap === 'object' && snap !== null && !Array.isArray(snap)) {
    const s = { ...(snap as Record<string, unknown>) };
    s['context_digest'] = hex(s['context_digest']);
    o['snapshot'] = s;
  }
  if (o['type'] === 'observation_delta') {
    const ops = o['ops'];
    if (!(ops instanceof Uint8Array)) throw asFrameError(new Error('ops must be bin'), 'Bad observation_delta');
    if (visitor === undefined) return { raw: o, ops: decodeOpStream(ops, session.received) };
    visitor.delta(o['from_seq'] as number, o['view_seq'] as number);
    visitOpStream(ops, session.received, visitor);
    return { raw: o, ops: [] };
  }
  return { raw: o };
}

export function createMsgpackCodec(table: PathTable): WireCodec {
  return {
    subprotocol: Subprotocol.MSGPACK,
    binary: true,
    paths: table,
    decodeClient(data: Frame): ClientMessage {
      return validateClientMessage(unpack(data, true));
    },
    encodeServer(msg: ServerMessage, session: WireSession = new WireSession()): Frame {
      switch (msg.type) {
        case 'observation_delta':
          assertDeltaHeader(msg);
          return assemble(msg, planOpStream([encodeBinaryFragment(msg.ops, table)], table, session.sent));
        case 'snapshot':
          return packr.pack({ type: msg.type, ...snapshotWire(msg) });
        case 'welcome': {
          const { snapshot, ...rest } = msg;
          return packr.pack(snapshot === undefined ? rest : { ...rest, snapshot: snapshotWire(snapshot) });
        }
        default:
          return packr.pack(msg);
      }
    },
    encodeClient(msg: ClientMessage): Frame {
      return packr.pack(msg);
    },
    decodeServer(data: Frame, session: WireSession = new WireSession(), visitor?: DeltaVisitor): ServerMessage {
      try {
        const { raw, ops } = fromWire(unpack(data), session, visitor);
        return validateServerMessage(raw, ops);
      } catch (err) {
        throw asFrameError(err, 'Bad server frame');
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

