/**
 * Channels: several sessions on one WebSocket (docs/protocol.md "Channels"). A frame of channel N > 0 carries the
 * envelope field `channel` as its first member: the first key of the JSON object or msgpack map, or field 15 of the
 * protobuf envelope (which a reader finds anywhere, as protobuf allows; the server writes it first). A router reads
 * it without decoding the rest of the frame, which for a binary delta it could not do anyway: its paths are interned
 * per session. A frame without it belongs to channel 0, the socket's own session.
 *
 * No Node-only API: the SDK multiplexes with these in browsers too.
 */
import { WorldlineError } from '../errors.js';
import { frameBytes, putVarint, varintSize } from './bytes.js';
import { Subprotocol, type Frame } from './codec.js';

/** The highest channel number (the proto field is a uint32). */
export const MAX_CHANNEL = 0xffffffff;

/** Where splitChannel puts its answer (one object reused per router: the hot path allocates nothing for channel 0). */
export interface ChannelSplit {
  /** The frame's channel: 0 when it names none. */
  channel: number;
  /** The frame to decode, without the channel member (protobuf's is left in when it is not the first field: decoders skip it). */
  frame: Frame;
}

const JSON_PREFIX = '{"channel":';
/** A JSON frame that starts with `{`, optional whitespace, `"channel"`, `:`: its number and the end of the member. */
const JSON_MEMBER = /^\{\s*"channel"\s*:\s*(\d+)\s*(,|\})/;
/** msgpack: fixstr of length 7, then "channel". */
const MSGPACK_KEY = [0xa7, 0x63, 0x68, 0x61, 0x6e, 0x6e, 0x65, 0x6c];
/** protobuf: field 15, varint. */
const PROTO_TAG = 0x78;

function badChannel(what: string): never {
  throw new WorldlineError('MALFORMED_FRAME', `The frame's channel ${what}; it must be an integer in [0, ${MAX_CHANNEL}], written first in the frame (docs/protocol.md "Channels").`, { field: 'channel' });
}

function checked(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_CHANNEL) badChannel(`is ${n}`);
  return n;
}

/** Fills `out` with the frame's channel and the frame to decode. Throws MALFORMED_FRAME for a channel out of range. */
export function splitChannel(sub: Subprotocol, frame: Frame, out: ChannelSplit): ChannelSplit {
  out.channel = 0;
  out.frame = frame;
  if (sub === Subprotocol.JSON) {
    if (typeof frame !== 'string') return out;
    // Fast path: no channel (a leading `{"` then anything but `channel"`), the frames of every plain socket.
    if (!frame.startsWith(JSON_PREFIX)) {
      const c = frame.charCodeAt(1);
      if (c === 0x22 /* " */ || !(c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d)) return out;
    }
    const m = JSON_MEMBER.exec(frame.length > 64 ? frame.slice(0, 64) : frame);
    if (m === null) return out;
    const digits = m[1] as string;
    // As JSON reads it: no leading zero (`03` is no JSON number), and a number too long for a channel named as such.
    if (digits.length > 1 && digits.charCodeAt(0) === 0x30) badChannel(`is ${digits}, a number with a leading zero (not JSON)`);
    if (digits.length > 10) badChannel(`is ${digits.slice(0, 12)}..., ${digits.length} digits`);
    out.channel = checked(Number(digits));
    out.frame = m[2] === '}' ? '{}' : `{${frame.slice(m[0].length)}`;
    return out;
  }
  if (typeof frame === 'string') return out;
  if (sub === Subprotocol.MSGPACK) return splitMsgpack(frame, out);
  if (frame[0] === PROTO_TAG) {
    // Written first (as the server and the SDK write it): read it and pass on the rest, a view (no copy).
    const v = readVarint(frame, 1);
    if (v < 0) return badChannel('is cut short');
    out.channel = checked(v);
    out.frame = frame.subarray(varintEnd);
    return out;
  }
  out.channel = protoChannel(frame);
  return out;
}

/** A msgpack map header: its entry count in `count`, its length in bytes returned; 0 when `b` does not start with one. */
const header = { count: 0 };
function mapHeader(b: Uint8Array): number {
  const h = b[0] as number;
  if (h >= 0x80 && h <= 0x8f) {
    header.count = h & 0x0f;
    return 1;
  }
  if (h === 0xde && b.length >= 3) {
    header.count = readBigEndian(b, 1, 2);
    return 3;
  }
  if (h === 0xdf && b.length >= 5) {
    header.count = readBigEndian(b, 1, 4);
    return 5;
  }
  return 0;
}

function splitMsgpack(b: Uint8Array, out: ChannelSplit): ChannelSplit {
  const head = mapHeader(b);
  if (head === 0) return out;
  const count = header.count;
  if (count === 0 || b.length < head + MSGPACK_KEY.length + 1) return out;
  for (let i = 0; i < MSGPACK_KEY.length; i++) if (b[head + i] !== MSGPACK_KEY[i]) return out;
  let p = head + MSGPACK_KEY.length;
  const t = b[p++] as number;
  let n: number;
  if (t <= 0x7f) n = t;
  else if (t === 0xcc && b.length >= p + 1) n = b[p++] as number;
  else if ((t === 0xcd || t === 0xce) && b.length >= p + (t === 0xcd ? 2 : 4)) {
    const bytes = t === 0xcd ? 2 : 4;
    n = readBigEndian(b, p, bytes);
    p += bytes;
  } else return badChannel('is not an unsigned integer');
  out.channel = checked(n);
  // The same header form with one entry fewer, then the rest of the map.
  const f = new Uint8Array(head + b.length - p);
  putMapHeader(f, 0, count - 1, head);
  f.set(b.subarray(p), head);
  out.frame = f;
  return out;
}

/**
 * Field 15 of a protobuf envelope, wherever it is among the top-level fields; 0 when absent. A frame that cannot be
 * walked is left to the decoder, which says what is wrong with it.
 */
function protoChannel(b: Uint8Array): number {
  let p = 0;
  while (p < b.length) {
    const tag = readVarint(b, p);
    if (tag < 0) return 0;
    p = varintEnd;
    const wire = tag % 8;
    if (wire === 0) {
      const v = readVarint(b, p);
      if (v < 0) return 0;
      if (tag === PROTO_TAG) return checked(v);
      p = varintEnd;
    } else if (wire === 2) {
      const len = readVarint(b, p);
      if (len < 0) return 0;
      p = varintEnd + len;
    } else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else return 0;
  }
  return 0;
}

/** Where the last readVarint ended (module state: the hot path allocates nothing per frame). */
let varintEnd = 0;

/** The varint at b[p] (at most 8 bytes: 2^53 - 1), its end in varintEnd; -1 when cut short or longer. */
function readVarint(b: Uint8Array, p: number): number {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 8 && p < b.length; i++) {
    const byte = b[p++] as number;
    v += (byte & 0x7f) * mul;
    if (byte < 0x80) {
      varintEnd = p;
      return v;
    }
    mul *= 0x80;
  }
  return -1;
}

/** The unsigned big-endian integer of `bytes` bytes (2 or 4) at b[p] (the caller checked they are there). */
function readBigEndian(b: Uint8Array, p: number, bytes: 2 | 4): number {
  const lo = ((b[p + bytes - 2] as number) << 8) | (b[p + bytes - 1] as number);
  return bytes === 2 ? lo : ((b[p] as number) * 2 ** 24 + ((b[p + 1] as number) << 16)) + lo;
}

/** Writes n big-endian in `bytes` bytes (2 or 4) at out[p]; returns the offset after. */
function putBigEndian(out: Uint8Array, p: number, n: number, bytes: 2 | 4): number {
  if (bytes === 4) {
    out[p++] = (n >>> 24) & 0xff;
    out[p++] = (n >>> 16) & 0xff;
  }
  out[p++] = (n >>> 8) & 0xff;
  out[p++] = n & 0xff;
  return p;
}

/** Writes a msgpack map header of `count` entries in `size` bytes (1: fixmap, 3: map16, 5: map32); returns the offset after. */
function putMapHeader(out: Uint8Array, p: number, count: number, size: number): number {
  if (size === 1) {
    out[p] = 0x80 | count;
    return p + 1;
  }
  out[p] = size === 3 ? 0xde : 0xdf;
  return putBigEndian(out, p + 1, count, size === 3 ? 2 : 4);
}

/** The frame with `channel` (> 0) written first: a new frame (the input may be a view into a reused buffer). */
export function withChannel(sub: Subprotocol, frame: Frame, channel: number): Frame {
  if (typeof frame === 'string') return `${JSON_PREFIX}${channel},${frame.slice(1)}`;
  if (sub === Subprotocol.MSGPACK) return msgpackWithChannel(frame, channel);
  const out = frameBytes(1 + varintSize(channel) + frame.length);
  out[0] = PROTO_TAG;
  out.set(frame, putVarint(out, 1, channel));
  return out;
}

function msgpackWithChannel(b: Uint8Array, channel: number): Uint8Array {
  const head = mapHeader(b);
  if (head === 0) throw new RangeError('withChannel: a msgpack frame must be a map');
  const c = header.count + 1;
  const newHead = c <= 15 ? 1 : c <= 0xffff ? 3 : 5;
  const valueSize = channel <= 0x7f ? 1 : channel <= 0xff ? 2 : channel <= 0xffff ? 3 : 5;
  const out = frameBytes(newHead + MSGPACK_KEY.length + valueSize + b.length - head);
  let p = putMapHeader(out, 0, c, newHead);
  for (const k of MSGPACK_KEY) out[p++] = k;
  if (valueSize === 1) out[p++] = channel;
  else if (valueSize === 2) {
    out[p++] = 0xcc;
    out[p++] = channel;
  } else {
    out[p] = valueSize === 3 ? 0xcd : 0xce;
    p = putBigEndian(out, p + 1, channel, valueSize === 3 ? 2 : 4);
  }
  out.set(b.subarray(head), p);
  return out;
}

/** msgpack: "type" then "close", as the server writes a Close (its first member after the channel). */
const MSGPACK_CLOSE = [0xa4, 0x74, 0x79, 0x70, 0x65, 0xa5, 0x63, 0x6c, 0x6f, 0x73, 0x65];

/**
 * Whether a server frame, after splitChannel, is a Close as the server writes it (its first member is the type):
 * a router ends the channel on it without decoding the frames it only passes on.
 */
export function isCloseFrame(sub: Subprotocol, frame: Frame): boolean {
  if (typeof frame === 'string') return frame.startsWith('{"type":"close"');
  if (sub === Subprotocol.PROTO) return frame[0] === 0x4a; // field 9 (close), length-delimited
  const head = mapHeader(frame);
  if (head === 0 || frame.length < head + MSGPACK_CLOSE.length) return false;
  for (let i = 0; i < MSGPACK_CLOSE.length; i++) if (frame[head + i] !== MSGPACK_CLOSE[i]) return false;
  return true;
}
