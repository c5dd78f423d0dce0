/**
 * Canonical JSON (RFC 8785) written straight to UTF-8 bytes, for the two encodings the commit path makes per intent:
 * the effect record appended to the log and the intent digest. Building those as strings costs a tree of
 * concatenations, the flattened string and an encoding pass; writing bytes into one reused buffer allocates
 * nothing. It covers ASCII text (what ids, kinds and numeric payloads are); anything else (non-ASCII, values
 * the fast canonical path declines) returns undefined and the caller uses the string encoders in canonical.ts,
 * which define the output: a property test checks the two agree byte for byte.
 */
import { hash } from 'node:crypto';
import { memberHashOfDigest, type MemberHash } from './set-digest.js';
import type { Effect } from './types.js';

const MAX_DEPTH = 64;
const NUMBER_CACHE = 4096;
/** JSON text of recently written numbers (keys compare by SameValueZero: 0 and -0 share one, both written "0"). */
const numberText = new Map<number, string>();
const objectProto = Object.prototype;

class ByteWriter {
  buf = new Uint8Array(4096);
  n = 0;
  private readonly keyScratch: string[][] = [];

  /** Views of buf by length, reused (records of one kind have a handful of lengths). */
  private views: Array<Uint8Array | undefined> = [];

  reserve(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
    this.views = [];
  }

  /** The bytes written so far, as a view the next write invalidates. */
  written(): Uint8Array {
    const n = this.n;
    if (n >= 1024) return this.buf.subarray(0, n);
    let v = this.views[n];
    if (v === undefined) this.views[n] = v = this.buf.subarray(0, n);
    return v;
  }

  /** Writes bytes encoded beforehand (the fixed pieces of a record). */
  bytes(b: Uint8Array): void {
    const len = b.length;
    this.reserve(len);
    this.buf.set(b, this.n);
    this.n += len;
  }

  /** Writes ASCII text as is; false when it holds a character outside ASCII. */
  raw(s: string): boolean {
    const len = s.length;
    this.reserve(len);
    const buf = this.buf;
    let n = this.n;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[n++] = c;
    }
    this.n = n;
    return true;
  }

  /** Writes a JSON string literal as JSON.stringify does; false when the string is not ASCII. */
  str(s: string): boolean {
    const len = s.length;
    this.reserve(len + 2);
    const buf = this.buf;
    let n = this.n;
    buf[n++] = 0x22;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x7f) {
        // Escapes (and DEL, which JSON.stringify leaves as is) take the general path for this string.
        if (c >= 0x80) return false;
        return this.raw(JSON.stringify(s));
      }
      buf[n++] = c;
    }
    buf[n++] = 0x22;
    this.n = n;
    return true;
  }

  /** Writes a finite number as JSON.stringify does. */
  num(v: number): void {
    if (Number.isSafeInteger(v)) {
      // Integers (seqs, ticks, priorities, wall times): their digits; -0 is written "0" like JSON.stringify.
      if (v < 0) {
        this.byte(0x2d);
        v = -v;
      }
      this.digits(v);
      return;
    }
    // Hundredths (positions and steps rounded to 2 places): v is the double nearest c/100, and no shorter decimal
    // rounds to it, so its shortest round-trip text, which JSON.stringify writes, is c/100 in fixed notation.
    const c = Math.round(v * 100);
    if (c / 100 === v && c < 0x80000000 && c > -0x80000000) {
      let a = c;
      if (a < 0) {
        this.byte(0x2d);
        a = -a;
      }
      const whole = Math.floor(a / 100);
      const cents = a - whole * 100;
      this.digits(whole);
      this.reserve(3);
      const buf = this.buf;
      buf[this.n++] = 0x2e;
      buf[this.n++] = 0x30 + Math.floor(cents / 10);
      if (cents % 10 !== 0) buf[this.n++] = 0x30 + (cents % 10);
      return;
    }
    // Anything else as JSON.stringify writes it, from a small cache: values recur.
    let text = numberText.get(v);
    if (text === undefined) {
      if (numberText.size >= NUMBER_CACHE) numberText.clear();
      text = JSON.stringify(v);
      numberText.set(v, text);
    }
    this.raw(text);
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.n++] = b;
  }

  /** Writes a non-negative safe integer in decimal. */
  private digits(v: number): void {
    let count = 1;
    for (let p = 10; p <= v; p *= 10) count++;
    this.reserve(count);
    let end = this.n + count;
    this.n = end;
    const buf = this.buf;
    if (v <= 0x7fffffff) {
      do {
        const q = (v / 10) | 0;
        buf[--end] = 0x30 + (v - q * 10);
        v = q;
      } while (v > 0);
      return;
    }
    do {
      const q = Math.floor(v / 10);
      buf[--end] = 0x30 + (v - q * 10);
      v = q;
    } while (v > 0);
  }

  /** Writes the canonical JSON of plain JSON data; false when the general encoder must do it. */
  canonical(v: unknown, depth: number): boolean {
    switch (typeof v) {
      case 'number':
        if (!Number.isFinite(v)) return false;
        this.num(v);
        return true;
      case 'string':
        return this.str(v);
      case 'boolean':
        return this.raw(v ? 'true' : 'false');
      case 'object':
        break;
      default:
        return false;
    }
    if (v === null) return this.raw('null');
    if (depth >= MAX_DEPTH) return false;
    if (Array.isArray(v)) {
      this.raw('[');
      for (let i = 0; i < v.length; i++) {
        if (i > 0) this.raw(',');
        if (!this.canonical(v[i] as unknown, depth + 1)) return false;
      }
      return this.raw(']');
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== objectProto && proto !== null) return false;
    const o = v as Record<string, unknown>;
    if (typeof o['toJSON'] === 'function') return false;
    // Own enumerable keys into a per-depth scratch array (Object.keys would allocate one per object).
    const keys = (this.keyScratch[depth] ??= []);
    let nk = 0;
    for (const k in o) if (Object.hasOwn(o, k)) keys[nk++] = k;
    sortKeys(keys, nk);
    this.raw('{');
    let first = true;
    for (let i = 0; i < nk; i++) {
      const k = keys[i] as string;
      const x = o[k];
      if (x === undefined) continue;
      if (!first) this.raw(',');
      first = false;
      if (!this.str(k) || !this.raw(':') || !this.canonical(x, depth + 1)) return false;
    }
    return this.raw('}');
  }
}

/** Sorts keys by UTF-16 code units in place (Array.sort allocates a work array even for two keys). */
/** Sorts keys[0 .. n) by UTF-16 code units (RFC 8785 order): insertion sort for the usual handful, else Array#sort. */
export function sortKeys(keys: string[], n: number): void {
  if (n > 16) {
    const sorted = keys.slice(0, n).sort();
    for (let i = 0; i < n; i++) keys[i] = sorted[i] as string;
    return;
  }
  for (let i = 1; i < n; i++) {
    const k = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > k) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = k;
  }
}

const writer = new ByteWriter();

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/**
 * A run of the effect record that depends only on two fields which every effect of a quantum shares (schema
 * version and sim_time; wall_time and world_id): encoded once per distinct pair, then copied.
 */
class SharedRun {
  private a: unknown = SharedRun;
  private b: unknown = SharedRun;
  private bytes: Uint8Array | undefined;
  private readonly w = new ByteWriter();

  constructor(private readonly encode: (w: ByteWriter, a: never, b: never) => boolean) {}

  /** The run's bytes, or undefined when the writer declines its values. */
  get(a: unknown, b: unknown): Uint8Array | undefined {
    if (a !== this.a || b !== this.b) {
      this.w.n = 0;
      this.bytes = this.encode(this.w, a as never, b as never) ? this.w.buf.slice(0, this.w.n) : undefined;
      this.a = a;
      this.b = b;
    }
    return this.bytes;
  }
}

const AGENT_ID = ascii('{"agent_id":');
const GLOBAL_SEQ_FIRST = ascii('{"global_seq":');
const GLOBAL_SEQ = ascii(',"global_seq":');
const INTENT_DIGEST = ascii(',"intent_digest":');
const KIND = ascii(',"kind":');
const PAYLOAD = ascii(',"payload":');
const PRIORITY = ascii(',"priority":');
const REQ_ID = ascii(',"req_id":');
const UUID = ascii(',"uuid":');
/** `,"schema_version":…,"sim_time":…,"source_id":` */
const middle = new SharedRun((w, schemaVersion: string, simTime: number) => {
  if (!(w.raw(',"schema_version":') && w.str(schemaVersion) && w.raw(',"sim_time":'))) return false;
  w.num(simTime);
  return w.raw(',"source_id":');
});
/** `,"wall_time":…,"world_id":…}` */
const tail = new SharedRun((w, wallTime: number, worldId: string) => {
  if (!w.raw(',"wall_time":')) return false;
  w.num(wallTime);
  return w.raw(',"world_id":') && w.str(worldId) && w.raw('}');
});

/**
 * The canonical JSON of an effect record as UTF-8 bytes, in a buffer the next call reuses (for
 * EventLogPort.append, which reads its payload before returning); undefined when encodeEffect must do it.
 */
export function effectBytes(e: Effect): Uint8Array | undefined {
  if (!Number.isFinite(e.priority) || !Number.isFinite(e.sim_time) || !Number.isFinite(e.wall_time)) return undefined;
  const mid = middle.get(e.schema_version, e.sim_time);
  const end = tail.get(e.wall_time, e.world_id);
  if (mid === undefined || end === undefined) return undefined;
  const w = writer;
  w.n = 0;
  if (e.agent_id !== undefined) {
    w.bytes(AGENT_ID);
    if (!w.str(e.agent_id)) return undefined;
    w.bytes(GLOBAL_SEQ);
  } else {
    w.bytes(GLOBAL_SEQ_FIRST);
  }
  w.num(e.global_seq);
  if (e.intent_digest !== undefined) {
    w.bytes(INTENT_DIGEST);
    if (!w.str(e.intent_digest)) return undefined;
  }
  w.bytes(KIND);
  if (!w.str(e.kind)) return undefined;
  w.bytes(PAYLOAD);
  if (!w.canonical(e.payload, 0)) return undefined;
  w.bytes(PRIORITY);
  w.num(e.priority);
  if (e.req_id !== undefined) {
    w.bytes(REQ_ID);
    if (!w.str(e.req_id)) return undefined;
  }
  w.bytes(mid);
  if (!w.str(e.source_id)) return undefined;
  w.bytes(UUID);
  if (!w.str(e.uuid)) return undefined;
  w.bytes(end);
  return w.written();
}

/**
 * `"<name>":<canonical value>` (a JSON string, a colon, the value's canonical JSON) written in place, as the view the
 * next write invalidates; undefined when the string path must do it. Both digests below hash this shape.
 */
function keyedBytes(name: string, value: unknown): Uint8Array | undefined {
  const w = writer;
  w.n = 0;
  return w.str(name) && w.raw(':') && w.canonical(value, 0) ? w.written() : undefined;
}

/** intentDigest (canonical.ts) hashed from bytes written in place; undefined when the string path must do it. */
export function intentDigestBytes(kind: string, payload: unknown): string | undefined {
  const b = keyedBytes(kind, payload);
  return b === undefined ? undefined : hash('sha256', b, 'base64url').slice(0, 22);
}

/**
 * memberHash of `"<id>":<canonical record>` (canonical.ts canonicalMember) hashed from bytes written in place, with
 * no string built; undefined when the string path must do it.
 */
export function memberHashBytes(id: string, record: object): MemberHash | undefined {
  const b = keyedBytes(id, record);
  return b === undefined ? undefined : memberHashOfDigest(hash('sha256', b, 'binary'));
}
