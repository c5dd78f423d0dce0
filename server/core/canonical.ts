/**
 * Canonical JSON (RFC 8785) and the hashes computed over it. Everything the core hashes or logs goes through here,
 * so a client or a replay that canonicalises the same document gets the same bytes and the same digest.
 */
import canonicalize from 'canonicalize';
import { hash } from 'node:crypto';
import { WorldlineError } from '../errors.js';
import { memberHash, setDigestOf, type MemberHash } from './set-digest.js';
import { memberHashBytes, sortKeys } from './canonical-bytes.js';
import { isWellFormed } from './json-value.js';
import type { Effect, JsonValue, View } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

const MAX_FAST_DEPTH = 64;
const objectProto = Object.prototype;

/** Sorts keys by UTF-16 code units, as RFC 8785 requires; small arrays in place (Array.sort allocates). */

/**
 * Canonical text of plain JSON data (null, booleans, finite numbers, well-formed strings, arrays, plain objects),
 * or undefined when the value needs the general encoder (toJSON, boxed values, holes, NaN, cycles, deep nesting).
 * For the values it accepts it produces exactly what canonicalize does: sorted keys (UTF-16 code units), numbers
 * as JSON.stringify writes them, members whose value is undefined left out.
 */
function fastCanonical(v: unknown, depth: number): string | undefined {
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : undefined;
    case 'string':
      return isWellFormed(v) ? JSON.stringify(v) : undefined;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      break;
    default:
      return undefined;
  }
  if (v === null) return 'null';
  if (depth >= MAX_FAST_DEPTH) return undefined;
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      const t = fastCanonical(v[i] as unknown, depth + 1);
      if (t === undefined) return undefined;
      out += i > 0 ? `,${t}` : t;
    }
    return `${out}]`;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== objectProto && proto !== null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o['toJSON'] === 'function') return undefined;
  const keys = Object.keys(o);
  if (keys.length > 1) sortKeys(keys, keys.length);
  let out = '{';
  let first = true;
  for (const k of keys) {
    const x = o[k];
    if (x === undefined) continue;
    const t = fastCanonical(x, depth + 1);
    if (t === undefined || !isWellFormed(k)) return undefined;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${t}`;
    first = false;
  }
  return `${out}}`;
}

/** RFC 8785 canonical JSON text of a value; a value that cannot be represented gets INVALID_INTENT. */
export function canonicalJson(value: unknown): string {
  const fast = fastCanonical(value, 0);
  if (fast !== undefined) return fast;
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (err) {
    throw new WorldlineError('INVALID_INTENT', `Value cannot be encoded as canonical JSON: ${(err as Error).message}`, {}, { cause: err });
  }
  if (text === undefined) throw new WorldlineError('INVALID_INTENT', 'Value has no JSON representation.');
  return text;
}

/** Canonical JSON as UTF-8 bytes. */
export function canonicalBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value));
}

/** UTF-8 bytes of a string already in canonical form. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Parses a log payload; a payload that is not JSON is log corruption. */
export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes)) as unknown;
  } catch (err) {
    throw new WorldlineError('LOG_CORRUPTION_DETECTED', `A ${what} record is not valid JSON.`, { what }, { cause: err });
  }
}

/** sha256 of a string, hex. */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

/** Short digest of an intent's kind and payload, used to tell a retry from a different intent with the same req_id. */
export function intentDigest(kind: string, payload: JsonValue): string {
  return hash('sha256', `${JSON.stringify(kind)}:${canonicalJson(payload)}`, 'base64url').slice(0, 22);
}

/** RFC 6901 escaping of one JSON Pointer reference token. */
export function escapePointerToken(token: string): string {
  if (token.indexOf('~') === -1 && token.indexOf('/') === -1) return token;
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

const str = JSON.stringify;

/** JSON string literals of ids, kinds and other strings that recur in every record (bounded, cleared when full). */
const quotedCache = new Map<string, string>();
function quoted(s: string): string {
  let q = quotedCache.get(s);
  if (q === undefined) {
    if (quotedCache.size >= 65_536) quotedCache.clear();
    q = str(s);
    quotedCache.set(s, q);
  }
  return q;
}

/** A number that recurs from one record to the next (wall_time, sim_time within a quantum), formatted once. */
class NumberText {
  private n = Number.NaN;
  private text = '';
  of(n: number): string {
    if (n !== this.n) {
      this.text = str(n);
      this.n = n;
    }
    return this.text;
  }
}
const simTimeText = new NumberText();
const wallTimeText = new NumberText();

/**
 * The canonical JSON of an effect record, built field by field in the sorted key order RFC 8785 requires (the
 * payload still goes through canonicalJson). The hot path calls this once per committed effect; a unit test checks
 * it equals canonicalJson(effect) for every shape.
 */
export function encodeEffect(e: Effect): string {
  let out = '{';
  if (e.agent_id !== undefined) out += `"agent_id":${quoted(e.agent_id)},`;
  out += `"global_seq":${e.global_seq},`;
  if (e.intent_digest !== undefined) out += `"intent_digest":${str(e.intent_digest)},`;
  out += `"kind":${quoted(e.kind)},"payload":${canonicalJson(e.payload)},"priority":${e.priority},`;
  if (e.req_id !== undefined) out += `"req_id":${str(e.req_id)},`;
  out += `"schema_version":${quoted(e.schema_version)},"sim_time":${simTimeText.of(e.sim_time)},"source_id":${quoted(e.source_id)},`;
  out += `"uuid":${str(e.uuid)},"wall_time":${wallTimeText.of(e.wall_time)},"world_id":${quoted(e.world_id)}}`;
  return out;
}

let scratch = new Uint8Array(4096);

/**
 * UTF-8 bytes of `text` in a buffer that is reused by the next call: for EventLogPort.append, which reads its
 * payload before returning.
 */
export function utf8Scratch(text: string): Uint8Array {
  // UTF-8 needs at most 3 bytes per UTF-16 unit.
  if (text.length * 3 > scratch.length) scratch = new Uint8Array(Math.max(text.length * 3, scratch.length * 2));
  const { written } = encoder.encodeInto(text, scratch);
  return scratch.subarray(0, written);
}

/**
 * The same string as one flat sequence of characters. V8 builds concatenations as trees; one that is cached and
 * joined into many digests is flattened once here (converting a string to a number flattens it) rather than
 * walked again by every join.
 */
function flat(s: string): string {
  void Number(s);
  return s;
}

interface CanonEntry {
  /** The record's canonical JSON, once asked for. */
  text: string | undefined;
  /** The id `member` and `memberHash` are for (a record belongs to one entity). */
  memberId: string | undefined;
  /** `"<id>":<text>`, once asked for. */
  member: string | undefined;
  /** memberHash(member), once asked for. */
  memberHash: MemberHash | undefined;
}

const recordCanon = new WeakMap<object, CanonEntry>();

function canonEntry(record: object): CanonEntry {
  let e = recordCanon.get(record);
  if (e === undefined) {
    e = { text: undefined, memberId: undefined, member: undefined, memberHash: undefined };
    recordCanon.set(record, e);
  }
  return e;
}

function entryText(record: object, e: CanonEntry): string {
  return (e.text ??= flat(canonicalJson(record)));
}

/** The entry, with its member fields for `id` (cleared when they were for another id). */
function memberEntry(id: string, record: object): CanonEntry {
  const e = canonEntry(record);
  if (e.memberId !== id) {
    e.memberId = id;
    e.member = undefined;
    e.memberHash = undefined;
  }
  return e;
}

/**
 * Canonical JSON of an immutable record, cached by identity. Entity records are copy-on-write, so one record
 * object is encoded once however many views, digests and state hashes include it.
 */
export function canonicalRecord(record: object): string {
  return entryText(record, canonEntry(record));
}

/** `"<id>":<canonical record>`, the member an immutable record contributes to a canonical object keyed by id (cached). */
export function canonicalMember(id: string, record: object): string {
  const e = memberEntry(id, record);
  return (e.member ??= flat(`${str(id)}:${entryText(record, e)}`));
}

/**
 * memberHash of canonicalMember(id, record) (cached): what the record adds to a set digest of members. Hashed from
 * canonical bytes written in place when it can be (no text, member string or concatenation built: views and state
 * hashes ask this of every changed record), else from the member string.
 */
export function canonicalMemberHash(id: string, record: object): MemberHash {
  const e = memberEntry(id, record);
  return (e.memberHash ??= memberHashBytes(id, record) ?? memberHash(canonicalMember(id, record)));
}

/**
 * An agent's context_digest, computed from its view as a client holds it: the set digest (set-digest.ts) of the
 * view's members `"<id>":<canonical record>`, i.e. the sum modulo 2^256 of their SHA-256 digests, as 64 hex digits.
 */
export function viewDigest(view: View): string {
  return setDigestOf(Object.entries(view.entities).map(([id, rec]) => `${str(id)}:${canonicalJson(rec)}`));
}
