/**
 * The pieces deltas are made of: fragments of ops shared by every observer that gets the same change (encoded once by
 * a transport), the flush's table that numbers them, and the Delta that lists its fragments by number in a shared
 * block instead of holding an ops array (assembled only if read).
 */
import { SCHEMA_VERSION, type DeltaFragment, type ObservationDelta, type PatchOp } from './types.js';

/**
 * Deltas' fragment lists are slices of shared blocks of this many entries, not an array each. A delta lives until
 * its quantum is delivered and then in the resume history, several scavenges: a thousand lists of ~70 entries per
 * quantum were copied by each scavenge and then promoted, where a block (a large object, over 128 KiB) is never
 * copied. A block lives as long as any delta that uses it. The entries are numbers (see FragmentTable), so a block
 * holds no references for the GC to trace.
 */
export const FRAGMENT_BLOCK = 65536;

/**
 * The fragments made in one flush, numbered in the order they were first put in a delta. Deltas list their fragments
 * by these numbers (fragment i of a delta is table.frags[idx[i]]): a transport can then keep what it encodes per
 * fragment in arrays indexed by number (`wire`, one slot per codec family like DeltaFragment.wire), and assembling a
 * frame reads numbers and bytes rather than an object, its cache slot and its encoding per fragment (~65,000 of them
 * a tick at arena-1000; bench/arena/pair-layout.ts measures what that layout costs).
 */
export class FragmentTable {
  readonly frags: DeltaFragment[] = [];
  /** Slots where a transport caches its per-table encodings (see DeltaFragment.wire). */
  readonly wire: unknown[] = [undefined, undefined];
}

/** The ops and shared pieces of one delta being built. */
export class DeltaParts {
  /** The flush's fragment table: pieces are listed by their number in it (registered on first use). */
  table = new FragmentTable();
  /** The pieces so far, by number in `table` (idx[0 .. count)); reused from delta to delta. */
  idx = new Int32Array(1024);
  count = 0;
  ops = 0;
  /** The pieces' sizes summed (DeltaFragment.size), while each piece is at hand. */
  size = 0;
  /** Ops only this observer gets. */
  own: PatchOp[] | undefined = undefined;

  reset(): DeltaParts {
    this.count = 0;
    this.ops = 0;
    this.size = 0;
    this.own = undefined;
    return this;
  }

  push(f: SharedFragment): void {
    const n = f.ops.length;
    if (n === 0) return;
    const t = this.table;
    if (f.table !== t) {
      // First use in this flush (a fragment made in an earlier one is numbered again here: its old deltas keep
      // their own table and number).
      f.table = t;
      f.number = t.frags.push(f) - 1;
    }
    this.pushNumbered(f.number, n, f.size);
  }

  /** push() of a fragment already numbered in this flush's table, given by its number, op count and size. */
  pushNumbered(number: number, ops: number, size: number): void {
    if (this.count === this.idx.length) {
      const grown = new Int32Array(this.idx.length * 2);
      grown.set(this.idx);
      this.idx = grown;
    }
    this.idx[this.count++] = number;
    this.ops += ops;
    this.size += size;
  }
}

export type Shared = SharedFragment;

function encodeOps(ops: readonly PatchOp[]): string {
  let s = '';
  for (let i = 0; i < ops.length; i++) s += (i > 0 ? ',' : '') + JSON.stringify(ops[i]);
  return s;
}

/**
 * About how many characters JSON.stringify writes for a JSON value, without writing it: exact for integers, ASCII
 * strings without escapes, booleans and null; other numbers count as 8.
 */
function jsonSize(v: unknown): number {
  switch (typeof v) {
    case 'number':
      if (Number.isSafeInteger(v)) {
        let n = v < 0 ? 2 : 1;
        for (let a = Math.abs(v); a >= 10; a = Math.floor(a / 10)) n++;
        return n;
      }
      return 8;
    case 'string':
      return v.length + 2;
    case 'boolean':
      return v ? 4 : 5;
    case 'object': {
      if (v === null) return 4;
      if (Array.isArray(v)) {
        let n = 1 + Math.max(1, v.length);
        for (let i = 0; i < v.length; i++) n += jsonSize(v[i]);
        return n;
      }
      let n = 1;
      let k = 0;
      for (const key in v as Record<string, unknown>) {
        const x = (v as Record<string, unknown>)[key];
        if (x === undefined) continue;
        n += key.length + 3 + jsonSize(x) + (k++ > 0 ? 1 : 0);
      }
      return n + 1;
    }
    default:
      return 0;
  }
}

/**
 * A piece of ops shared by every observer that gets it. Its JSON text is built when first read (only JSON-codec
 * sessions and the reference views read it), its size is estimated without building it.
 */
export class SharedFragment implements DeltaFragment {
  // Made only by shared() (an object literal with this prototype), which gives every field its first value.
  declare readonly ops: PatchOp[];
  /**
   * The transport's two slots (JSON, binary), made at their size: storing slot 1 into an empty array would grow it to
   * room for 19, kept for as long as the fragment (its quantum's resume history: several scavenges).
   */
  declare readonly wire: unknown[];
  declare private textCache: string | undefined;
  declare private sizeCache: number;
  /** The flush's table it was last numbered in, and its number there (DeltaParts.push). */
  declare table: FragmentTable | undefined;
  declare number: number;

  get text(): string {
    return (this.textCache ??= encodeOps(this.ops));
  }

  get size(): number {
    if (this.sizeCache < 0) {
      if (this.textCache !== undefined) this.sizeCache = this.textCache.length;
      else {
        let n = Math.max(0, this.ops.length - 1);
        for (const op of this.ops) n += 12 + op.op.length + op.path.length + ('value' in op ? 9 + jsonSize(op.value) : 0) + ('from' in op ? 9 + String(op.from).length : 0);
        this.sizeCache = n;
      }
    }
    return this.sizeCache;
  }
}

/**
 * A new SharedFragment, made by an object literal with the class's prototype rather than by `new`: a fragment lives
 * until its quantum leaves the resume history, and a literal has an allocation site, so V8 allocates fragments
 * straight into the old generation once it sees that they survive (no copy by each scavenge).
 */
export function shared(ops: PatchOp[]): Shared {
  return { __proto__: SHARED_FRAGMENT, wire: [undefined, undefined], textCache: undefined, sizeCache: -1, table: undefined, number: -1, ops } as unknown as SharedFragment;
}

const SHARED_FRAGMENT: object = SharedFragment.prototype;

/**
 * An ObservationDelta whose `ops` array is assembled from its fragments when first read: a transport encodes the
 * fragments and never needs it, so a tick with thousands of observers does not build thousands of op arrays.
 * `ops` is an own enumerable accessor, so spreading, structuredClone, JSON and equality see it like a data
 * property; `fragments` is a prototype getter, left out of all of them (its pieces hold the transport's caches).
 */
export class Delta implements ObservationDelta {
  readonly schema_version = SCHEMA_VERSION;
  declare readonly ops: readonly PatchOp[];
  #ops: PatchOp[] | undefined = undefined;
  /**
   * The fragments: #table.frags[#idx[i]] for i in [#start, #start + #count) (a shared block of numbers, or an array
   * of its own); without a table, #own[#start .. #start + #count) (a snapshot's root, or a detached delta).
   */
  #table: FragmentTable | undefined;
  #idx: Int32Array | undefined;
  #own: readonly DeltaFragment[] | undefined;
  #start: number;
  readonly #count: number;
  #fragments: readonly DeltaFragment[] | undefined = undefined;
  readonly #opCount: number;
  readonly #opsSize: number;
  constructor(
    readonly agent_id: string,
    readonly view_seq: number,
    readonly from_seq: number,
    readonly global_seq: number,
    readonly sim_time: number,
    readonly wall_time: number,
    readonly snapshot: boolean,
    readonly context_digest: string,
    table: FragmentTable | undefined,
    store: Int32Array | readonly DeltaFragment[],
    start: number,
    count: number,
    opCount: number,
    opsSize: number,
  ) {
    this.#table = table;
    if (table !== undefined) {
      this.#idx = store as Int32Array;
      this.#own = undefined;
    } else {
      this.#idx = undefined;
      this.#own = store as readonly DeltaFragment[];
    }
    this.#start = start;
    this.#count = count;
    this.#opCount = opCount;
    this.#opsSize = opsSize;
    Object.defineProperty(this, 'ops', OPS_PROPERTY);
  }

  /** Fragment i of the delta (0 <= i < its count). */
  #at(i: number): DeltaFragment {
    const t = this.#table;
    return (t !== undefined ? t.frags[(this.#idx as Int32Array)[this.#start + i] as number] : (this.#own as readonly DeltaFragment[])[this.#start + i]) as DeltaFragment;
  }

  /** The fragments as an array of their own (made on first use). */
  get fragments(): readonly DeltaFragment[] {
    if (this.#fragments === undefined) {
      const own = this.#own;
      if (own !== undefined && this.#start === 0 && own.length === this.#count) this.#fragments = own;
      else {
        const out = new Array<DeltaFragment>(this.#count);
        for (let i = 0; i < this.#count; i++) out[i] = this.#at(i);
        this.#fragments = out;
      }
    }
    return this.#fragments;
  }

  get opsSize(): number {
    return this.#opsSize;
  }

  /**
   * Keeps the fragments in an array of their own, so the delta no longer holds a shared block of numbers, nor its
   * flush's whole table, alive.
   */
  detach(): void {
    if (this.#table === undefined && this.#start === 0 && (this.#own as readonly DeltaFragment[]).length === this.#count) return;
    this.#own = this.fragments;
    this.#table = undefined;
    this.#idx = undefined;
    this.#start = 0;
  }

  /** Points `out` at the fragments where they are stored (no copy). */
  fragmentRange(out: FragmentRange): void {
    out.table = this.#table;
    out.idx = this.#idx;
    out.store = this.#own ?? NO_FRAGMENTS;
    out.start = this.#start;
    out.count = this.#count;
  }

  /** The ops, assembled on first use. */
  opsArray(): readonly PatchOp[] {
    if (this.#ops === undefined) {
      const ops = new Array<PatchOp>(this.snapshot ? 1 : this.#opCount);
      let k = 0;
      for (let i = 0; i < this.#count; i++) {
        const fo = this.#at(i).ops;
        for (let j = 0; j < fo.length; j++) ops[k++] = fo[j] as PatchOp;
      }
      this.#ops = ops;
    }
    return this.#ops;
  }
}

const NO_FRAGMENTS: readonly DeltaFragment[] = [];

/**
 * Makes a delta keep its fragments in an array of their own rather than in a shared block. A block is kept alive by
 * any delta that uses it: one held long (an idle agent's last deltas in a resume history) would keep a whole block,
 * 256 KiB, for a few hundred bytes of its own. Other deltas are left as they are.
 */
export function detachFragments(d: object): void {
  if (d instanceof Delta) d.detach();
}

/**
 * A delta's fragments where they are stored: with a table, fragment i is table.frags[idx[start + i]]; without one,
 * store[start + i]. For 0 <= i < count.
 */
export interface FragmentRange {
  table: FragmentTable | undefined;
  idx: Int32Array | undefined;
  store: readonly DeltaFragment[];
  start: number;
  count: number;
}

/** An empty FragmentRange to pass to fragmentRange (which fills it in). */
export function newFragmentRange(): FragmentRange {
  return { table: undefined, idx: undefined, store: NO_FRAGMENTS, start: 0, count: 0 };
}

/**
 * Points `out` at a delta's fragments without copying them (the engine's deltas list them by number in their flush's
 * table; any other delta's `fragments` array is used as it is).
 */
export function fragmentRange(d: Pick<ObservationDelta, 'fragments'>, out: FragmentRange): FragmentRange {
  if (d instanceof Delta) d.fragmentRange(out);
  else {
    out.table = undefined;
    out.idx = undefined;
    out.store = d.fragments;
    out.start = 0;
    out.count = d.fragments.length;
  }
  return out;
}

const OPS_PROPERTY: PropertyDescriptor = {
  enumerable: true,
  configurable: false,
  get(this: Delta): readonly PatchOp[] {
    return this.opsArray();
  },
};
