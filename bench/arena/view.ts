/**
 * A load client's copy of its agent's view, kept the way a real client keeps it: the Welcome snapshot, then every
 * ObservationDelta applied strictly (from_seq must equal the current view_seq; add only what is absent, remove and
 * replace only what is present). Plus the checks the arena-v1 workload asks for: every entity held lies within R
 * of the agent's own entity, and a sampled view equals the server's.
 */
import { OpCode, type DeltaVisitor, type JsonValue, type WireOp } from '../../server/protocol/index.js';

export type EntityRec = { [field: string]: JsonValue };

/** Why a delta could not be applied; counted as a view error. */
export type ViewError = 'gap' | 'bad-op' | 'bad-path' | 'not-a-view';

/** RFC 6901 token unescaping. */
const unescape = (t: string): string => (t.includes('~') ? t.replace(/~1/g, '/').replace(/~0/g, '~') : t);

const isObj = (v: JsonValue | undefined): v is { [k: string]: JsonValue } => typeof v === 'object' && v !== null && !Array.isArray(v);

interface EntityPath {
  readonly id: string;
  /** The entity's index among every id this process has parsed (ClientView.byIndex). */
  readonly index: number;
  readonly field: string | undefined;
}

/**
 * A small integer per entity id seen in any path or snapshot, so a view finds an entity's record by array index
 * rather than by a second map lookup per op. Bounded: past MAX_INDEXED ids, new ones get -1 (found by map).
 */
const idIndex = new Map<string, number>();
const MAX_INDEXED = 1 << 21;

function indexOf(id: string): number {
  let index = idIndex.get(id);
  if (index === undefined) {
    if (idIndex.size >= MAX_INDEXED) return -1;
    idIndex.set(id, (index = idIndex.size));
  }
  return index;
}

/**
 * Parsed op paths, shared by every view of the process: a world's paths recur every tick (the same entities' same
 * fields), so each is split and unescaped once rather than once per op per client (bounded: cleared when full).
 */
const parsedPaths = new Map<string, EntityPath | undefined>();

function parsePath(p: string): EntityPath | undefined {
  let e = parsedPaths.get(p);
  if (e !== undefined || parsedPaths.has(p)) return e;
  if (p.startsWith('/entities/')) {
    const rest = p.slice(10);
    const slash = rest.indexOf('/');
    const id = unescape(slash < 0 ? rest : rest.slice(0, slash));
    const field = slash < 0 ? undefined : unescape(rest.slice(slash + 1));
    if (field === undefined || !field.includes('/')) e = { id, index: indexOf(id), field };
  }
  if (parsedPaths.size >= 1 << 20) parsedPaths.clear();
  parsedPaths.set(p, e);
  return e;
}

/**
 * The same parses by path id (the id a binary codec's op stream names a path by): an array read per op instead of a
 * map lookup by path text. Shared by every view of the process, as a world numbers its paths the same for all its
 * connections; each entry keeps its path, so an id another connection defined differently is parsed afresh.
 */
const parsedById: Array<{ readonly path: string; readonly parsed: EntityPath | undefined } | undefined> = [];
const MAX_ID_CACHED = 1 << 20;

function parseById(id: number, path: string): EntityPath | undefined {
  if (id < 0 || id >= MAX_ID_CACHED) return parsePath(path);
  const e = parsedById[id];
  if (e !== undefined && e.path === path) return e.parsed;
  const parsed = parsePath(path);
  while (parsedById.length < id) parsedById.push(undefined);
  parsedById[id] = { path, parsed };
  return parsed;
}

/**
 * Also a DeltaVisitor: `codec.decodeServer(frame, session, view)` applies a delta's ops as they are decoded (no RFC
 * 6902 object per op), then endDelta() settles it, or abandonDelta() after a frame that failed to decode.
 */
export class ClientView implements DeltaVisitor {
  /** The view's entities by id (read it; change it only through reset and apply, which keep byIndex in step). */
  readonly entities = new Map<string, EntityRec>();
  /** The same records by idIndex (undefined: absent), for apply's per-op lookup. */
  private byIndex: Array<EntityRec | undefined> = [];
  viewSeq = -1;
  /** sim_time of the last delta applied (the tick, for a ticks-timebase world). */
  tick = -1;

  /** Replaces the view with a snapshot ({entities: {id: record}}). */
  reset(view: JsonValue, viewSeq: number): ViewError | undefined {
    this.entities.clear();
    this.byIndex = [];
    this.viewSeq = viewSeq;
    if (!isObj(view)) return 'not-a-view';
    const ents = view['entities'];
    if (ents === undefined) return undefined;
    if (!isObj(ents)) return 'not-a-view';
    for (const [id, rec] of Object.entries(ents)) {
      if (!isObj(rec)) return 'not-a-view';
      this.put(id, indexOf(id), { ...rec });
    }
    return undefined;
  }

  /**
   * Applies one delta strictly. On an error the view is left as it was before the delta's first bad op (the
   * caller counts the error and resynchronises); ops are checked before any is applied.
   */
  apply(fromSeq: number, viewSeq: number, ops: readonly WireOp[], simTime: number): ViewError | undefined {
    if (fromSeq !== this.viewSeq) return 'gap';
    for (const op of ops) {
      const err = this.applyOp(op);
      if (err) return err;
    }
    this.viewSeq = viewSeq;
    this.tick = simTime;
    return undefined;
  }

  /** The delta being visited: its view_seq, and its first error (applying stops there). */
  private visiting = false;
  private visitSeq = -1;
  private visitError: ViewError | undefined;

  delta(fromSeq: number, viewSeq: number): void {
    this.visiting = true;
    this.visitSeq = viewSeq;
    this.visitError = fromSeq !== this.viewSeq ? 'gap' : undefined;
  }

  op(code: number, pathId: number, path: string, value: JsonValue | undefined): void {
    if (this.visitError === undefined) this.visitError = this.applyCode(code, parseById(pathId, path), value);
  }

  /** Ends the delta whose ops were visited, like apply() ends one: its error, or undefined and the view advanced. */
  endDelta(simTime: number): ViewError | undefined {
    this.visiting = false;
    const err = this.visitError;
    if (err !== undefined) return err;
    this.viewSeq = this.visitSeq;
    this.tick = simTime;
    return undefined;
  }

  /** After a frame that threw while decoding: true when its ops were being applied (the view is then out of step). */
  abandonDelta(): boolean {
    const was = this.visiting;
    this.visiting = false;
    return was;
  }

  private put(id: string, index: number, rec: EntityRec | undefined): void {
    if (rec === undefined) this.entities.delete(id);
    else this.entities.set(id, rec);
    if (index >= 0) {
      const a = this.byIndex;
      while (a.length < index) a.push(undefined);
      a[index] = rec;
    }
  }

  private applyOp(op: WireOp): ViewError | undefined {
    return this.applyCode(OpCode[op.op], parsePath(op.path), 'value' in op ? op.value : undefined);
  }

  private applyCode(code: number, parsed: EntityPath | undefined, value: JsonValue | undefined): ViewError | undefined {
    if (parsed === undefined) return 'bad-path';
    const index = parsed.index;
    const field = parsed.field;
    const cur = index >= 0 ? this.byIndex[index] : this.entities.get(parsed.id);
    if (field === undefined) {
      if (code === OpCode.add) {
        if (cur !== undefined || !isObj(value)) return 'bad-op';
        this.put(parsed.id, index, { ...value });
      } else if (code === OpCode.replace) {
        if (cur === undefined || !isObj(value)) return 'bad-op';
        this.put(parsed.id, index, { ...value });
      } else if (code === OpCode.remove) {
        if (cur === undefined) return 'bad-op';
        this.put(parsed.id, index, undefined);
      } else return 'bad-op';
      return undefined;
    }
    if (cur === undefined) return 'bad-op';
    if (code === OpCode.add) {
      if (Object.hasOwn(cur, field)) return 'bad-op';
      cur[field] = value as JsonValue;
    } else if (code === OpCode.replace) {
      if (!Object.hasOwn(cur, field)) return 'bad-op';
      cur[field] = value as JsonValue;
    } else if (code === OpCode.remove) {
      if (!Object.hasOwn(cur, field)) return 'bad-op';
      delete cur[field];
    } else return 'bad-op';
    return undefined;
  }

  /** A deep copy of the entities (for a sample compared later). */
  copy(): Map<string, EntityRec> {
    const m = new Map<string, EntityRec>();
    for (const [id, r] of this.entities) m.set(id, { ...r });
    return m;
  }
}

/**
 * The entities a view holds that the distance rule forbids: those farther than `radius` from `selfId`'s entity
 * (and `selfId` itself when it is missing). Empty when the view is sound.
 */
export function outsideRadius(entities: ReadonlyMap<string, EntityRec>, selfId: string, radius: number): string[] {
  const self = entities.get(selfId);
  if (!self) return [selfId];
  const ox = self['x'];
  const oy = self['y'];
  if (typeof ox !== 'number' || typeof oy !== 'number') return [selfId];
  const r2 = radius * radius;
  const out: string[] = [];
  for (const [id, r] of entities) {
    const x = r['x'];
    const y = r['y'];
    if (typeof x !== 'number' || typeof y !== 'number') continue;
    const dx = ox - x;
    const dy = oy - y;
    if (dx * dx + dy * dy > r2) out.push(id);
  }
  return out;
}

/**
 * The entities within `radius` of `selfId` that `entities` lacks, judged from positions known elsewhere (`known`:
 * id -> record, e.g. the server's truth or other agents' views of the same tick).
 */
export function missingWithinRadius(entities: ReadonlyMap<string, EntityRec>, known: ReadonlyMap<string, EntityRec>, selfId: string, radius: number): string[] {
  const self = known.get(selfId) ?? entities.get(selfId);
  const ox = self?.['x'];
  const oy = self?.['y'];
  if (typeof ox !== 'number' || typeof oy !== 'number') return [];
  const r2 = radius * radius;
  const out: string[] = [];
  for (const [id, r] of known) {
    if (entities.has(id)) continue;
    const x = r['x'];
    const y = r['y'];
    if (typeof x !== 'number' || typeof y !== 'number') continue;
    const dx = ox - x;
    const dy = oy - y;
    if (dx * dx + dy * dy <= r2) out.push(id);
  }
  return out;
}

export interface ViewComparison {
  readonly equal: boolean;
  /** In the truth, not in the client's view. */
  readonly missing: string[];
  /** In the client's view, not in the truth. */
  readonly extra: string[];
  /** In both with different values. */
  readonly differing: string[];
}

/** Compares a client's entities with the server's view ({entities: {...}}), field by field. */
export function compareViews(client: ReadonlyMap<string, EntityRec>, truth: JsonValue): ViewComparison {
  const t = isObj(truth) && isObj(truth['entities']) ? truth['entities'] : {};
  const missing: string[] = [];
  const extra: string[] = [];
  const differing: string[] = [];
  for (const [id, rec] of Object.entries(t)) {
    const c = client.get(id);
    if (!c) missing.push(id);
    else if (!sameRecord(c, rec)) differing.push(id);
  }
  for (const id of client.keys()) if (!(id in t)) extra.push(id);
  return { equal: missing.length === 0 && extra.length === 0 && differing.length === 0, missing, extra, differing };
}

function sameRecord(a: EntityRec, b: JsonValue): boolean {
  if (!isObj(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!sameValue(a[k], b[k])) return false;
  return true;
}

function sameValue(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  const ao = a as { [k: string]: JsonValue };
  const bo = b as { [k: string]: JsonValue };
  const ka = Object.keys(ao);
  return ka.length === Object.keys(bo).length && ka.every((k) => sameValue(ao[k], bo[k]));
}
