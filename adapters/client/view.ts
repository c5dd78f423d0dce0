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

type EntityRecord = Readonly<Record<string, JsonValue>>;
type Table = Readonly<Record<string, EntityRecord>>;

/** In a view's pending changes: the entity was removed. */
const REMOVED = Symbol('removed');
/** What entityIn() gives for an entity the view does not have. */
const ABSENT = Symbol('absent');

/**
 * A view made by deltas holds, until its entity table is first read, the table of an earlier view and the entities
 * changed since (in the order they changed; `reinserted` names those removed and added again, which move to the end
 * of the table as they would have). Its `entities` getter builds the table once and lets go of the rest.
 */
interface Pending {
  base: Table;
  changed: Map<string, EntityRecord | typeof REMOVED>;
  reinserted: Set<string> | undefined;
  table: Table | undefined;
}

const PENDING = Symbol('pending view');
/** Pending changes past which a delta builds its parent's table first, so a view's own copy stays bounded. */
const MAX_PENDING = 64;
const EMPTY: Table = Object.freeze({});

function pendingOf(view: View): Pending | undefined {
  return (view as { [PENDING]?: Pending })[PENDING];
}

function materialize(p: Pending): Table {
  if (p.table) return p.table;
  const t: Record<string, EntityRecord> = { ...p.base };
  for (const [id, r] of p.changed) {
    if (r === REMOVED || p.reinserted?.has(id)) delete t[id];
    if (r !== REMOVED) t[id] = r;
  }
  p.table = t;
  p.base = EMPTY;
  p.changed = new Map();
  p.reinserted = undefined;
  return t;
}

/**
 * A view whose entity table is built when first read. Every delta used to copy the whole table (a 207-entity view:
 * ~10 µs and ~40 KB per delta, which lived until the next delta and so survived young-generation collections: in an
 * agent process holding a hundred views most of the scavengers' copying); most views are never read whole (the SDK
 * reads the entities a delta touched), and a generation reads its view once. `entities` is an own enumerable
 * property, so JSON.stringify, spreading and structured cloning see the table as they see a plain object's.
 */
function pendingView(p: Pending): View {
  const view = {};
  Object.defineProperty(view, 'entities', { enumerable: true, get: () => materialize(p) });
  Object.defineProperty(view, PENDING, { value: p });
  return view as View;
}

/** The entity `id` of `view` (ABSENT when it has none), without building a pending view's table. */
function entityIn(view: View, id: string): EntityRecord | typeof ABSENT {
  const p = pendingOf(view);
  const table = p === undefined ? view.entities : p.table;
  if (table) return Object.prototype.hasOwnProperty.call(table, id) ? table[id]! : ABSENT;
  const r = p!.changed.get(id);
  if (r !== undefined) return r === REMOVED ? ABSENT : r;
  return Object.prototype.hasOwnProperty.call(p!.base, id) ? p!.base[id]! : ABSENT;
}

/** The entities among `ids` that `view` has, as a table of just those (for the digest of a delta's touched entities). */
export function entitiesOf(view: View, ids: Iterable<string>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const id of ids) {
    const r = entityIn(view, id);
    if (r !== ABSENT) out[id] = r as JsonValue;
  }
  return out;
}

/**
 * Applies entity-scoped ops (already cloned, so the view may keep their values) to make a view that shares `view`'s
 * untouched entities, and within a touched entity every member the ops do not reach: each container on an op's
 * path is copied (shallowly, once per delta), then the op patches it in place with fast-json-patch's validation;
 * any failing op throws, and `view` is left as it was. The new view's table is built only when read (pendingView).
 * `touched` collects the ids of every entity added, changed or removed.
 */
function applyShared(view: View, ops: readonly WireOp[], touched: Set<string>): View {
  const changed = new Map<string, EntityRecord | typeof REMOVED>();
  let reinserted: Set<string> | undefined;
  /** Containers this delta made (copies, and the ops' own values): patched in place from then on. */
  const owned = new Set<unknown>();
  const current = (id: string): EntityRecord | typeof ABSENT => {
    const r = changed.get(id);
    if (r !== undefined) return r === REMOVED ? ABSENT : r;
    return entityIn(view, id);
  };
  const set = (id: string, r: EntityRecord | typeof REMOVED): void => {
    if (changed.get(id) === REMOVED && r !== REMOVED) {
      // Removed and added again: it goes to the end of the table, after the entities added before it.
      changed.delete(id);
      (reinserted ??= new Set()).add(id);
    }
    changed.set(id, r);
  };
  for (const op of ops) {
    const { id, rest } = entityTarget(op.path)!;
    const cur = current(id);
    const has = cur !== ABSENT;
    if (rest === '') {
      if (op.op === 'remove' || op.op === 'replace') {
        if (!has) throw new JsonPatchError(`Cannot ${op.op} a missing entity: ${op.path}`, 'OPERATION_PATH_UNRESOLVABLE', 0, op as never, undefined);
        if (op.op === 'remove') {
          set(id, REMOVED);
          touched.add(id);
          continue;
        }
      }
      if (op.op === 'add' || op.op === 'replace') {
        set(id, op.value as EntityRecord);
        owned.add(op.value);
        touched.add(id);
      }
      continue;
    }
    let target = cur as Container | typeof ABSENT;
    if (!has || target === null || typeof target !== 'object') throw new JsonPatchError(`Cannot perform an '${op.op}' operation at a path that does not exist: ${op.path}`, 'OPERATION_PATH_UNRESOLVABLE', 0, op as never, undefined);
    if (!owned.has(target)) {
      target = copyOf(target);
      owned.add(target);
      set(id, target as EntityRecord);
    }
    touched.add(id);
    ownPath(target, rest, owned);
    applyOperation(target, { ...op, path: rest } as never, true, true);
  }
  return combine(view, changed, reinserted);
}

/** The view `changed` (one delta's, in order) makes of `view`: pending on `view`'s table, or on the one it waits on. */
function combine(view: View, changed: Map<string, EntityRecord | typeof REMOVED>, reinserted: Set<string> | undefined): View {
  const parent = pendingOf(view);
  if (parent === undefined || parent.table || parent.changed.size + changed.size > MAX_PENDING) {
    const base = parent === undefined ? view.entities : materialize(parent);
    return pendingView({ base, changed, reinserted, table: undefined });
  }
  const merged = new Map(parent.changed);
  let again = parent.reinserted ? new Set(parent.reinserted) : undefined;
  for (const [id, r] of changed) {
    if ((merged.get(id) === REMOVED && r !== REMOVED) || reinserted?.has(id)) {
      merged.delete(id);
      (again ??= new Set()).add(id);
    }
    merged.set(id, r);
  }
  return pendingView({ base: parent.base, changed: merged, reinserted: again, table: undefined });
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
