/**
 * Evaluates an observation policy: whether an observer sees an entity, which observers might see a changed entity
 * (spatial grid + relationship reverse index), and which entities an observer might see. Candidate sets are
 * supersets; `visible` is the exact rule. See ObservationPolicy for how policies combine.
 */
import { SpatialGrid, type GridCell, type GridItem } from './spatial-grid.js';
import type { WorldStore } from './state.js';
import type { EntityRecord, JsonValue } from './types.js';
import type { ObservationPolicy, ObservedEntity } from './world.js';

const num = (v: JsonValue | undefined): v is number => typeof v === 'number';

/**
 * A world's predicate, where one that throws (`t.record.team.length` on a record without a team) hides the target: it
 * runs after the effect is applied and logged, and the throw would leave the quantum half done (no deltas, its
 * submitters never answered) and fail every later one. Failing closed depends on the records alone, so a replay agrees.
 */
function passes(p: (o: ObservedEntity, t: ObservedEntity) => boolean, o: ObservedEntity, t: ObservedEntity): boolean {
  try {
    return p(o, t);
  } catch {
    return false;
  }
}

/** observersOf flags: the observer sees the entity at its previous / new record (pure distance policies only). */
export const NEAR_BEFORE = 1;
export const NEAR_AFTER = 2;
export const NEAR_UNKNOWN = 4;

/** An observing agent as the grids know it (the observation engine's observer objects implement this). */
export interface ObserverItem extends GridItem {
  readonly id: string;
  /** Its entity's position while it has one (kept by place()). */
  x: number;
  y: number;
  /** Stamp of the last candidate query that returned this observer (dedupes overlapping queries). */
  visit: number;
  /** Its entity's grid entry, the latest place() made or kept (check `gone` before trusting its record). */
  entityPos: EntityPos | undefined;
}

/**
 * A positioned entity in the entity grid, with its current record (kept by place()). An entity that loses its
 * position keeps its object until releaseGone() (the end of the quantum), so views can still find it to remove it.
 */
export class EntityPos implements GridItem {
  gridCell: GridCell<GridItem> | undefined = undefined;
  gridSlot = 0;
  rec: EntityRecord | undefined = undefined;
  /** Lost its position in this quantum (out of the grid; released at the end of the quantum unless it regains one). */
  gone = false;
  /** Scratch for the observation engine: this quantum's change entry and the quantum it belongs to. */
  change: unknown = undefined;
  changeQuantum = -1;
  /** For the observation engine: the frozen list [id] its cause rings share (see Observation.single). */
  single: readonly string[] | undefined = undefined;
  /** For the observation engine: the entity's JSON Pointer paths, kept here to skip a lookup by id per change. */
  paths: unknown = undefined;
  /**
   * The observer whose own entity this is (kept by place() and attach()), so a change reaches it without a lookup by
   * id: in a large world each lookup in a map of every entity or observer is a cache miss.
   */
  observer: ObserverItem | undefined = undefined;
  constructor(
    readonly id: string,
    /**
     * Its index among the grid entries alive (Visibility.byIdx), small and dense: what fast-mode views list and what
     * the observation engine's per-entity arrays are indexed by. Reused once the entry is released.
     */
    readonly idx: number,
  ) {}

  get gridId(): number {
    return this.idx;
  }
}

export class Visibility<O extends ObserverItem> {
  /** Positioned entities. */
  private readonly entityGrid: SpatialGrid<EntityPos> | undefined;
  private readonly entityPos = new Map<string, EntityPos>();
  /** The grid entries by index (EntityPos.idx); undefined at a free index. */
  readonly byIdx: Array<EntityPos | undefined> = [];
  /** Each entry's record (EntityPos.rec) by index, for loops over indices that read no entry. */
  readonly recByIdx: Array<EntityRecord | undefined> = [];
  private readonly freeIdx: number[] = [];
  private readonly goneList: EntityPos[] = [];
  /** Positioned observers (agents whose entity has a position). */
  private readonly observerGrid: SpatialGrid<O> | undefined;
  private readonly r2: number;
  private readonly radius: number;
  /** Observers with no base policy see everything the predicates allow. */
  readonly everything: boolean;
  /** Distance alone decides (no relationships, predicates or field projections). */
  readonly pureDistance: boolean;
  readonly hasFields: boolean;
  readonly includeSelf: boolean;
  /** observer id -> entity ids reachable through relationships within depth. */
  private readonly related = new Map<string, Set<string>>();
  /** entity id -> observers that reach it through relationships. */
  private readonly relatedBy = new Map<string, Set<string>>();
  private visitStamp = 0;
  private readonly cellBuf: Array<GridCell<O>> = [];
  private readonly entityCellBuf: Array<GridCell<EntityPos>> = [];
  private readonly nearScratch: number[] = [];

  constructor(
    readonly policy: ObservationPolicy,
    private readonly store: WorldStore,
    private readonly observers: ReadonlyMap<string, O>,
  ) {
    const d = policy.distance;
    this.radius = d?.radius ?? 0;
    this.r2 = this.radius * this.radius;
    this.entityGrid = d ? new SpatialGrid<EntityPos>(d.cellSize ?? d.radius) : undefined;
    this.observerGrid = d ? new SpatialGrid<O>(d.cellSize ?? d.radius) : undefined;
    this.everything = !d && !policy.relationships;
    this.hasFields = policy.fields !== undefined;
    this.includeSelf = policy.includeSelf ?? true;
    this.pureDistance = d !== undefined && !policy.relationships && !(policy.predicates && policy.predicates.length > 0) && !this.hasFields;
    if (this.entityGrid) for (const [id, rec] of store.entities) this.place(id, rec);
  }

  /**
   * Keeps the grids in step with an entity's position (call after every change). Returns its grid entry, as
   * positioned() would: undefined for an entity never positioned (or without a distance policy).
   */
  place(id: string, rec: EntityRecord | undefined): EntityPos | undefined {
    const eg = this.entityGrid;
    const og = this.observerGrid;
    if (!eg || !og) return undefined;
    const x = rec?.['x'];
    const y = rec?.['y'];
    let p = this.entityPos.get(id);
    // An entry knows its entity's observer (attach() keeps that up to date): no lookup in the observers' map.
    const o = p !== undefined ? (p.observer as O | undefined) : this.observers.get(id);
    if (num(x) && num(y)) {
      if (p === undefined) {
        p = new EntityPos(id, this.freeIdx.length > 0 ? (this.freeIdx.pop() as number) : this.byIdx.length);
        p.observer = o;
        this.entityPos.set(id, p);
        this.byIdx[p.idx] = p;
      }
      p.rec = rec;
      this.recByIdx[p.idx] = rec;
      p.gone = false;
      eg.set(p, x, y);
      if (o !== undefined) {
        o.x = x;
        o.y = y;
        o.entityPos = p;
        og.set(o, x, y);
      }
    } else {
      if (p !== undefined && !p.gone) {
        eg.delete(p);
        p.rec = undefined;
        this.recByIdx[p.idx] = undefined;
        p.gone = true;
        this.goneList.push(p);
      }
      if (o !== undefined) og.delete(o);
    }
    return p;
  }

  /** Positions a newly registered observer's entity and links its grid entry to it (call once the observer is in the map). */
  attach(o: O, rec: EntityRecord | undefined): EntityPos | undefined {
    const p = this.entityPos.get(o.id);
    if (p !== undefined) p.observer = o;
    return this.place(o.id, rec);
  }

  /** The exact rule: does observer `obs` see entity `id` (current record `rec`)? */
  visible(obs: string, id: string, rec: EntityRecord | undefined): boolean {
    return this.visibleFrom(obs, this.store.get(obs), id, rec);
  }

  /** `visible` with the observer's own record given (the record it has now). */
  visibleFrom(obs: string, self: EntityRecord | undefined, id: string, rec: EntityRecord | undefined): boolean {
    if (rec === undefined) return false;
    if (id === obs) return this.includeSelf;
    let base = this.everything;
    if (!base && this.entityGrid && self) {
      const ox = self['x'];
      const oy = self['y'];
      const tx = rec['x'];
      const ty = rec['y'];
      if (num(ox) && num(oy) && num(tx) && num(ty)) {
        const dx = ox - tx;
        const dy = oy - ty;
        base = dx * dx + dy * dy <= this.r2;
      }
    }
    if (!base && this.policy.relationships) base = this.related.get(obs)?.has(id) ?? false;
    if (!base) return false;
    const preds = this.policy.predicates;
    if (preds && preds.length > 0) {
      const o = { id: obs, record: self };
      const t = { id, record: rec };
      for (const p of preds) if (!passes(p, o, t)) return false;
    }
    return true;
  }

  /** The visible projection of a record (the record itself when no field policy applies). */
  project(obs: string, id: string, rec: EntityRecord): EntityRecord {
    return this.projectFrom(obs, this.store.get(obs), id, rec);
  }

  /** `project` with the observer's own record given. */
  projectFrom(obs: string, self: EntityRecord | undefined, id: string, rec: EntityRecord): EntityRecord {
    const f = this.policy.fields;
    if (!f || id === obs) return rec;
    let names: readonly string[] | undefined;
    try {
      names = f({ id: obs, record: self }, { id, record: rec });
    } catch {
      // As a predicate that throws (passes): nothing of the target is shown.
      return Object.freeze({});
    }
    if (names === undefined) return rec;
    const out: Record<string, JsonValue> = {};
    // Anything but a list shows nothing, as a throw does; a name the record lacks is skipped, also one its prototype
    // has ('toString', 'constructor': a function in a view no client could decode).
    if (!Array.isArray(names)) return Object.freeze(out);
    for (const n of names) {
      if (typeof n === 'string' && Object.hasOwn(rec, n)) out[n] = rec[n] as JsonValue;
    }
    return Object.freeze(out);
  }

  /**
   * Appends to `out` (once each) the observers other than `id` itself whose view of entity `id` may change when
   * it goes from `before` to `after`: those within the radius of either position, and those related to it. The
   * distance filter is exact for the distance part of the policy, so observers it leaves out see the entity
   * neither before nor after. With a pure distance policy, `near` gets for each observer whether it sees the
   * entity before (NEAR_BEFORE) and after (NEAR_AFTER), which is then the whole rule; otherwise NEAR_UNKNOWN.
   * `selfObserver`, when the caller knows it, is the observer whose own entity `id` is (undefined: none), which
   * spares a lookup by id.
   */
  observersOf(id: string, before: EntityRecord | undefined, after: EntityRecord | undefined, out: O[], near: number[], selfObserver: O | undefined | null = null): number {
    const stamp = ++this.visitStamp;
    let n = 0;
    if (this.everything) {
      for (const o of this.observers.values()) {
        if (o.id === id) continue;
        out[n] = o;
        near[n++] = NEAR_UNKNOWN;
      }
      return n;
    }
    const exact = this.pureDistance;
    const og = this.observerGrid;
    if (og) {
      const bx = before?.['x'];
      const by = before?.['y'];
      const ax = after?.['x'];
      const ay = after?.['y'];
      const hasB = num(bx) && num(by);
      const hasA = num(ax) && num(ay);
      const r = this.radius;
      const r2 = this.r2;
      const cells = this.cellBuf;
      let nc = 0;
      if (hasB && hasA && Math.abs(bx - ax) <= r && Math.abs(by - ay) <= r) {
        // One query over the box covering both positions: a move rarely leaves its neighbourhood.
        nc = og.cellsInBox(Math.min(bx, ax) - r, Math.min(by, ay) - r, Math.max(bx, ax) + r, Math.max(by, ay) + r, cells, 0);
      } else {
        if (hasB) nc = og.cellsInBox(bx - r, by - r, bx + r, by + r, cells, nc);
        if (hasA) nc = og.cellsInBox(ax - r, ay - r, ax + r, ay + r, cells, nc);
      }
      const self = selfObserver === null ? this.observers.get(id) : selfObserver;
      for (let c = 0; c < nc; c++) {
        const cell = cells[c] as GridCell<O>;
        const xy = cell.xy;
        for (let j = 0; j < xy.length; j += 2) {
          const x = xy[j] as number;
          const y = xy[j + 1] as number;
          let f = 0;
          if (hasB) {
            const dx = x - bx;
            const dy = y - by;
            if (dx * dx + dy * dy <= r2) f = NEAR_BEFORE;
          }
          if (hasA) {
            const dx = x - ax;
            const dy = y - ay;
            if (dx * dx + dy * dy <= r2) f |= NEAR_AFTER;
          }
          if (f === 0) continue;
          const o = cell.items[j >> 1] as O;
          if (o.visit === stamp || o === self) continue;
          o.visit = stamp;
          out[n] = o;
          near[n++] = exact ? f : NEAR_UNKNOWN;
        }
      }
    }
    const rel = this.relatedBy.get(id);
    if (rel) {
      for (const oid of rel) {
        const o = this.observers.get(oid);
        if (o && o.visit !== stamp && oid !== id) {
          o.visit = stamp;
          out[n] = o;
          near[n++] = NEAR_UNKNOWN;
        }
      }
    }
    return n;
  }

  /**
   * Calls fn for the entities observer `obs` might see: itself, those within its radius, those related to it (all
   * entities when the policy has no base rule). A superset: callers apply `visible`.
   */
  forEachCandidateFor(obs: string, fn: (id: string) => void): void {
    if (this.everything) {
      for (const id of this.store.entities.keys()) fn(id);
      return;
    }
    const self = this.store.get(obs);
    if (self) fn(obs);
    const x = self?.['x'];
    const y = self?.['y'];
    if (this.entityGrid && num(x) && num(y)) {
      const r = this.radius;
      const r2 = this.r2;
      // Its own buffer: fn may call back into this object.
      const cells: Array<GridCell<EntityPos>> = [];
      const nc = this.entityGrid.cellsInBox(x - r, y - r, x + r, y + r, cells, 0);
      for (let c = 0; c < nc; c++) {
        const cell = cells[c] as GridCell<EntityPos>;
        const xy = cell.xy;
        for (let j = 0; j < xy.length; j += 2) {
          const dx = (xy[j] as number) - x;
          const dy = (xy[j + 1] as number) - y;
          if (dx * dx + dy * dy <= r2) fn((cell.items[j >> 1] as EntityPos).id);
        }
      }
    }
    const rel = this.related.get(obs);
    if (rel) for (const id of rel) fn(id);
  }

  /** Writes to out[0...] the ids of the positioned entities within the radius of (x, y) and returns their count. */
  entitiesNear(x: number, y: number, out: string[]): number {
    const near = this.nearScratch;
    const n = this.entityIdxNear(x, y, near);
    for (let i = 0; i < n; i++) out[i] = (this.byIdx[near[i] as number] as EntityPos).id;
    return n;
  }

  /**
   * Writes to out[0...] the indices (EntityPos.idx) of the positioned entities within the radius of (x, y) and returns
   * their count, reading no entry: only the cells' coordinates and ids.
   */
  entityIdxNear(x: number, y: number, out: number[]): number {
    const eg = this.entityGrid;
    if (!eg) return 0;
    const r = this.radius;
    const r2 = this.r2;
    const cells = this.entityCellBuf;
    const nc = eg.cellsInBox(x - r, y - r, x + r, y + r, cells, 0);
    let n = 0;
    for (let c = 0; c < nc; c++) {
      const cell = cells[c] as GridCell<EntityPos>;
      const xy = cell.xy;
      for (let j = 0; j < xy.length; j += 2) {
        const dx = (xy[j] as number) - x;
        const dy = (xy[j + 1] as number) - y;
        if (dx * dx + dy * dy <= r2) out[n++] = cell.ids[j >> 1] as number;
      }
    }
    return n;
  }

  /** The grid entry of an entity positioned now or earlier in this quantum (`gone` tells which). */
  positioned(id: string): EntityPos | undefined {
    return this.entityPos.get(id);
  }

  /** At the end of a quantum: forgets the entities that lost their position in it. */
  releaseGone(): void {
    for (const p of this.goneList) {
      if (p.gone && this.entityPos.get(p.id) === p) {
        this.entityPos.delete(p.id);
        this.byIdx[p.idx] = undefined;
        this.freeIdx.push(p.idx);
      }
    }
    this.goneList.length = 0;
  }

  /** Under a distance policy: whether a positioned observer is within the radius of a record's position. */
  inRadius(o: ObserverItem, rec: EntityRecord): boolean {
    if (o.gridCell === undefined) return false;
    const tx = rec['x'];
    const ty = rec['y'];
    if (!num(tx) || !num(ty)) return false;
    const dx = o.x - tx;
    const dy = o.y - ty;
    return dx * dx + dy * dy <= this.r2;
  }

  /** Recomputes relationship reach for every observer (after a relationship change or a new observer). */
  recomputeRelations(): void {
    const depth = this.policy.relationships?.depth;
    if (depth === undefined) return;
    this.related.clear();
    this.relatedBy.clear();
    for (const obs of this.observers.keys()) {
      const reach = new Set<string>();
      let frontier = [obs];
      for (let d = 0; d < depth && frontier.length > 0; d++) {
        const next: string[] = [];
        for (const from of frontier) {
          for (const to of this.store.relatedTo(from)) {
            if (to === obs || reach.has(to)) continue;
            reach.add(to);
            next.push(to);
          }
        }
        frontier = next;
      }
      this.related.set(obs, reach);
      for (const id of reach) {
        let s = this.relatedBy.get(id);
        if (!s) this.relatedBy.set(id, (s = new Set()));
        s.add(obs);
      }
    }
  }
}
