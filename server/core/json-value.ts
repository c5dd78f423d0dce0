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

/** True when s is well-formed UTF-16, so that every codec (UTF-8 on the wire) carries it exactly. */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

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
