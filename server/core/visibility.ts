/**
 * Evaluates an observation policy: whether an observer sees an entity, which observers might see a changed entity
 * (spatial grid + relationship reverse index), and which entities an observer might see. Candidate sets are
 * supersets; `visible` is the exact rule. See ObservationPolicy for how policies combine.
 */
import { SpatialGrid } from './spatial-grid.js';
import type { WorldStore } from './state.js';
import type { EntityRecord, JsonValue } from './types.js';
import type { ObservationPolicy } from './world.js';

const num = (v: JsonValue | undefined): v is number => typeof v === 'number';

export class Visibility {
  /** Positioned entities. */
  readonly entityGrid: SpatialGrid | undefined;
  /** Positioned observers (agents whose entity has a position). */
  readonly observerGrid: SpatialGrid | undefined;
  private readonly r2: number;
  private readonly radius: number;
  /** Observers with no base policy see everything the predicates allow. */
  readonly everything: boolean;
  readonly hasFields: boolean;
  private readonly includeSelf: boolean;
  /** observer id -> entity ids reachable through relationships within depth. */
  private readonly related = new Map<string, Set<string>>();
  /** entity id -> observers that reach it through relationships. */
  private readonly relatedBy = new Map<string, Set<string>>();

  constructor(
    readonly policy: ObservationPolicy,
    private readonly store: WorldStore,
    private readonly observers: ReadonlySet<string>,
  ) {
    const d = policy.distance;
    this.radius = d?.radius ?? 0;
    this.r2 = this.radius * this.radius;
    this.entityGrid = d ? new SpatialGrid(d.cellSize ?? d.radius) : undefined;
    this.observerGrid = d ? new SpatialGrid(d.cellSize ?? d.radius) : undefined;
    this.everything = !d && !policy.relationships;
    this.hasFields = policy.fields !== undefined;
    this.includeSelf = policy.includeSelf ?? true;
    if (this.entityGrid) for (const [id, rec] of store.entities) this.place(id, rec);
  }

  /** Keeps the grids in step with an entity's position (call after every change). */
  place(id: string, rec: EntityRecord | undefined): void {
    if (!this.entityGrid || !this.observerGrid) return;
    const x = rec?.['x'];
    const y = rec?.['y'];
    if (num(x) && num(y)) {
      this.entityGrid.set(id, x, y);
      if (this.observers.has(id)) this.observerGrid.set(id, x, y);
    } else {
      this.entityGrid.delete(id);
      this.observerGrid.delete(id);
    }
  }

  /** The exact rule: does observer `obs` see entity `id` (current record `rec`)? */
  visible(obs: string, id: string, rec: EntityRecord | undefined): boolean {
    if (rec === undefined) return false;
    if (id === obs) return this.includeSelf;
    const self = this.store.get(obs);
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
      for (const p of preds) if (!p(o, t)) return false;
    }
    return true;
  }

  /** The visible projection of a record (the record itself when no field policy applies). */
  project(obs: string, id: string, rec: EntityRecord): EntityRecord {
    const f = this.policy.fields;
    if (!f || id === obs) return rec;
    const names = f({ id: obs, record: this.store.get(obs) }, { id, record: rec });
    if (names === undefined) return rec;
    const out: Record<string, JsonValue> = {};
    for (const n of names) {
      const v = rec[n];
      if (v !== undefined) out[n] = v;
    }
    return Object.freeze(out);
  }

  /** Observers that might see a change of entity `id` that was at `before` and is now at `after`. */
  forEachObserverOf(id: string, before: EntityRecord | undefined, after: EntityRecord | undefined, fn: (obs: string) => void): void {
    if (this.everything) {
      for (const o of this.observers) fn(o);
      return;
    }
    if (this.observerGrid) {
      // One query over the box covering both positions: a move rarely leaves its neighbourhood.
      const bx = before?.['x'];
      const by = before?.['y'];
      const ax = after?.['x'];
      const ay = after?.['y'];
      const hasB = num(bx) && num(by);
      const hasA = num(ax) && num(ay);
      if (hasB && hasA && Math.abs(bx - ax) <= this.radius && Math.abs(by - ay) <= this.radius) {
        this.observerGrid.forEachInBox(Math.min(bx, ax) - this.radius, Math.min(by, ay) - this.radius, Math.max(bx, ax) + this.radius, Math.max(by, ay) + this.radius, fn);
      } else {
        if (hasB) this.observerGrid.forEachNear(bx, by, this.radius, fn);
        if (hasA) this.observerGrid.forEachNear(ax, ay, this.radius, fn);
      }
    }
    const rel = this.relatedBy.get(id);
    if (rel) for (const o of rel) fn(o);
    if (this.observers.has(id)) fn(id);
  }

  /** Entities an observer might see (a superset; callers apply `visible`). */
  forEachCandidateFor(obs: string, fn: (id: string) => void): void {
    if (this.everything) {
      for (const id of this.store.entities.keys()) fn(id);
      return;
    }
    const self = this.store.get(obs);
    if (self) fn(obs);
    const x = self?.['x'];
    const y = self?.['y'];
    if (this.entityGrid && num(x) && num(y)) this.entityGrid.forEachNear(x, y, this.radius, fn);
    const rel = this.related.get(obs);
    if (rel) for (const id of rel) fn(id);
  }

  /** Recomputes relationship reach for every observer (after a relationship change or a new observer). */
  recomputeRelations(): void {
    const depth = this.policy.relationships?.depth;
    if (depth === undefined) return;
    this.related.clear();
    this.relatedBy.clear();
    for (const obs of this.observers) {
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
