/**
 * The compact op stream the binary codecs carry in ObservationDelta.ops (docs/protocol.md, "Compact ops").
 * Paths are interned in a per-world PathTable; a connection is sent a path's definition the first time one of its
 * frames uses it. Numbers are written in the smallest exact form (varint, decimal, float32, float64), so decoding
 * yields exactly the RFC 6902 operations that went in.
 *
 * Record layout: one head byte, then operands.
 *   head bits 0-2: 0 DEFINE, 1 add, 2 remove, 3 replace, 4 move, 5 copy, 6 test (7 invalid)
 *   head bit 3:    the path id is the previous op's path id + 1 (no path operand)
 *   head bits 4-7: value tag + 1, or 0 for no value (remove, move, copy)
 *   DEFINE (head 0x00): varint id, string path
 *   op: [varint path id unless bit 3] [varint from-path id for move/copy] [value]
 * Value tags: 0 null, 1 false, 2 true, 3 uint (varint), 4 negative int (varint n, value -n-1), 5 float32 LE,
 *   6 float64 LE, 7-10 decimal with 1-4 fraction digits (zigzag varint m, value m / 10^k), 11 string (varint
 *   byte length, UTF-8), 12 array (varint count, values), 13 object (varint count, then string key and value).
 * Every fragment starts with an explicit path id, so fragments encoded once can be concatenated in any order.
 */
import { ByteReader, ByteWriter, FrameError, varintSize } from './bytes.js';
import type { JsonValue, WireOp } from './messages.js';
import { MAX_JSON_DEPTH } from './fields.js';

export const OpCode = { DEFINE: 0, add: 1, remove: 2, replace: 3, move: 4, copy: 5, test: 6 } as const;
const OP_NAMES = ['', 'add', 'remove', 'replace', 'move', 'copy', 'test'] as const;
const NEXT_PATH = 0x08;

export const ValueTag = {
  NULL: 0, FALSE: 1, TRUE: 2, UINT: 3, NINT: 4, F32: 5, F64: 6, DEC1: 7, DEC2: 8, DEC3: 9, DEC4: 10, STRING: 11, ARRAY: 12, OBJECT: 13,
} as const;
const POW10 = [1, 10, 100, 1000, 10000] as const;
const MAX_DECIMAL_MANTISSA = 2 ** 52;

/** Every path a world has put on the wire, numbered in order of first use. Ids are never reused. */
export class PathTable {
  private readonly ids = new Map<string, number>();
  private readonly paths: string[] = [];
  /** Each path's DEFINE record, encoded once, so a connection's definitions are a copy. */
  private readonly definitions: Uint8Array[] = [];

  /** The id of `path`, assigning the next one on first use. */
  intern(path: string): number {
    let id = this.ids.get(path);
    if (id === undefined) {
      id = this.paths.length;
      this.paths.push(path);
      this.ids.set(path, id);
      const w = new ByteWriter(8 + path.length);
      w.u8(OpCode.DEFINE);
      w.varint(id);
      w.string(path);
      this.definitions.push(w.finish());
    }
    return id;
  }

  /** The DEFINE record of an interned id. */
  definition(id: number): Uint8Array {
    const d = this.definitions[id];
    if (d === undefined) throw new RangeError(`path id ${id} was never interned`);
    return d;
  }

  path(id: number): string {
    const p = this.paths[id];
    if (p === undefined) throw new RangeError(`path id ${id} was never interned`);
    return p;
  }

  get size(): number {
    return this.paths.length;
  }
}

/** Server side, per connection: the path ids this connection has been sent definitions for. */
export class SentPaths {
  private bits = new Uint8Array(64);

  has(id: number): boolean {
    return ((this.bits[id >>> 3] ?? 0) & (1 << (id & 7))) !== 0;
  }

  add(id: number): void {
    const i = id >>> 3;
    if (i >= this.bits.length) {
      const next = new Uint8Array(Math.max(i + 1, this.bits.length * 2));
      next.set(this.bits);
      this.bits = next;
    }
    this.bits[i] = (this.bits[i] as number) | (1 << (id & 7));
  }
}

/**
 * One string object per path text in the process, whichever connection defined it. A process with many connections
 * (a load generator, a runner of many agents) otherwise holds each path once per connection, and every lookup of a
 * path string in a map (a client's parsed-path cache) hashes and compares a different copy: measured 150 ns against
 * 11 ns a lookup with 333 connections of 3,000 paths. Bounded: cleared past 2^20 paths.
 */
const interned = new Map<string, string>();

function intern(path: string): string {
  const s = interned.get(path);
  if (s !== undefined) return s;
  if (interned.size >= 1 << 20) interned.clear();
  interned.set(path, path);
  return path;
}

/** Client side, per connection: the path definitions received so far. */
export class PathDictionary {
  /**
   * By id. The server numbers paths 0, 1, 2, ..., so ids are small and dense: an array, read once per op. An id past
   * DENSE_IDS (only a malformed or hostile frame) goes to a map, so no frame can make the array huge.
   */
  private readonly dense: Array<string | undefined> = [];
  private sparse: Map<number, string> | undefined;
  private count = 0;

  define(id: number, defined: string): void {
    const had = this.lookup(id);
    if (had !== undefined && had !== defined) throw new FrameError(`path id ${id} redefined from ${JSON.stringify(had)} to ${JSON.stringify(defined)}`);
    if (had !== undefined) return;
    const path = intern(defined);
    this.count++;
    if (id >= 0 && id < DENSE_IDS) {
      while (this.dense.length < id) this.dense.push(undefined);
      this.dense[id] = path;
    } else (this.sparse ??= new Map()).set(id, path);
  }

  get(id: number): string {
    const p = this.lookup(id);
    if (p === undefined) throw new FrameError(`path id ${id} used before its definition`);
    return p;
  }

  private lookup(id: number): string | undefined {
    return id >= 0 && id < DENSE_IDS ? this.dense[id] : this.sparse?.get(id);
  }

  get size(): number {
    return this.count;
  }
}

/** Path ids kept in the dense array (at most 8 MiB of it). */
const DENSE_IDS = 1 << 20;

/**
 * Ops encoded once for every connection of a world that receives them: where its bytes are in a shared chunk and the
 * path ids they use, its first two inline (a change to an entity's x and y has two). One plain object per fragment,
 * so planning and copying a connection's frame reads one object per fragment, each scavenge has one to copy while
 * the fragment lives (until its quantum leaves the resume history), and V8 can allocate them straight into the old
 * generation once it sees that they survive (allocation-site pretenuring, which class instances do not get).
 */
export interface BinaryFragment {
  readonly format: 'binary';
  readonly table: PathTable;
  /** The chunk holding its bytes at [offset, offset + length). */
  readonly buf: Uint8Array;
  readonly offset: number;
  readonly length: number;
  /** Its first two distinct path ids in order of first use (-1: none); the rest in `more` when it has over two. */
  readonly id0: number;
  readonly id1: number;
  readonly more: readonly number[] | undefined;
  readonly opCount: number;
}

/** A fragment's bytes (a view into its chunk). */
export function fragmentBytes(f: BinaryFragment): Uint8Array {
  return f.buf.subarray(f.offset, f.offset + f.length);
}

/** A fragment's distinct path ids, in order of first use. */
export function fragmentPathIds(f: BinaryFragment): number[] {
  const ids: number[] = [];
  if (f.id0 >= 0) ids.push(f.id0);
  if (f.id1 >= 0) ids.push(f.id1);
  if (f.more !== undefined) ids.push(...f.more);
  return ids;
}

const zigzag = (m: number): number => (m >= 0 ? 2 * m : -2 * m - 1);
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

/** The value tag of a number's smallest exact form: varint integer, short decimal, float32 or float64. */
function numberTag(x: number): number {
  if (Number.isSafeInteger(x) && !Object.is(x, -0)) return x >= 0 ? ValueTag.UINT : ValueTag.NINT;
  let best = 8;
  let tag: number = ValueTag.F64;
  if (Math.fround(x) === x) {
    best = 4;
    tag = ValueTag.F32;
  }
  if (Number.isFinite(x) && x !== 0) {
    for (let k = 1; k <= 4; k++) {
      const p = POW10[k] as number;
      const m = Math.round(x * p);
      if (Math.abs(m) > MAX_DECIMAL_MANTISSA) break;
      // Division of two exact integers is correctly rounded, so m / 10^k is the double nearest the decimal;
      // checking it against x makes the choice exact by construction.
      if (m / p === x) {
        if (varintSize(zigzag(m)) < best) tag = ValueTag.DEC1 + k - 1;
        break;
      }
    }
  }
  return tag;
}

function tagOf(v: JsonValue): number {
  switch (typeof v) {
    case 'number':
      return numberTag(v);
    case 'string':
      return ValueTag.STRING;
    case 'boolean':
      return v ? ValueTag.TRUE : ValueTag.FALSE;
    case 'object':
      return v === null ? ValueTag.NULL : Array.isArray(v) ? ValueTag.ARRAY : ValueTag.OBJECT;
    default:
      throw new TypeError(`not a JSON value: ${typeof v}`);
  }
}

/** Writes the bytes that follow a value's tag. */
function writeBody(w: ByteWriter, v: JsonValue, tag: number): void {
  switch (tag) {
    case ValueTag.NULL:
    case ValueTag.FALSE:
    case ValueTag.TRUE:
      return;
    case ValueTag.UINT:
      w.varint(v as number);
      return;
    case ValueTag.NINT:
      w.varint(-(v as number) - 1);
      return;
    case ValueTag.F32:
      w.f32(v as number);
      return;
    case ValueTag.F64:
      w.f64(v as number);
      return;
    case ValueTag.STRING:
      w.string(v as string);
      return;
    case ValueTag.ARRAY: {
      const a = v as JsonValue[];
      w.varint(a.length);
      for (const item of a) writeTagged(w, item);
      return;
    }
    case ValueTag.OBJECT: {
      const o = v as Record<string, JsonValue>;
      const keys = Object.keys(o);
      w.varint(keys.length);
      for (const k of keys) {
        w.string(k);
        writeTagged(w, o[k] as JsonValue);
      }
      return;
    }
    default:
      w.varint(zigzag(Math.round((v as number) * (POW10[tag - ValueTag.DEC1 + 1] as number))));
  }
}

function writeTagged(w: ByteWriter, v: JsonValue): void {
  const tag = tagOf(v);
  w.u8(tag);
  writeBody(w, v, tag);
}

/** Reused by encodeBinaryFragment (which never re-enters), so a fragment's ops are written with no allocation. */
const scratch = new ByteWriter(4096);

/**
 * Fragment bytes are views into shared chunks rather than a buffer each: a tick encodes thousands of small fragments,
 * and a typed array with its own backing store costs an allocation outside the heap plus the collector's tracking of
 * it. A chunk lives as long as any fragment viewing it (a resume history keeps a few ticks' worth).
 */
const CHUNK = 64 * 1024;
let chunk = new Uint8Array(CHUNK);
let chunkUsed = 0;

/** Copies the scratch writer's n bytes into the current chunk (a new one when full); returns their offset in it. */
function keep(bytes: Uint8Array, n: number): number {
  if (chunkUsed + n > CHUNK) {
    chunk = new Uint8Array(CHUNK);
    chunkUsed = 0;
  }
  const at = chunkUsed;
  copy(bytes, 0, n, chunk, at);
  chunkUsed = at + n;
  return at;
}

/** encodeBinaryFragment's path ids so far: idScratch[0 .. idCount). */
const idScratch: number[] = [];
let idCount = 0;

/** Adds a path id to the fragment's distinct ids (small fragments, the usual, scan; large ones use `seen`). */
function useId(id: number, seen: Set<number> | undefined): void {
  if (seen === undefined) {
    for (let i = 0; i < idCount; i++) if (idScratch[i] === id) return;
  } else if (seen.has(id)) return;
  else seen.add(id);
  idScratch[idCount++] = id;
}

/** Encodes ops once for a world; the result is shared by every connection that receives them. */
export function encodeBinaryFragment(ops: readonly WireOp[], table: PathTable): BinaryFragment {
  const w = scratch;
  w.pos = 0;
  idCount = 0;
  const seen = ops.length > 16 ? new Set<number>() : undefined;
  let prev = -2;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i] as WireOp;
    const code = OpCode[o.op];
    if (code === undefined) throw new TypeError(`unknown op ${String((o as { op: unknown }).op)}`);
    const id = table.intern(o.path);
    useId(id, seen);
    const next = id === prev + 1;
    prev = id;
    const hasValue = o.op === 'add' || o.op === 'replace' || o.op === 'test';
    const tag = hasValue ? tagOf(o.value) : -1;
    w.u8(((tag + 1) << 4) | code | (next ? NEXT_PATH : 0));
    if (!next) w.varint(id);
    if (o.op === 'move' || o.op === 'copy') {
      const from = table.intern(o.from);
      useId(from, seen);
      w.varint(from);
    } else if (hasValue) writeBody(w, o.value, tag);
  }
  const n = w.pos;
  // A large fragment (rare: a spawn with a big record) gets a buffer of its own rather than most of a chunk.
  const big = n > CHUNK / 8;
  const offset = big ? 0 : keep(w.buf, n);
  // After keep(), which may have started a new chunk.
  const buf = big ? w.buf.slice(0, n) : chunk;
  const id0 = idCount > 0 ? (idScratch[0] as number) : -1;
  const id1 = idCount > 1 ? (idScratch[1] as number) : -1;
  return { format: 'binary', table, buf, offset, length: n, id0, id1, more: idCount > 2 ? idScratch.slice(2, idCount) : undefined, opCount: ops.length };
}

/** A connection's op stream, planned: its exact length, and the copy of it into a frame. */
export interface OpStream {
  readonly length: number;
  /** Copies the stream into `out` at `at`; returns the offset after it. */
  writeTo(out: Uint8Array, at: number): number;
}

/** What both kinds of plan share: the DEFINE records the connection lacks, which open its stream. */
abstract class PlannedStream implements OpStream {
  readonly definitions: Uint8Array[] = [];
  length = 0;

  /** Adds a path's DEFINE record to the stream; returns its length. */
  define(id: number, paths: PathTable, sent: SentPaths): number {
    // Marked as sent now: the caller sends this frame before assembling the connection's next one.
    sent.add(id);
    const d = paths.definition(id);
    this.definitions.push(d);
    return d.length;
  }

  /** Copies the DEFINE records into `out` at `at`; returns the offset after them. */
  protected writeDefinitions(out: Uint8Array, at: number): number {
    let pos = at;
    const defs = this.definitions;
    for (let i = 0; i < defs.length; i++) pos = copy(defs[i] as Uint8Array, 0, (defs[i] as Uint8Array).length, out, pos);
    return pos;
  }

  abstract writeTo(out: Uint8Array, at: number): number;
}

/**
 * One connection's op stream, planned before it is written so a codec can size its frame exactly and copy each
 * piece once: the DEFINE records the connection lacks, then the shared fragments (fragments[0 .. count)).
 */
export class OpStreamPlan extends PlannedStream {
  fragments: readonly BinaryFragment[] = [];
  count = 0;

  /** Plans fragments[0 .. count) for a connection (reusing this plan's storage); marks the paths it defines as sent. */
  reset(fragments: readonly BinaryFragment[], table: PathTable, sent: SentPaths, count = fragments.length): this {
    this.fragments = fragments;
    this.count = count;
    this.definitions.length = 0;
    let length = 0;
    for (let f = 0; f < count; f++) {
      const frag = fragments[f] as BinaryFragment;
      if (frag.format !== 'binary') throw new Error('a json fragment was given to a binary codec');
      if (frag.table !== table) throw new Error('fragment was encoded for a different world (PathTable)');
      const a = frag.id0;
      if (a >= 0 && !sent.has(a)) length += this.define(a, table, sent);
      const b = frag.id1;
      if (b >= 0 && !sent.has(b)) length += this.define(b, table, sent);
      const more = frag.more;
      if (more !== undefined) for (let i = 0; i < more.length; i++) if (!sent.has(more[i] as number)) length += this.define(more[i] as number, table, sent);
      length += frag.length;
    }
    this.length = length;
    return this;
  }

  /** Copies the stream into `out` at `at`; returns the offset after it. */
  writeTo(out: Uint8Array, at: number): number {
    let pos = this.writeDefinitions(out, at);
    const fr = this.fragments;
    for (let i = 0; i < this.count; i++) {
      const f = fr[i] as BinaryFragment;
      pos = copy(f.buf, f.offset, f.length, out, pos);
    }
    return pos;
  }
}

/** A plan reused by the codecs' frame assembly (which never re-enters): no plan object per frame. */
const sharedPlan = new OpStreamPlan();

/** Plans a connection's op stream in a shared plan, valid until the next call. */
export function planOpStream(fragments: readonly BinaryFragment[], table: PathTable, sent: SentPaths, count = fragments.length): OpStreamPlan {
  return sharedPlan.reset(fragments, table, sent, count);
}

/**
 * The binary encodings of a numbered list of fragments (the core's FragmentTable: every fragment one flush put in a
 * delta), kept in arrays indexed by number and one byte arena, each encoded the first time a frame needs it. A
 * connection's frame is then planned and copied from numbers and bytes alone (TablePlan): no object, cache slot or
 * encoding object read per fragment, and no reference per fragment for the collector to trace.
 */
export class BinaryTable {
  /** Per fragment: its bytes at bytes[off .. off + len) (len -1: not encoded yet), its first two path ids (-1: none). */
  private off: Int32Array;
  private len: Int32Array;
  private id0: Int32Array;
  private id1: Int32Array;
  /** 1 for the rare fragment with more than two path ids, whose others are in `more` by number. */
  private hasMore: Uint8Array;
  private readonly more = new Map<number, readonly number[]>();
  private bytes = new Uint8Array(16 * 1024);
  private used = 0;

  constructor(
    readonly paths: PathTable,
    private readonly source: readonly { readonly ops: readonly WireOp[] }[],
  ) {
    const n = Math.max(16, source.length);
    this.off = new Int32Array(n);
    this.len = new Int32Array(n).fill(-1);
    this.id0 = new Int32Array(n);
    this.id1 = new Int32Array(n);
    this.hasMore = new Uint8Array(n);
  }

  /** Encodes fragment i unless it is encoded already; returns its length in bytes. */
  private encode(i: number): number {
    const f = this.source[i];
    if (f === undefined) throw new RangeError(`fragment ${i} is not in this table (${this.source.length} fragments)`);
    if (i >= this.len.length) this.grow(Math.max(i + 1, this.source.length));
    const e = encodeBinaryFragment(f.ops, this.paths);
    const n = e.length;
    if (this.used + n > this.bytes.length) {
      const b = new Uint8Array(Math.max(this.used + n, this.bytes.length * 2));
      b.set(this.bytes.subarray(0, this.used));
      this.bytes = b;
    }
    copy(e.buf, e.offset, n, this.bytes, this.used);
    this.off[i] = this.used;
    this.used += n;
    this.id0[i] = e.id0;
    this.id1[i] = e.id1;
    if (e.more !== undefined) {
      this.more.set(i, e.more);
      this.hasMore[i] = 1;
    }
    this.len[i] = n;
    return n;
  }

  private grow(n: number): void {
    const g = (a: Int32Array, fill: number): Int32Array => {
      const b = new Int32Array(n).fill(fill);
      b.set(a);
      return b;
    };
    this.off = g(this.off, 0);
    this.len = g(this.len, -1);
    this.id0 = g(this.id0, 0);
    this.id1 = g(this.id1, 0);
    const m = new Uint8Array(n);
    m.set(this.hasMore);
    this.hasMore = m;
  }

  /**
   * Plans a connection's stream of fragments idx[start .. start + count) into `plan` (its definitions, fragments and
   * length, replacing what it held); marks the paths it defines as sent.
   */
  plan(plan: TablePlan, idx: Int32Array, start: number, count: number, sent: SentPaths): TablePlan {
    plan.definitions.length = 0;
    plan.table = this;
    plan.idx = idx;
    plan.start = start;
    plan.count = count;
    const paths = this.paths;
    let length = 0;
    const end = start + count;
    for (let k = start; k < end; k++) {
      const i = idx[k] as number;
      let n = i < this.len.length ? (this.len[i] as number) : -1;
      if (n < 0) n = this.encode(i);
      const a = this.id0[i] as number;
      if (a >= 0 && !sent.has(a)) length += plan.define(a, paths, sent);
      const b = this.id1[i] as number;
      if (b >= 0 && !sent.has(b)) length += plan.define(b, paths, sent);
      if (this.hasMore[i] === 1) {
        const more = this.more.get(i) as readonly number[];
        for (let j = 0; j < more.length; j++) if (!sent.has(more[j] as number)) length += plan.define(more[j] as number, paths, sent);
      }
      length += n;
    }
    plan.length = length;
    return plan;
  }

  /**
   * Copies fragments idx[start .. start + count) (all planned, so encoded) into out at pos; returns the offset after
   * them. Four bytes at a time through DataViews, then the tail by byte: a fragment is ~10 bytes, and this halves the
   * per-fragment copy against a byte loop (11 against 20-23 ns a fragment in a scratch micro-benchmark of 65,000
   * arena-sized fragments).
   */
  writeTo(idx: Int32Array, start: number, count: number, out: Uint8Array, pos: number): number {
    const bytes = this.bytes;
    let src = this.view;
    if (src === undefined || src.buffer !== bytes.buffer) this.view = src = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const dst = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const off = this.off;
    const len = this.len;
    const end = start + count;
    for (let k = start; k < end; k++) {
      const i = idx[k] as number;
      let from = off[i] as number;
      const stop = from + (len[i] as number);
      for (; from + 4 <= stop; from += 4, pos += 4) dst.setUint32(pos, src.getUint32(from, true), true);
      for (; from < stop; from++) out[pos++] = bytes[from] as number;
    }
    return pos;
  }

  /** A DataView of `bytes` for writeTo, remade when `bytes` grows. */
  private view: DataView | undefined = undefined;
}

/** A connection's op stream over a BinaryTable: the DEFINE records it lacks, then the numbered fragments. */
export class TablePlan extends PlannedStream {
  table: BinaryTable | undefined = undefined;
  idx: Int32Array = new Int32Array(0);
  start = 0;
  count = 0;

  writeTo(out: Uint8Array, at: number): number {
    return (this.table as BinaryTable).writeTo(this.idx, this.start, this.count, out, this.writeDefinitions(out, at));
  }
}

/** A table plan reused by the codecs' frame assembly (which never re-enters): no plan object per frame. */
const sharedTablePlan = new TablePlan();

/** Plans a connection's op stream of fragments idx[start .. start + count) of `table`, valid until the next call. */
export function planTableStream(table: BinaryTable, paths: PathTable, idx: Int32Array, start: number, count: number, sent: SentPaths): TablePlan {
  if (table.paths !== paths) throw new Error('fragment table was encoded for a different world (PathTable)');
  return table.plan(sharedTablePlan, idx, start, count, sent);
}

/** Copies src[from .. from + n) to out at pos; returns pos + n. A fragment is a few bytes: a loop beats set()'s call. */
function copy(src: Uint8Array, from: number, n: number, out: Uint8Array, pos: number): number {
  if (n > 64) {
    out.set(src.subarray(from, from + n), pos);
    return pos + n;
  }
  for (let i = 0; i < n; i++) out[pos + i] = src[from + i] as number;
  return pos + n;
}

/** The full op stream for one connection: definitions it lacks, then the fragments' bytes. */
export function assembleOpStream(sent: SentPaths, table: PathTable, fragments: readonly BinaryFragment[]): Uint8Array {
  const plan = new OpStreamPlan().reset(fragments, table, sent);
  const out = new Uint8Array(plan.length);
  plan.writeTo(out, 0);
  return out;
}

function readNumber(r: ByteReader, tag: number): number {
  switch (tag) {
    case ValueTag.UINT:
      return r.varint();
    case ValueTag.NINT:
      return -r.varint() - 1;
    case ValueTag.F32:
      return r.f32();
    case ValueTag.F64:
      return r.f64();
    default: {
      const z = r.varint();
      return unzigzag(z) / (POW10[tag - ValueTag.DEC1 + 1] as number);
    }
  }
}

function setKey(o: Record<string, JsonValue>, k: string, v: JsonValue): void {
  // A "__proto__" key must become an own property, as JSON.parse makes it, not a prototype change.
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function readValue(r: ByteReader, tag: number, depth: number): JsonValue {
  switch (tag) {
    case ValueTag.NULL:
      return null;
    case ValueTag.FALSE:
      return false;
    case ValueTag.TRUE:
      return true;
    case ValueTag.STRING:
      return r.string();
    case ValueTag.ARRAY: {
      if (depth >= MAX_JSON_DEPTH) throw new FrameError(`value nested deeper than ${MAX_JSON_DEPTH}`);
      const n = r.varint();
      // Each element takes at least one byte: a count larger than what is left is a lie, refuse it before looping.
      if (n > r.end - r.pos) throw new FrameError(`array of ${n} items in ${r.end - r.pos} bytes`);
      const out: JsonValue[] = [];
      for (let i = 0; i < n; i++) out.push(readValue(r, r.u8(), depth + 1));
      return out;
    }
    case ValueTag.OBJECT: {
      if (depth >= MAX_JSON_DEPTH) throw new FrameError(`value nested deeper than ${MAX_JSON_DEPTH}`);
      const n = r.varint();
      if (n * 2 > r.end - r.pos) throw new FrameError(`object of ${n} keys in ${r.end - r.pos} bytes`);
      const out: Record<string, JsonValue> = {};
      for (let i = 0; i < n; i++) {
        const k = r.string();
        setKey(out, k, readValue(r, r.u8(), depth + 1));
      }
      return out;
    }
    default:
      if (tag <= ValueTag.DEC4) return readNumber(r, tag);
      throw new FrameError(`unknown value tag ${tag}`);
  }
}

/**
 * Receives a decoded op stream's operations one at a time (visitOpStream), for a client that applies them to its own
 * view without building RFC 6902 objects: no object per op, and the path's id lets it keep what it derives from a
 * path (an entity index, a field) in an array by id rather than in a map by path text.
 */
export interface OpVisitor {
  /**
   * One operation, in stream order. `code` is its OpCode (add 1 ... test 6); `pathId` the id its path is defined under
   * on this connection (-1 when the codec has no path ids: JSON); `path` the path text, one string object per distinct
   * path in the process; `value` set for add, replace and test; `from` for move and copy.
   */
  op(code: number, pathId: number, path: string, value: JsonValue | undefined, from: string | undefined): void;
}

/**
 * Decodes an op stream into `v`, learning path definitions into `dict`; returns the number of ops. Throws FrameError
 * on any defect, after `v` has seen the ops before it.
 */
export function visitOpStream(bytes: Uint8Array, dict: PathDictionary, v: OpVisitor): number {
  const r = new ByteReader(bytes);
  let prev = -1;
  let n = 0;
  while (!r.done) {
    const head = r.u8();
    const code = head & 0x07;
    const valueNibble = head >> 4;
    if (code === OpCode.DEFINE) {
      if (head !== 0) throw new FrameError(`bad DEFINE head 0x${head.toString(16)}`);
      const id = r.varint();
      dict.define(id, r.string());
      continue;
    }
    if (code > OpCode.test) throw new FrameError(`unknown op code ${code}`);
    let id: number;
    if (head & NEXT_PATH) {
      if (prev < 0) throw new FrameError('relative path id with no previous op');
      id = prev + 1;
    } else id = r.varint();
    prev = id;
    const path = dict.get(id);
    const wantsValue = code === OpCode.add || code === OpCode.replace || code === OpCode.test;
    if (wantsValue !== (valueNibble !== 0)) throw new FrameError(`${OP_NAMES[code]} ${wantsValue ? 'needs' : 'cannot have'} a value`);
    n++;
    if (code === OpCode.remove) v.op(code, id, path, undefined, undefined);
    else if (code === OpCode.move || code === OpCode.copy) v.op(code, id, path, undefined, dict.get(r.varint()));
    else v.op(code, id, path, readValue(r, valueNibble - 1, 0), undefined);
  }
  return n;
}

/** Collects visited ops as RFC 6902 objects. */
class OpCollector implements OpVisitor {
  readonly ops: WireOp[] = [];

  op(code: number, _pathId: number, path: string, value: JsonValue | undefined, from: string | undefined): void {
    const name = OP_NAMES[code] as Exclude<(typeof OP_NAMES)[number], ''>;
    if (name === 'remove') this.ops.push({ op: name, path });
    else if (name === 'move' || name === 'copy') this.ops.push({ op: name, from: from as string, path });
    else this.ops.push({ op: name, path, value: value as JsonValue });
  }
}

/** Decodes an op stream, learning path definitions into `dict`. Throws FrameError on any defect. */
export function decodeOpStream(bytes: Uint8Array, dict: PathDictionary): WireOp[] {
  const c = new OpCollector();
  visitOpStream(bytes, dict, c);
  return c.ops;
}
