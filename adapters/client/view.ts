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

/**
 * Applies entity-scoped ops (already cloned, so the view may keep their values) to a copy of `view` that shares
 * untouched entities. Each touched entity is copied once, then patched in place with validation; any failing op
 * throws, and `view` is left as it was. `touched` collects the ids of every entity added, changed or removed.
 */
function applyShared(view: View, ops: readonly WireOp[], touched: Set<string>): View {
  const entities = { ...view.entities } as Record<string, Record<string, JsonValue>>;
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
        touched.add(id);
      }
      continue;
    }
    const target = entities[id];
    if (!has || target === null || typeof target !== 'object') throw new JsonPatchError(`Cannot perform an '${op.op}' operation at a path that does not exist: ${op.path}`, 'OPERATION_PATH_UNRESOLVABLE', 0, op as never, entities);
    if (!touched.has(id) || entities[id] === view.entities[id]) {
      entities[id] = deepClone(entities[id]) as Record<string, JsonValue>;
      touched.add(id);
    }
    applyOperation(entities[id], { ...op, path: rest } as never, true, true);
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
    const ops = deepClone(d.ops) as WireOp[];
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
