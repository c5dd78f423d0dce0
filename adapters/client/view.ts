/**
 * An agent's view as the client holds it: the last snapshot with every delta applied strictly (fast-json-patch with
 * validation), numbered by view_seq. A delta makes a new view that shares every entity it does not touch with the
 * previous one and copies those it does before patching them, so a view handed out earlier never changes under its
 * holder and a delta costs what it changes, not the size of the view.
 */
import fastJsonPatch from 'fast-json-patch';
import type { JsonValue, ObservationDelta, SnapshotBody, WireOp } from '../../server/protocol/index.js';

const { applyOperation, applyPatch, deepClone, JsonPatchError } = fastJsonPatch;

/** A view: the entities an agent can see, each a record of its visible fields. */
export interface View {
  readonly entities: Readonly<Record<string, Readonly<Record<string, JsonValue>>>>;
}

/** What an observation stream yields: a snapshot or a delta, and the view after it. */
export interface Observation {
  readonly type: 'snapshot' | 'delta';
  readonly viewSeq: number;
  /** For a delta, the view_seq it applies to; for a snapshot, the view_seq before it (-1 at first). */
  readonly fromSeq: number;
  readonly ops: readonly WireOp[];
  readonly view: View;
  readonly contextDigest: string;
  /** The last effect included (0 for snapshots). */
  readonly globalSeq: number;
  readonly simTime: number;
  /** Why a snapshot came: 'welcome' (first connection or resync), 'server' (the server sent one), 'overflow'. */
  readonly reason?: 'welcome' | 'server' | 'overflow';
}

export type DeltaOutcome = 'applied' | 'duplicate' | 'gap';

const objectProto = Object.prototype;

/**
 * A copy of decoded JSON data, as JSON.parse(JSON.stringify(v)) makes (fast-json-patch's deepClone) for the values a
 * codec decodes (null, booleans, finite numbers, strings, arrays, plain objects), at a fifth of its cost; anything
 * else (undefined members, NaN, toJSON, other classes) is copied that way.
 */
function cloneJson(v: unknown): unknown {
  const c = plainClone(v, 0);
  return c === NOT_PLAIN ? deepClone(v) : c;
}

const NOT_PLAIN = Symbol('not plain JSON');

function plainClone(v: unknown, depth: number): unknown {
  if (typeof v !== 'object') {
    if (typeof v === 'number') return Number.isFinite(v) ? v + 0 : NOT_PLAIN; // + 0: -0 becomes 0, as in JSON
    return typeof v === 'string' || typeof v === 'boolean' ? v : NOT_PLAIN;
  }
  if (v === null) return null;
  if (depth > 64) return NOT_PLAIN;
  if (Array.isArray(v)) {
    const out: unknown[] = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) {
      const c = plainClone(v[i] as unknown, depth + 1);
      if (c === NOT_PLAIN) return NOT_PLAIN;
      out[i] = c;
    }
    return out;
  }
  if (Object.getPrototypeOf(v) !== objectProto) return NOT_PLAIN;
  const o = v as Record<string, unknown>;
  if (typeof o['toJSON'] === 'function') return NOT_PLAIN;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) {
    // An own "__proto__" member (JSON.parse makes one) would set the copy's prototype here.
    if (k === '__proto__') return NOT_PLAIN;
    const c = plainClone(o[k], depth + 1);
    if (c === NOT_PLAIN) return NOT_PLAIN;
    out[k] = c;
  }
  return out;
}

function asView(v: JsonValue): View {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && typeof v['entities'] === 'object' && v['entities'] !== null && !Array.isArray(v['entities'])) return v as unknown as View;
  return { entities: {} };
}

const ENTITIES = '/entities/';

/** The entity an op's path names and the pointer inside it ('' for the entity itself); undefined outside /entities/ID. */
function entityTarget(path: string): { id: string; rest: string } | undefined {
  if (!path.startsWith(ENTITIES)) return undefined;
  const end = path.indexOf('/', ENTITIES.length);
  const token = end < 0 ? path.slice(ENTITIES.length) : path.slice(ENTITIES.length, end);
  const id = token.includes('~') ? token.replace(/~1/g, '/').replace(/~0/g, '~') : token;
  // fast-json-patch refuses prototype paths; the whole-view path below keeps that check.
  if (id === '__proto__') return undefined;
  return { id, rest: end < 0 ? '' : path.slice(end) };
}

/** True when every op adds, replaces, removes or tests inside one entity (or adds, replaces, removes a whole one). */
function entityScoped(ops: readonly WireOp[]): boolean {
  for (const op of ops) {
    if (op.op === 'move' || op.op === 'copy') return false;
    const t = entityTarget(op.path);
    if (!t || (t.rest === '' && op.op === 'test')) return false;
  }
  return true;
}

type Container = Record<string, unknown> | unknown[];

const copyOf = (c: Container): Container => (Array.isArray(c) ? c.slice() : { ...c });

/** fast-json-patch's test for an array index token (digits only). */
function isIndex(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Makes every container on `pointer` below `root` (which the caller owns) down to the last token's parent one that
 * this delta owns, copying the shared ones shallowly, so the op can then patch in place without touching the view it
 * came from. It stops where the path does not resolve (fast-json-patch then throws) and at keys it refuses.
 */
function ownPath(root: Container, pointer: string, owned: Set<unknown>): void {
  let obj = root;
  let from = 1;
  for (;;) {
    const slash = pointer.indexOf('/', from);
    if (slash < 0) return;
    let key = pointer.slice(from, slash);
    from = slash + 1;
    if (key.includes('~')) key = key.replace(/~1/g, '/').replace(/~0/g, '~');
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') return;
    let k: string | number = key;
    if (Array.isArray(obj)) {
      if (!isIndex(key)) return;
      k = ~~key;
    }
    const child = (obj as Record<string | number, unknown>)[k];
    if (child === null || typeof child !== 'object' || !Object.prototype.hasOwnProperty.call(obj, k)) return;
    let next = child as Container;
    if (!owned.has(next)) {
      next = copyOf(next);
      owned.add(next);
      (obj as Record<string | number, unknown>)[k] = next;
    }
    obj = next;
  }
}

/**
 * Applies entity-scoped ops (already cloned, so the view may keep their values) to a copy of `view` that shares
 * untouched entities, and within a touched entity every member the ops do not reach: each container on an op's
 * path is copied (shallowly, once per delta), then the op patches it in place with fast-json-patch's validation;
 * any failing op throws, and `view` is left as it was. `touched` collects the ids of every entity added, changed or
 * removed.
 */
function applyShared(view: View, ops: readonly WireOp[], touched: Set<string>): View {
  const entities = { ...view.entities } as Record<string, Record<string, JsonValue>>;
  /** Containers this delta made (copies, and the ops' own values): patched in place from then on. */
  const owned = new Set<unknown>();
  for (const op of ops) {
    const { id, rest } = entityTarget(op.path)!;
    const has = Object.prototype.hasOwnProperty.call(entities, id);
    if (rest === '') {
      if (op.op === 'remove' || op.op === 'replace') {
        if (!has) throw new JsonPatchError(`Cannot ${op.op} a missing entity: ${op.path}`, 'OPERATION_PATH_UNRESOLVABLE', 0, op as never, entities);
        if (op.op === 'remove') {
          delete entities[id];
          touched.add(id);
          continue;
        }
      }
      if (op.op === 'add' || op.op === 'replace') {
        entities[id] = op.value as Record<string, JsonValue>;
        owned.add(op.value);
        touched.add(id);
      }
      continue;
    }
    let target = entities[id] as Container | undefined;
    if (!has || target === null || typeof target !== 'object') throw new JsonPatchError(`Cannot perform an '${op.op}' operation at a path that does not exist: ${op.path}`, 'OPERATION_PATH_UNRESOLVABLE', 0, op as never, entities);
    if (!owned.has(target)) {
      target = copyOf(target);
      owned.add(target);
      entities[id] = target as Record<string, JsonValue>;
    }
    touched.add(id);
    ownPath(target, rest, owned);
    applyOperation(target, { ...op, path: rest } as never, true, true);
  }
  return { entities };
}

export class ViewState {
  view: View = { entities: {} };
  viewSeq = -1;
  /**
   * The ids of the entities the last applied delta added, changed or removed; undefined after a snapshot or a delta
   * applied as a whole (every entity is then a new object).
   */
  touched: ReadonlySet<string> | undefined;

  /** Replaces the view with a snapshot. */
  snapshot(body: SnapshotBody, reason: Observation['reason']): Observation {
    const fromSeq = this.viewSeq;
    this.view = asView(deepClone(body.view) as JsonValue);
    this.viewSeq = body.view_seq;
    this.touched = undefined;
    return { type: 'snapshot', viewSeq: body.view_seq, fromSeq, ops: [], view: this.view, contextDigest: body.context_digest, globalSeq: 0, simTime: 0, ...(reason ? { reason } : {}) };
  }

  /**
   * Applies a delta when it starts at our view_seq. An older one is a duplicate (ignored); a later one is a gap (the
   * caller resumes). Throws fast-json-patch's error when an op does not apply: the view is then left as it was.
   */
  delta(d: ObservationDelta): { outcome: DeltaOutcome; observation?: Observation } {
    if (d.view_seq <= this.viewSeq) return { outcome: 'duplicate' };
    if (d.from_seq !== this.viewSeq) return { outcome: 'gap' };
    const ops = cloneJson(d.ops) as WireOp[];
    if (entityScoped(ops)) {
      const touched = new Set<string>();
      this.view = applyShared(this.view, ops, touched);
      this.touched = touched;
    } else {
      this.view = asView(applyPatch(this.view, ops as never, true, false).newDocument as unknown as JsonValue);
      this.touched = undefined;
    }
    this.viewSeq = d.view_seq;
    return { outcome: 'applied', observation: { type: 'delta', viewSeq: d.view_seq, fromSeq: d.from_seq, ops: d.ops, view: this.view, contextDigest: d.context_digest, globalSeq: d.global_seq, simTime: d.sim_time } };
  }
}
