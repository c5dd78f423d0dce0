/**
 * What a JSON value is, for Worldline: the rules every codec carries exactly and every client's decoder accepts.
 * Finite numbers, well-formed Unicode strings (no lone surrogates), plain objects and arrays at most MAX_JSON_DEPTH
 * levels deep, no "__proto__" key. The codecs apply them to client input (server/protocol); the core applies them to
 * everything that reaches the state by another road (REST, in-process calls, a world's own apply functions).
 */

/** Deepest nesting accepted in a JSON value (payloads, views, op values). */
export const MAX_JSON_DEPTH = 64;

/**
 * Levels above an entity field's value in a view ({entities: {<id>: {<field>: value}}}): a field value may nest
 * MAX_JSON_DEPTH - 3 levels, so that every view and snapshot holding it is itself a JSON value clients accept.
 */
export const FIELD_VALUE_DEPTH = 3;

export const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v) as unknown;
  return p === Object.prototype || p === null;
};

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** String.prototype.isWellFormed (ES2024: Node 20, current browsers; the ES2023 lib typings lack it). */
const nativeWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;

/**
 * True when s is well-formed UTF-16, so that every codec (UTF-8 on the wire) carries it exactly. The engine's own
 * String.prototype.isWellFormed where it has one (as fast as a scan for short keys, and no regex for long text), a
 * regex in an older browser running the SDK.
 */
export const isWellFormed: (s: string) => boolean = nativeWellFormed ? (s) => nativeWellFormed.call(s) : (s) => !LONE_SURROGATE.test(s);

/** True when v is a JSON value (finite numbers, well-formed strings, plain objects and arrays) no deeper than MAX_JSON_DEPTH. */
export function isJsonValue(v: unknown, depth = 0): boolean {
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

/** True when `k` may name a field (well-formed, not "__proto__"). */
export const isFieldName = (k: string): boolean => k !== '__proto__' && isWellFormed(k);

/** True for an array index key ("0", "7", "42": below 2^32 - 1, no leading zero), which objects list first, by number. */
function isIndexKey(k: string): boolean {
  const c = k.charCodeAt(0);
  if (c < 48 || c > 57 || k.length > 10 || (c === 48 && k.length > 1)) return false;
  for (let i = 1; i < k.length; i++) {
    const d = k.charCodeAt(i);
    if (d < 48 || d > 57) return false;
  }
  return Number(k) < 4294967295;
}

/**
 * True when the object's keys are listed (for...in, Object.keys) as they are after JSON.parse of its canonical JSON:
 * its non-index keys in ascending UTF-16 order (index keys come first, by number, however they were added). A
 * payload read back from the log, and a record read back from a snapshot, are listed that way, so a world's apply
 * function that walks keys (`Object.keys(p.items)[0]`) must see them that way live too, or a replay or a restart
 * computes another state than the live world did.
 */
export function inCanonicalOrder(o: object): boolean {
  let prev: string | undefined;
  for (const k in o) {
    if (isIndexKey(k)) continue;
    if (prev !== undefined && !(prev < k)) return false;
    prev = k;
  }
  return true;
}

/** The object itself when its keys are in canonical order (inCanonicalOrder), else a shallow copy with them so. */
export function canonicalOrder<T extends object>(o: T): T {
  if (inCanonicalOrder(o)) return o;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) out[k] = (o as Record<string, unknown>)[k];
  return out as T;
}

/** True when v is frozen all the way down (a primitive, or a frozen object or array of such values), keys in canonical order. */
function deepFrozen(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true;
  if (!Object.isFrozen(v)) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!deepFrozen(v[i])) return false;
    return true;
  }
  if (!inCanonicalOrder(v)) return false;
  for (const k in v) if (!deepFrozen((v as Record<string, unknown>)[k])) return false;
  return true;
}

/**
 * A deeply frozen copy of a JSON value, its objects' keys in canonical order (inCanonicalOrder), or the value itself
 * when it is a primitive or already such a copy (made here before, handed on), so state, effects and outcomes never
 * share a mutable object with a caller who may change it later, and an apply function sees a payload's keys in the
 * order a replay of the log gives them. Assumes a JSON value (isJsonValue): plain objects, arrays, primitives.
 */
export function frozenJson<T>(v: T): T {
  if (typeof v !== 'object' || v === null || deepFrozen(v)) return v;
  return copyFrozen(v);
}

function copyFrozen<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  let out: unknown;
  if (Array.isArray(v)) {
    const a = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) a[i] = copyFrozen(v[i] as unknown);
    out = a;
  } else {
    const o: Record<string, unknown> = {};
    const src = v as Record<string, unknown>;
    // Straight into canonical key order (one copy, not a sorted copy copied again).
    if (inCanonicalOrder(src)) for (const k in src) o[k] = copyFrozen(src[k]);
    else for (const k of Object.keys(src).sort()) o[k] = copyFrozen(src[k]);
    out = o;
  }
  return Object.freeze(out) as T;
}

/** Deep equality of two JSON values (object key order aside). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  let n = 0;
  for (const k in ao) {
    if (!Object.hasOwn(bo, k) || !sameJson(ao[k], bo[k])) return false;
    n++;
  }
  // Every key of a is in b with the same value: equal when b has no more keys than that.
  return Object.keys(bo).length === n;
}
