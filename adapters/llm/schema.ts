/**
 * The small JSON Schema subset intents are checked against (type, properties, required, additionalProperties,
 * enum, minLength/maxLength, minimum/maximum, items/maxItems), and parsing a model's answer into an intent.
 */
import type { JsonValue } from '../../server/protocol/index.js';

export type JsonSchema =
  | { readonly type: 'string'; readonly minLength?: number; readonly maxLength?: number; readonly enum?: readonly string[]; readonly description?: string }
  | { readonly type: 'number' | 'integer'; readonly minimum?: number; readonly maximum?: number; readonly description?: string }
  | { readonly type: 'boolean'; readonly description?: string }
  | { readonly type: 'object'; readonly properties?: Readonly<Record<string, JsonSchema>>; readonly required?: readonly string[]; readonly additionalProperties?: boolean; readonly description?: string }
  | { readonly type: 'array'; readonly items?: JsonSchema; readonly maxItems?: number; readonly description?: string };

/** Every way `v` breaks `s`, as "path: problem" lines (empty when it conforms). */
export function checkSchema(v: unknown, s: JsonSchema, path = '$'): string[] {
  const errs: string[] = [];
  switch (s.type) {
    case 'string':
      if (typeof v !== 'string') return [`${path}: expected a string`];
      if (s.minLength !== undefined && v.length < s.minLength) errs.push(`${path}: shorter than ${s.minLength} characters`);
      if (s.maxLength !== undefined && v.length > s.maxLength) errs.push(`${path}: longer than ${s.maxLength} characters`);
      if (s.enum && !s.enum.includes(v)) errs.push(`${path}: must be one of ${s.enum.join(', ')}`);
      return errs;
    case 'number':
    case 'integer':
      if (typeof v !== 'number' || !Number.isFinite(v) || (s.type === 'integer' && !Number.isInteger(v))) return [`${path}: expected ${s.type === 'integer' ? 'an integer' : 'a number'}`];
      if (s.minimum !== undefined && v < s.minimum) errs.push(`${path}: below ${s.minimum}`);
      if (s.maximum !== undefined && v > s.maximum) errs.push(`${path}: above ${s.maximum}`);
      return errs;
    case 'boolean':
      return typeof v === 'boolean' ? [] : [`${path}: expected true or false`];
    case 'array':
      if (!Array.isArray(v)) return [`${path}: expected an array`];
      if (s.maxItems !== undefined && v.length > s.maxItems) errs.push(`${path}: more than ${s.maxItems} items`);
      if (s.items) v.forEach((x, i) => errs.push(...checkSchema(x, s.items!, `${path}[${i}]`)));
      return errs;
    case 'object': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return [`${path}: expected an object`];
      const o = v as Record<string, unknown>;
      // Own keys only: a model's "constructor" or "toString" must not find Object.prototype's members.
      for (const k of s.required ?? []) if (!Object.hasOwn(o, k)) errs.push(`${path}.${k}: required`);
      for (const [k, x] of Object.entries(o)) {
        const ps = s.properties && Object.hasOwn(s.properties, k) ? s.properties[k] : undefined;
        if (ps) errs.push(...checkSchema(x, ps, `${path}.${k}`));
        else if (s.additionalProperties === false) errs.push(`${path}.${k}: not allowed`);
      }
      return errs;
    }
  }
}

/** The intent kinds a model may choose from, each with its payload schema. */
export type IntentSchemas = Readonly<Record<string, JsonSchema>>;

export type ParsedIntent = { readonly ok: true; readonly intent: { readonly kind: string; readonly payload: JsonValue } | null } | { readonly ok: false; readonly error: string };

/**
 * The JSON object in a model's answer: code fences and prose around it are tolerated, braces in that prose too. The
 * first balanced {...} (strings and escapes respected) that parses and names a "kind" wins, else the first that
 * parses, else the widest span from the first { to the last } (whose parse error then tells the model what is wrong).
 */
function extractJson(text: string): string | undefined {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(text);
  const body = fenced ? fenced[1]! : text;
  let parsed: string | undefined;
  for (let start = body.indexOf('{'); start >= 0; start = body.indexOf('{', start + 1)) {
    const end = balancedEnd(body, start);
    if (end < 0) continue;
    const candidate = body.slice(start, end + 1);
    try {
      const v: unknown = JSON.parse(candidate);
      if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.hasOwn(v, 'kind')) return candidate;
      parsed ??= candidate;
    } catch {
      // Not JSON (prose in braces): the next { may start it.
    }
  }
  if (parsed !== undefined) return parsed;
  const start = body.indexOf('{');
  const end = body.lastIndexOf('}');
  return start >= 0 && end > start ? body.slice(start, end + 1) : undefined;
}

/** Where the object opened at `start` closes, skipping braces inside strings; -1 when it does not. */
function balancedEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return i;
  }
  return -1;
}

/**
 * Parses an answer of the form {"kind": K, "payload": {...}} and checks the payload against K's schema.
 * {"kind": "none"} is a decision to do nothing (intent null) when allowNone.
 */
export function parseIntent(text: string, schemas: IntentSchemas, allowNone: boolean): ParsedIntent {
  const json = extractJson(text);
  if (json === undefined) return { ok: false, error: 'the answer holds no JSON object' };
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (err) {
    return { ok: false, error: `the JSON does not parse: ${(err as Error).message}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, error: 'the answer must be a JSON object' };
  const o = v as Record<string, unknown>;
  const kind = o['kind'];
  if (allowNone && kind === 'none') return { ok: true, intent: null };
  if (typeof kind !== 'string' || !Object.hasOwn(schemas, kind)) return { ok: false, error: `"kind" must be one of ${[...Object.keys(schemas), ...(allowNone ? ['none'] : [])].join(', ')}` };
  const errs = checkSchema(o['payload'], schemas[kind]!, '$.payload');
  if (errs.length) return { ok: false, error: errs.join('; ') };
  return { ok: true, intent: { kind, payload: o['payload'] as JsonValue } };
}
