/**
 * context_digest checks (the set digest of docs/core.md: per-entity SHA-256 of canonical JSON, summed). SHA-256 comes
 * from Node's one-shot crypto.hash where the SDK runs in Node (looked up at run time, so browser bundles carry no
 * node: import) and from WebCrypto (crypto.subtle) elsewhere.
 */
import canonicalize from 'canonicalize';
import { WorldlineError } from '../../server/errors.js';

/** Hashes canonical JSON text to lowercase hex sha256, at once or as a promise. */
export type DigestFunction = (canonicalText: string) => string | Promise<string>;

interface SubtleLike {
  digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer>;
}

const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function toHex(buf: ArrayBuffer): string {
  const b = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!]!;
  return s;
}

/** sha256 through globalThis.crypto.subtle, or undefined where WebCrypto is missing (insecure browser contexts). */
export function webCryptoDigest(): DigestFunction | undefined {
  const subtle = (globalThis as { crypto?: { subtle?: SubtleLike } }).crypto?.subtle;
  if (!subtle) return undefined;
  return async (text) => toHex(await subtle.digest('SHA-256', encoder.encode(text)));
}

/**
 * sha256 through Node's synchronous crypto.hash (Node ≥ 20.16, found with process.getBuiltinModule), or undefined
 * outside Node. In Node a WebCrypto digest costs 15-30 µs of main-thread time per call (a job, a thread-pool hop, a
 * promise) against under 1 µs here, and a client checks every delta.
 */
export function nodeDigest(): DigestFunction | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const c = proc?.getBuiltinModule?.('node:crypto') as { hash?: (algorithm: string, data: string, encoding: 'hex') => string } | undefined;
  const hash = c?.hash;
  if (typeof hash !== 'function') return undefined;
  return (text) => hash('sha256', text, 'hex');
}

/** The SDK's default SHA-256: Node's crypto.hash where it exists, else WebCrypto; undefined when neither does. */
export function defaultDigest(): DigestFunction | undefined {
  return nodeDigest() ?? webCryptoDigest();
}

const objectProto = Object.prototype;
/** String.prototype.isWellFormed (Node 20, current browsers); where it is missing every string takes the general path. */
const wellFormed: ((s: string) => boolean) | undefined = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
  ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
  : undefined;

/** True when JSON writes `s` as it is between quotes: printable ASCII without `"` or `\` (ids, names, most text). */
function plainString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/**
 * Canonical text of plain JSON data (null, booleans, finite numbers, well-formed strings, arrays, plain objects
 * without undefined members), or undefined for anything else, which `canonicalize` then handles. For what it accepts
 * it writes exactly what canonicalize writes (keys sorted by UTF-16 code units, numbers and strings as
 * JSON.stringify writes them) at a third of its cost: it builds no Set, array or closure per value.
 */
function plainCanonical(v: unknown, depth: number): string | undefined {
  switch (typeof v) {
    case 'string':
      return plainString(v) ? `"${v}"` : wellFormed?.(v) ? JSON.stringify(v) : undefined;
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : undefined;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      break;
    default:
      return undefined;
  }
  if (v === null) return 'null';
  if (depth > 64) return undefined;
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      const t = plainCanonical(v[i] as unknown, depth + 1);
      if (t === undefined) return undefined;
      out += i === 0 ? t : `,${t}`;
    }
    return `${out}]`;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== objectProto && proto !== null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o['toJSON'] === 'function') return undefined;
  const keys = Object.keys(o).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const key = plainCanonical(k, depth + 1);
    const t = plainCanonical(o[k], depth + 1);
    if (key === undefined || t === undefined) return undefined;
    out += i === 0 ? `${key}:${t}` : `,${key}:${t}`;
  }
  return `${out}}`;
}

/** RFC 8785 canonical JSON of a view (the text the server hashes). */
export function canonicalText(value: unknown): string {
  const s = plainCanonical(value, 0) ?? canonicalize(value);
  if (s === undefined) throw new WorldlineError('WORLD_STATE_CORRUPTED', 'the view cannot be canonicalised (it holds a value JSON cannot carry)');
  return s;
}

const MOD = 1n << 256n;

/** One entity's member text in the view's set digest: its id as a JSON string, a colon, its canonical record. */
export function memberText(id: string, record: unknown): string {
  return `${JSON.stringify(id)}:${canonicalText(record)}`;
}

/**
 * The context_digest of a view (docs/core.md): the sum modulo 2^256 of SHA-256(memberText) over its entities,
 * each read as a big-endian integer, as 64 lowercase hex digits. Order-independent, so it can be kept up to date
 * entity by entity; ViewDigester does that for a client.
 */
export async function viewDigest(view: { entities: Record<string, unknown> }, digest: DigestFunction | undefined = defaultDigest()): Promise<string> {
  const d = new ViewDigester(digest);
  return d.digest(ViewDigester.texts(view.entities));
}

/** How a view's members changed since the last view a ViewDigester prepared: texts to hash, ids to drop. */
export interface MemberChanges {
  readonly set: ReadonlyArray<readonly [string, string]>;
  readonly removed: readonly string[];
}

/**
 * Keeps each entity's member hash and their running sum, so a delta costs one SHA-256 per entity whose record
 * changed and no work for the others: changes() finds them by identity (a view shares its untouched entity records
 * with the previous one, see view.ts) and canonicalises only those; apply() hashes them and updates the sum.
 */
export class ViewDigester {
  private readonly members = new Map<string, { text: string; value: bigint }>();
  private sum = 0n;
  private readonly digestFn: DigestFunction;
  /** The entities of the last whole view changes() saw: never mutated by the SDK, so an unchanged record is the same object. */
  private prepared: Readonly<Record<string, unknown>> = {};

  constructor(digest: DigestFunction | undefined = defaultDigest()) {
    if (!digest) throw new WorldlineError('ADAPTER_UNAVAILABLE', 'no SHA-256 here (neither node:crypto nor WebCrypto\'s crypto.subtle): pass a digest function');
    this.digestFn = digest;
  }

  /** Member texts of a view, computed synchronously (so they capture this view_seq's view). */
  static texts(entities: Record<string, unknown>): Array<[string, string]> {
    return Object.keys(entities).map((id) => [id, memberText(id, entities[id])]);
  }

  /**
   * The member changes from the last view passed here to `entities`, computed synchronously (so they capture this
   * view). Records are compared by identity: the caller must not mutate a record it has passed in. `touched`, when
   * known, names every entity that may differ from the view before (added, changed or removed): only those are
   * looked at (so a delta costs what it changed, not the size of the view), and `entities` need hold no others.
   * Without it every entity is compared with the last whole view passed here, and every member known and not in
   * `entities` is removed.
   */
  changes(entities: Readonly<Record<string, unknown>>, touched?: Iterable<string>): MemberChanges {
    const set: Array<[string, string]> = [];
    const removed: string[] = [];
    if (touched) {
      for (const id of touched) {
        if (Object.prototype.hasOwnProperty.call(entities, id)) set.push([id, memberText(id, entities[id])]);
        else removed.push(id);
      }
      return { set, removed };
    }
    const prev = this.prepared;
    this.prepared = entities;
    for (const id of Object.keys(entities)) {
      const r = entities[id];
      if (prev[id] !== r || !Object.prototype.hasOwnProperty.call(prev, id)) set.push([id, memberText(id, r)]);
    }
    // The members known (applied) and those of the last whole view (prepared, maybe not applied yet).
    const gone = new Set<string>();
    for (const id of Object.keys(prev)) if (!Object.prototype.hasOwnProperty.call(entities, id)) gone.add(id);
    for (const id of this.members.keys()) if (!Object.prototype.hasOwnProperty.call(entities, id)) gone.add(id);
    removed.push(...gone);
    return { set, removed };
  }

  /** Applies changes (in the order they were prepared; one call at a time) and returns the view's digest. */
  async apply(ch: MemberChanges): Promise<string> {
    const hashed: Array<{ id: string; text: string; value: bigint }> = [];
    const pending: Array<Promise<{ id: string; text: string; value: bigint }>> = [];
    for (const [id, text] of ch.set) {
      const known = this.members.get(id);
      if (known && known.text === text) continue;
      const hex = this.digestFn(text);
      if (typeof hex === 'string') hashed.push({ id, text, value: BigInt(`0x${hex}`) });
      else pending.push(hex.then((h) => ({ id, text, value: BigInt(`0x${h}`) })));
    }
    if (pending.length) hashed.push(...(await Promise.all(pending)));
    let sum = this.sum;
    for (const id of ch.removed) {
      const m = this.members.get(id);
      if (!m) continue;
      sum -= m.value;
      this.members.delete(id);
    }
    for (const h of hashed) {
      const old = this.members.get(h.id);
      if (old) sum -= old.value;
      sum += h.value;
      this.members.set(h.id, { text: h.text, value: h.value });
    }
    this.sum = ((sum % MOD) + MOD) % MOD;
    return this.sum.toString(16).padStart(64, '0');
  }

  /** The digest of the view whose member texts are given; entities absent from `texts` are forgotten. */
  async digest(texts: ReadonlyArray<readonly [string, string]>): Promise<string> {
    const ids = new Set(texts.map(([id]) => id));
    return this.apply({ set: texts, removed: [...this.members.keys()].filter((id) => !ids.has(id)) });
  }
}
