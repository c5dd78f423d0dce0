/**
 * Little byte writer and reader for the binary codecs: varints (LEB128, exact up to 2^53), little-endian floats
 * and UTF-8. The reader checks every bound and reports a short or bad buffer as a FrameError, which the codecs
 * turn into MALFORMED_FRAME; it never reads past the end or loops without consuming input.
 */

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });
const TWO_32 = 2 ** 32;

/** A defect in bytes received from a peer; the codecs rethrow it as a WorldlineError. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/** Writes a varint of a non-negative safe integer at out[pos] (room for varintSize(n) bytes); returns the offset after it. */
export function putVarint(out: Uint8Array, pos: number, n: number): number {
  let v = n;
  while (v >= 0x80) {
    out[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[pos++] = v;
  return pos;
}

/** Bytes a varint of `n` (a non-negative safe integer) takes. */
export function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  let size = 4;
  let v = Math.floor(n / 0x10000000);
  while (v > 0) {
    size++;
    v = Math.floor(v / 0x80);
  }
  return size;
}

export class ByteWriter {
  buf: Uint8Array;
  pos = 0;
  /** Made on the first float write: most writers never need one. */
  private dataView: DataView | undefined;

  /** A growable buffer of `initial` bytes, or writes into the given buffer (growing a copy if it overflows). */
  constructor(initial: number | Uint8Array = 256) {
    this.buf = typeof initial === 'number' ? new Uint8Array(initial) : initial;
  }

  private get view(): DataView {
    return (this.dataView ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.dataView = undefined;
  }

  u8(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Unsigned LEB128 of a non-negative safe integer. */
  varint(n: number): void {
    this.ensure(varintSize(n));
    let v = n;
    while (v >= TWO_32) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    let lo = v >>> 0;
    while (lo >= 0x80) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    this.buf[this.pos++] = lo;
  }

  f32(x: number): void {
    this.ensure(4);
    this.view.setFloat32(this.pos, x, true);
    this.pos += 4;
  }

  f64(x: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, x, true);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A varint byte length, then the string as UTF-8. */
  string(s: string): void {
    // ASCII (every path and most keys) is written directly; anything else goes through the encoder.
    const n = s.length;
    let ascii = n < 128;
    if (ascii) for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
    if (ascii) {
      this.ensure(1 + n);
      this.buf[this.pos++] = n;
      for (let i = 0; i < n; i++) this.buf[this.pos++] = s.charCodeAt(i);
      return;
    }
    const enc = textEncoder.encode(s);
    this.varint(enc.length);
    this.bytes(enc);
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export class ByteReader {
  pos: number;
  private readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new FrameError(`truncated: needed ${n} more byte(s) at offset ${this.pos}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  /** Unsigned LEB128; refuses values above 2^53 - 1 (8 groups at most). */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw new FrameError(`varint above 2^53 - 1 at offset ${this.pos}`);
        return result;
      }
      mul *= 0x80;
    }
    throw new FrameError(`varint longer than 8 bytes at offset ${this.pos}`);
  }

  f32(): number {
    this.need(4);
    const x = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return x;
  }

  f64(): number {
    this.need(8);
    const x = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return x;
  }

  string(): string {
    const n = this.varint();
    this.need(n);
    const start = this.pos;
    this.pos += n;
    let ascii = n < 64;
    if (ascii) {
      let s = '';
      for (let i = start; i < start + n; i++) {
        const c = this.buf[i] as number;
        if (c > 0x7f) { ascii = false; break; }
        s += String.fromCharCode(c);
      }
      if (ascii) return s;
    }
    try {
      return textDecoder.decode(this.buf.subarray(start, start + n));
    } catch {
      throw new FrameError(`invalid UTF-8 in a string at offset ${start}`);
    }
  }
}

/** Lowercase hex of bytes. */
export function toHex(b: Uint8Array): string {
  // Char codes into an array, then one String.fromCharCode: a 32-byte digest (every delta a client decodes) in
  // ~180 ns, against ~700 for a toString(16) and padStart per byte. Chunked so apply() never gets too many arguments.
  let s = '';
  for (let start = 0; start < b.length; start += HEX_CHUNK) {
    const n = Math.min(b.length - start, HEX_CHUNK);
    const codes = n === 32 ? HEX_CODES_32 : new Array<number>(2 * n);
    for (let i = 0; i < n; i++) {
      const x = b[start + i] as number;
      codes[2 * i] = HEX_DIGIT_CODES[x >> 4] as number;
      codes[2 * i + 1] = HEX_DIGIT_CODES[x & 15] as number;
    }
    s += String.fromCharCode.apply(null, codes);
  }
  return s;
}

/** By char code below 256: the value of a lowercase hex digit, else -1. */
const HEX_VALUE: Int8Array = new Int8Array(256).fill(-1);
for (let c = 0; c < 16; c++) HEX_VALUE[(c < 10 ? 0x30 : 0x61 - 10) + c] = c;

const HEX_DIGIT_CODES: readonly number[] = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** Bytes per String.fromCharCode call (twice as many arguments). */
const HEX_CHUNK = 4096;
/** toHex's reused code array for a 32-byte chunk (a SHA-256 digest). */
const HEX_CODES_32: number[] = new Array<number>(64).fill(0);

/** Writes lowercase hex `s` as bytes into out at pos; returns the offset after them, or -1 when `s` is not hex. */
export function writeHex(s: string, out: Uint8Array, pos: number): number {
  if (s.length % 2 !== 0) return -1;
  const n = s.length / 2;
  // By table, not by comparisons: ~95 against ~325 ns for a 64-digit digest in a micro-benchmark (1,000 SHA-256 digests,
  // best of 50 rounds); every binary delta frame carries one.
  for (let i = 0; i < n; i++) {
    const a = s.charCodeAt(2 * i);
    const b = s.charCodeAt(2 * i + 1);
    if ((a | b) > 0xff) return -1;
    const hi = HEX_VALUE[a] as number;
    const lo = HEX_VALUE[b] as number;
    if ((hi | lo) < 0) return -1;
    out[pos + i] = (hi << 4) | lo;
  }
  return pos + n;
}

/** The byte length of a context_digest given as hex (its digits are checked as they are written: hexInto). */
export function digestSize(hex: string): number {
  if (hex.length % 2 !== 0) throw new Error('context_digest must be lowercase hex');
  return hex.length / 2;
}

/** Writes a context_digest given as hex into out at pos; returns the offset after it. */
export function hexInto(hex: string, out: Uint8Array, pos: number): number {
  const end = writeHex(hex, out, pos);
  if (end < 0) throw new Error('context_digest must be lowercase hex');
  return end;
}

const NodeBuffer = (globalThis as { Buffer?: { allocUnsafe(n: number): Uint8Array } }).Buffer;

/**
 * A new frame's bytes, every one of which the caller writes. In Node, from Buffer's pool: a frame under 4 KiB is a
 * slice of a shared slab, not an ArrayBuffer with a backing store of its own (~1 us of CPU each with its GC work, at
 * a frame per session per tick), and a small one is not a typed array on V8's heap, which uWS has to move off it to
 * send (~0.6 us). Elsewhere (browsers) a plain Uint8Array.
 */
export const frameBytes: (n: number) => Uint8Array = NodeBuffer ? (n) => NodeBuffer.allocUnsafe(n) : (n) => new Uint8Array(n);

/** Bytes of a lowercase hex string of even length (what toHex writes); undefined when it is not one. */
export function fromHex(s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0) return undefined;
  const out = new Uint8Array(s.length / 2);
  return writeHex(s, out, 0) < 0 ? undefined : out;
}

export const utf8 = {
  encode: (s: string): Uint8Array => textEncoder.encode(s),
  /** Throws FrameError on invalid UTF-8. */
  decode(b: Uint8Array): string {
    try {
      return textDecoder.decode(b);
    } catch {
      throw new FrameError('invalid UTF-8');
    }
  },
};
