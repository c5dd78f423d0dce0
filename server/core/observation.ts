/**
 * Per-agent views and their deltas. After each effect, only the observers that can see a changed entity are
 * touched (found through the grid / relationship index), their membership is updated and their view_seq advances.
 * When an agent's own entity changes, its view changes by that event in any case (it sees itself), so the rest of
 * its neighbourhood is re-evaluated once at the end of the quantum rather than after each of its moves; until then
 * whether it had an entity in view is computed from the entity's previous record, which keeps view_seq exact.
 * At the end of a quantum each touched observer gets one ObservationDelta built from the entities it touched,
 * never by diffing whole views. Ops for a change that several observers see identically are built once per
 * quantum and shared (objects and encoded text), so a transport can encode each change once.
 */
import { canonicalMemberHash } from './canonical.js';
import { memberHashBytes } from './canonical-bytes.js';
import { SetDigest, type MemberHash } from './set-digest.js';
import type { GridCell, GridItem } from './spatial-grid.js';
import type { ChangeSet, EntityChange, WorldStore } from './state.js';
import { Delta, DeltaParts, FRAGMENT_BLOCK, FragmentTable, shared, type Shared, type SharedFragment } from './delta-fragments.js';
import { exactOps, fieldOps, pathOf, pathsAt, pathsOf, sameRecord } from './entity-ops.js';
import type { EntityRecord, ObservationDelta, StaleCause, View } from './types.js';
import { NEAR_AFTER, NEAR_BEFORE, NEAR_UNKNOWN, Visibility, type EntityPos, type ObserverItem } from './visibility.js';
import type { ObservationPolicy } from './world.js';
import type { SnapshotCauses } from './snapshot.js';

const CAUSES = 64;

/** Why an observer's membership is re-evaluated (see reevaluate). */
const SETTLE = 0;
const RELATIONS = 1;
const SELF = 2;
type Reevaluation = typeof SETTLE | typeof RELATIONS | typeof SELF;
const NO_CHANGES: readonly EntityChange[] = [];
const UNCHANGED: unique symbol = Symbol('unchanged');

/** Called once per (observer, effect) the observer could see. */
export type VisibleEventHook = (agentId: string, cause: StaleCause, changed: readonly string[]) => void;

class Observer implements ObserverItem {
  x = 0;
  y = 0;
  readonly gridId = 0;
  gridCell: GridCell<GridItem> | undefined = undefined;
  gridSlot = 0;
  visit = 0;
  entityPos: EntityPos | undefined = undefined;
  readonly members = new Set<string>();
  /** The view as of the last delta: each visible entity's projected record and its member hash. */
  readonly view = new Map<string, ViewEntry>();
  /** The set digest of the view's members (its context_digest), kept up to date entry by entry. */
  readonly digest = new SetDigest();
  /** Entities whose view entry may have changed this quantum (repeats allowed: deltaFor skips unchanged ones). */
  readonly touched: string[] = [];
  /** Fast mode's touched list: the grid entries of the entities that touched it (repeats allowed). */
  readonly fTouched: EntityPos[] = [];
  touchedCount = 0;
  /** In touchedObservers (gets a delta at flush). */
  listed = false;
  /**
   * Fast mode's view (`view` stays empty): the entities other than itself, by grid entry index (fIdx[0 .. fLen),
   * EntityPos.idx, in no particular order); its own entity apart. Between quanta a view holds each of its entities'
   * current records (every change to one reaches it: it is hit, or it moved and is rebuilt), so the indices say it
   * all: during a flush, an entity in it holds its record from the start of the quantum.
   */
  fIdx: number[] = [];
  fLen = 0;
  selfRec: EntityRecord | undefined = undefined;
  selfHash: MemberHash | undefined = undefined;
  stamp = -1;
  /** Its own entity changed in this quantum: the rest of its membership is re-evaluated at the end of it. */
  selfDirty = false;
  fromSeq: number;
  /** The last CAUSES visible events, by view_seq modulo CAUSES (one shared object per effect). */
  readonly causes: Cause[] = new Array<Cause>(CAUSES).fill(NO_CAUSE);
  constructor(
    readonly id: string,
    public viewSeq: number,
  ) {
    this.fromSeq = viewSeq;
  }
}

/** A committed effect as the observers it hit remember it (one object per effect, shared by all of them). */
interface Cause {
  readonly global_seq: number;
  readonly kind: string;
  readonly changed: readonly string[];
  /**
   * Fast mode: the grid entry of the effect's one changed entity. The observers it hits find it in their rings at
   * flush, so onEffect writes only the ring of each (not also a list of touched entities: in a large world each
   * observer array written per hit is a cache miss).
   */
  readonly pos: EntityPos | undefined;
}
const NO_CAUSE: Cause = { global_seq: 0, kind: '', changed: [], pos: undefined };

/** spatialOrder's keys: cell * ORDER_SLOTS + list index, exact in a double (2^32 cells x 2^20 slots < 2^53). */
const ORDER_SLOTS = 2 ** 20;
const ORDER_CELLS = 2 ** 32;


/** Fast mode: up to this many touching entities are looked for in an observer's view by scanning it, not marking it. */
const SCAN_TOUCHED = 8;

/** One entity in an observer's view. */
interface ViewEntry {
  record: EntityRecord;
  /** canonicalMemberHash(id, record): what it adds to the view's digest. */
  hash: MemberHash;
  /** The flush that last found it visible (rebuilds find the entries to remove by it). */
  seen: number;
}


/** One entity changed in the current quantum: its record at the start, and the ops shared by the observers. */
interface QuantumChange {
  readonly before: EntityRecord | undefined;
  /** The entity's record now (undefined: despawned), or UNCHANGED for an entry made for an entity that did not change. */
  after: EntityRecord | undefined | typeof UNCHANGED;
  /** canonicalMemberHash of `after`, once asked for (shared by every observer that sees the whole record). */
  hash: MemberHash | undefined;
  add: Shared | undefined;
  remove: Shared | undefined;
  update: Shared | undefined;
}


export class ObservationEngine {
  private readonly observers = new Map<string, Observer>();
  readonly visibility: Visibility<Observer>;
  private stamp = 0;
  private readonly touchedObservers: Observer[] = [];
  /** Observers whose own entity changed in this quantum (membership re-evaluated at flush). */
  private readonly dirty: Observer[] = [];
  /** Entities changed in this quantum (first record wins) and their shared ops. */
  private readonly quantum = new Map<string, QuantumChange>();
  /** Grid entries given a change entry in this quantum: cleared at flush, so last quantum's changes can be collected. */
  private readonly changedPos: EntityPos[] = [];
  private changedCount = 0;
  private readonly hit: Observer[] = [];
  private hitCount = 0;
  private readonly candidates: Observer[] = [];
  private readonly near: number[] = [];
  private readonly nearIds: string[] = [];
  private readonly nearSet = new Set<string>();
  private readonly singles = new Map<string, readonly string[]>();
  /** onEffect's scratch: each changed entity's grid entry and own observer, by index in the change set. */
  private readonly entPos: Array<EntityPos | undefined> = [];
  private readonly entSelf: Array<Observer | undefined> = [];
  /**
   * Pure distance policy that includes the agent itself: membership is never kept during a quantum. The hits of each
   * effect come from the grid query alone, and at flush an observer that moved is rebuilt from the entities near
   * it, compared with its last view (one pass, no membership set); one that did not move checks the entities it
   * was touched by.
   */
  private readonly fast: boolean;
  /** Numbers quanta (and flushes): EntityPos.changeQuantum and ViewEntry.seen compare against it. */
  private quantumNo = 1;
  private readonly nearIdx: number[] = [];
  /**
   * Fast mode, by grid entry index (EntityPos.idx). eMark / eSlot: the view being compared holds the entity at slot
   * eSlot[i] when eMark[i] is the comparison's stamp; eSeen: the touched path took the entity already. eChange: the
   * entity's change entry in this quantum (EntityPos.change, kept beside it; cleared at flush); eChangedQ: the quantum
   * in which its record last changed. Member hashes as eight words each: hNow[8i ..] of record
   * hNowRec[i], hThen[8i ..] of record hThenRec[i] (the record a quantum started with, kept when the hash of a newer
   * one takes hNow), and hDelta[8i ..] = now - then for quantum hDeltaQ[i]: what a view holding the entity adds to its
   * digest when the entity changed.
   */
  private eMark: Float64Array = new Float64Array(0);
  private eSlot: Int32Array = new Int32Array(0);
  private eSeen: Float64Array = new Float64Array(0);
  private eChangedQ: Float64Array = new Float64Array(0);
  private eChange: Array<QuantumChange | undefined> = [];
  private hNow: Float64Array = new Float64Array(0);
  private hThen: Float64Array = new Float64Array(0);
  private hDelta: Float64Array = new Float64Array(0);
  private hDeltaQ: Float64Array = new Float64Array(0);
  /**
   * The entity's update fragment (updateOf) as pushed in quantum uQ[i]: its number in that flush's table (-1: no ops),
   * op count and size. A view that keeps a changed entity then pushes it from these arrays, without reading the
   * fragment object (and its ops array) once per (observer, entity) pair.
   */
  private uQ: Float64Array = new Float64Array(0);
  private uNum: Int32Array = new Int32Array(0);
  private uOps: Int32Array = new Int32Array(0);
  private uSize: Float64Array = new Float64Array(0);
  private readonly hNowRec: Array<EntityRecord | undefined> = [];
  private readonly hThenRec: Array<EntityRecord | undefined> = [];
  private readonly parts = new DeltaParts();
  /** Fast-mode rebuild scratch: the new view (swapped with the observer's), and the marks' stamp. */
  private markStamp = 0;
  private nIdx: number[] = [];
  /** Fast mode: each listed observer's spatial-order key, by its index in touchedObservers (see markFast). */
  private orderKeys = new Float64Array(0);
  /** The changes of the effect being processed. */
  private current: readonly EntityChange[] = NO_CHANGES;
  /** Where deltas' fragment numbers are stored (block[0 .. blockUsed) taken; see FRAGMENT_BLOCK). */
  private block = new Int32Array(0);
  private blockUsed = 0;
  onVisible: VisibleEventHook | undefined;

  constructor(
    policy: ObservationPolicy,
    private readonly store: WorldStore,
    private readonly maxPatchOps: number,
  ) {
    this.visibility = new Visibility(policy, store, this.observers);
    this.fast = this.visibility.pureDistance && this.visibility.includeSelf;
  }

  has(agentId: string): boolean {
    return this.observers.has(agentId);
  }

  ids(): IterableIterator<string> {
    return this.observers.keys();
  }

  viewSeq(agentId: string): number {
    return this.observers.get(agentId)?.viewSeq ?? 0;
  }

  /** Registers an observer and materialises its view (view_seq restored when resuming from a snapshot). */
  addObserver(agentId: string, viewSeq = 0): void {
    if (this.observers.has(agentId)) return;
    const o = new Observer(agentId, viewSeq);
    this.observers.set(agentId, o);
    this.visibility.attach(o, this.store.get(agentId));
    this.visibility.recomputeRelations();
    if (this.fast) {
      this.fastInit(o);
      return;
    }
    const self = this.store.get(agentId);
    this.visibility.forEachCandidateFor(agentId, (id) => {
      if (o.members.has(id)) return;
      const rec = this.store.get(id);
      if (rec !== undefined && this.visibility.visibleFrom(agentId, self, id, rec)) {
        o.members.add(id);
        const cur = this.visibility.project(agentId, id, rec);
        const h = canonicalMemberHash(id, cur);
        o.view.set(id, { record: cur, hash: h, seen: 0 });
        o.digest.add(h);
      }
    });
  }

  /**
   * Fast mode: materialises a new observer's view (no delta: it starts from this view). Only between quanta: a view
   * holds its entities as of the last flush, which mid-quantum would not be the state it is made from.
   */
  private fastInit(o: Observer): void {
    if (this.changedCount > 0) throw new Error(`observer ${o.id} added while a quantum's changes are not flushed (fast mode adds observers between quanta)`);
    const rec = this.store.get(o.id);
    if (rec !== undefined) {
      o.selfRec = rec;
      o.selfHash = canonicalMemberHash(o.id, rec);
      o.digest.add(o.selfHash);
    }
    if (o.gridCell === undefined) return;
    const vis = this.visibility;
    this.fitEntityArrays(vis.byIdx.length);
    const near: number[] = [];
    const m = vis.entityIdxNear(o.x, o.y, near);
    const self = (o.entityPos as EntityPos).idx;
    for (let j = 0; j < m; j++) {
      const e = near[j] as number;
      if (e === self) continue;
      o.fIdx[o.fLen++] = e;
      o.digest.addWords(this.hNow, this.nowHash(e));
    }
  }

  /** Processes one committed effect's changes. */
  onEffect(globalSeq: number, kind: string, changes: ChangeSet): void {
    this.stamp++;
    const vis = this.visibility;
    const ents = changes.entities;
    this.current = ents;
    // Each changed entity's grid entry and own observer, looked up once here for the passes below (in a large world
    // every map lookup by id is likely a cache miss).
    const entPos = this.entPos;
    const entSelf = this.entSelf;
    for (let i = 0; i < ents.length; i++) {
      const ch = ents[i] as EntityChange;
      const p = vis.place(ch.id, ch.after);
      entPos[i] = p;
      entSelf[i] = p !== undefined ? (p.observer as Observer | undefined) : this.observers.get(ch.id);
      if (this.fast && p !== undefined) {
        // Fast mode keeps a positioned entity's entry on its grid entry alone (no map of the quantum's changes to grow,
        // look up and clear): the map holds only entries made while an entity had no grid entry, taken over here.
        if (p.changeQuantum === this.quantumNo) {
          const q = p.change as QuantumChange;
          q.after = ch.after;
          q.hash = undefined;
        } else {
          let q = this.quantum.size > 0 ? this.quantum.get(ch.id) : undefined;
          if (q === undefined) q = { before: ch.before, after: ch.after, hash: undefined, add: undefined, remove: undefined, update: undefined };
          else {
            q.after = ch.after;
            q.hash = undefined;
          }
          this.setChange(p, q);
        }
        this.eChangedQ[p.idx] = this.quantumNo;
        continue;
      }
      let q = this.quantum.get(ch.id);
      if (q === undefined) this.quantum.set(ch.id, (q = { before: ch.before, after: ch.after, hash: undefined, add: undefined, remove: undefined, update: undefined }));
      else {
        q.after = ch.after;
        q.hash = undefined;
      }
    }
    if (changes.relationshipsChanged && vis.policy.relationships) {
      // Memberships must be exact before judging what the new relationships change.
      this.settle();
      vis.recomputeRelations();
      for (const o of this.observers.values()) this.reevaluate(o, RELATIONS);
    }
    const cands = this.candidates;
    const near = this.near;
    let from = 0;
    if (this.fast && ents.length > 1) {
      // Observers whose own entity this effect moves are rebuilt at flush: mark them first, so the effect's other
      // changes (a world system may move every entity in one effect) are not remembered for them one by one. Each
      // is hit (it sees its own entity). When that is every observer, no one else is left for the grid to find.
      for (let i = 0; i < ents.length; i++) {
        const self = entSelf[i];
        if (self === undefined) continue;
        if (!self.selfDirty) {
          self.selfDirty = true;
          self.touchedCount = 0;
        }
        this.markFast(self, undefined);
      }
      if (this.hitCount === this.observers.size) from = ents.length;
    }
    for (let i = from; i < ents.length; i++) {
      const ch = ents[i] as EntityChange;
      const nc = vis.observersOf(ch.id, ch.before, ch.after, cands, near, entSelf[i]);
      if (this.fast) {
        // Every observer the grid returns sees the entity before or after: a hit. Only one that has not moved in
        // this quantum needs to remember the entity (a moved one is rebuilt whole at flush), and only when the effect
        // changed several: the one entity of a single change is in the effect's cause, which the hit puts in the
        // observer's ring (Cause.pos). An entity with no grid entry was never positioned, so no view holds it and the
        // grid returned no observer for it.
        const p = entPos[i];
        const remember = ents.length > 1 ? p : undefined;
        for (let j = 0; j < nc; j++) this.markFast(cands[j] as Observer, remember);
        const self = entSelf[i];
        if (self) {
          this.markFast(self, p);
          if (!self.selfDirty) {
            self.selfDirty = true;
            self.touchedCount = 0;
          }
        }
        continue;
      }
      for (let j = 0; j < nc; j++) {
        const o = cands[j] as Observer;
        const f = near[j] as number;
        if (f === NEAR_UNKNOWN) this.consider(o, ch.id, ch.before, ch.after);
        else this.considerNear(o, ch.id, (f & NEAR_BEFORE) !== 0, (f & NEAR_AFTER) !== 0);
      }
      const self = entSelf[i];
      if (self) {
        this.consider(self, ch.id, ch.before, ch.after);
        if (!vis.includeSelf) this.reevaluate(self, SELF);
        else if (!self.selfDirty) {
          // It sees its own entity, so this event is one for it whatever else changes: judge the rest once, at flush.
          self.selfDirty = true;
          this.dirty.push(self);
        }
      }
    }
    this.current = NO_CHANGES;
    for (let i = 0; i < ents.length; i++) entSelf[i] = undefined;
    if (this.hitCount === 0) {
      for (let i = 0; i < ents.length; i++) entPos[i] = undefined;
      return;
    }
    let changed: readonly string[];
    let pos: EntityPos | undefined;
    if (ents.length === 1) {
      const p0 = entPos[0];
      const id = (ents[0] as EntityChange).id;
      changed = p0 !== undefined ? (p0.single ??= Object.freeze([id])) : this.single(id);
      if (this.fast) pos = p0;
    } else changed = ents.map((c) => c.id);
    for (let i = 0; i < ents.length; i++) entPos[i] = undefined;
    const hook = this.onVisible;
    const cause: Cause = { global_seq: globalSeq, kind, changed, pos };
    const hit = this.hit;
    const nh = this.hitCount;
    for (let i = 0; i < nh; i++) {
      const o = hit[i] as Observer;
      const vs = ++o.viewSeq;
      o.causes[vs % CAUSES] = cause;
      if (hook) hook(o.id, { view_seq: vs, global_seq: globalSeq, kind }, changed);
    }
    // A count, not length = 0: truncating would free the array's storage and regrow it for every effect.
    this.hitCount = 0;
  }

  /**
   * The list [id], one per entity: kept in up to 64 observers' cause rings, a fresh array per effect would outlive
   * young-generation GC and be copied and promoted (bounded: cleared past 1M ids).
   */
  private single(id: string): readonly string[] {
    let l = this.singles.get(id);
    if (l === undefined) {
      if (this.singles.size >= 1 << 20) this.singles.clear();
      l = Object.freeze([id]);
      this.singles.set(id, l);
    }
    return l;
  }

  /** Whether the effect being processed changed entity `id`. */
  private changedNow(id: string): boolean {
    const ents = this.current;
    for (let i = 0; i < ents.length; i++) if ((ents[i] as EntityChange).id === id) return true;
    return false;
  }

  /** The record entity `id` had before the effect being processed (`now` when the effect did not change it). */
  private recordBefore(id: string, now: EntityRecord | undefined): EntityRecord | undefined {
    const ents = this.current;
    for (let i = 0; i < ents.length; i++) {
      const ch = ents[i] as EntityChange;
      if (ch.id === id) return ch.before;
    }
    return now;
  }

  private mark(o: Observer, id: string, hit: boolean): void {
    const n = o.touchedCount;
    if (!o.listed) {
      o.listed = true;
      this.touchedObservers.push(o);
    }
    if (n === 0 || o.touched[n - 1] !== id) {
      o.touched[n] = id;
      o.touchedCount = n + 1;
    }
    if (hit && o.stamp !== this.stamp) {
      o.stamp = this.stamp;
      this.hit[this.hitCount++] = o;
    }
  }


  /**
   * A hit in fast mode: the observer gets a delta; one that has not moved remembers the entity `p` (given only for
   * effects that changed several entities: a single change is found through the observer's ring, see Cause.pos).
   */
  private markFast(o: Observer, p: EntityPos | undefined): void {
    if (!o.listed) {
      o.listed = true;
      const i = this.touchedObservers.length;
      this.touchedObservers.push(o);
      // Its key for flush's spatial order, taken now that the observer and its cell are in cache (at flush they are
      // not, in a large world); a later move of the observer only makes the order less local.
      if (i < ORDER_SLOTS) {
        if (i >= this.orderKeys.length) {
          const keys = new Float64Array(Math.max(1024, this.orderKeys.length * 2));
          keys.set(this.orderKeys);
          this.orderKeys = keys;
        }
        const cell = o.gridCell;
        // Cells beyond 2^32 (very far from the origin) share one slot: only the locality is lost, not correctness.
        this.orderKeys[i] = (cell === undefined ? ORDER_CELLS : Math.min(cell.key, ORDER_CELLS - 1)) * ORDER_SLOTS + i;
      }
    }
    if (!o.selfDirty && p !== undefined) {
      const n = o.touchedCount;
      if (n === 0 || o.fTouched[n - 1] !== p) {
        o.fTouched[n] = p;
        o.touchedCount = n + 1;
      }
    }
    if (o.stamp !== this.stamp) {
      o.stamp = this.stamp;
      this.hit[this.hitCount++] = o;
    }
  }

  /** `consider` under a pure distance policy, where the grid query already told whether it sees the entity before and after. */
  private considerNear(o: Observer, id: string, had: boolean, now: boolean): void {
    if (now !== had || o.selfDirty) {
      if (now) o.members.add(id);
      else o.members.delete(id);
    }
    this.mark(o, id, true);
  }

  private consider(o: Observer, id: string, before: EntityRecord | undefined, after: EntityRecord | undefined): void {
    const vis = this.visibility;
    const self = this.store.get(o.id);
    const now = vis.visibleFrom(o.id, self, id, after);
    // A dirty observer's membership is settled at flush; whether it saw the entity before this event is exact
    // from the entity's previous record (its own record did not change in this event, or it is hit anyway).
    const had = o.selfDirty ? vis.visibleFrom(o.id, self, id, before) : o.members.has(id);
    if (!now && !had) {
      // Not an event for it, but a dirty observer's stale membership must still reach its view at flush.
      if (o.selfDirty && o.members.delete(id)) this.mark(o, id, false);
      return;
    }
    if (now !== had || o.selfDirty) {
      if (now) o.members.add(id);
      else o.members.delete(id);
    }
    if (now && had && vis.hasFields && before !== undefined && after !== undefined && id !== o.id) {
      // Both visible: a change only to fields this observer cannot see is not an event for it.
      if (sameRecord(vis.projectFrom(o.id, this.recordBefore(o.id, self), id, before), vis.projectFrom(o.id, self, id, after))) return;
    }
    this.mark(o, id, true);
  }

  /**
   * Re-evaluates an observer's whole membership. SETTLE (a dirty observer at the end of the quantum): changes are
   * only recorded as touched, its view_seq already counts its own move. RELATIONS (relationships changed): only
   * entering and leaving count, as projections do not depend on relationships. SELF (its own entity changed and it
   * does not see itself): entering, leaving and projection changes count.
   */
  private reevaluate(o: Observer, why: Reevaluation): void {
    const vis = this.visibility;
    const self = this.store.get(o.id);
    const hit = why !== SETTLE;
    for (const id of o.members) {
      const rec = this.store.get(id);
      if (!vis.visibleFrom(o.id, self, id, rec)) {
        o.members.delete(id);
        this.mark(o, id, hit);
      } else if (why === SETTLE) {
        // A change it was not asked about while its membership was deferred (the entity was out of its range at
        // the time) still has to reach its view.
        const prev = o.view.get(id)?.record;
        if (vis.hasFields ? prev === undefined || !sameRecord(prev, vis.project(o.id, id, rec as EntityRecord)) : prev !== rec) this.mark(o, id, false);
      } else if (why === SELF && vis.hasFields && id !== o.id && !this.changedNow(id)) {
        // What it sees of an entity that did not change depends on its own record, which did.
        const r = rec as EntityRecord;
        if (!sameRecord(vis.projectFrom(o.id, this.recordBefore(o.id, self), id, r), vis.projectFrom(o.id, self, id, r))) this.mark(o, id, true);
      }
    }
    vis.forEachCandidateFor(o.id, (id) => {
      if (o.members.has(id)) return;
      if (vis.visibleFrom(o.id, self, id, this.store.get(id))) {
        o.members.add(id);
        this.mark(o, id, hit);
      }
    });
  }

  /** Re-evaluates the observers whose own entity changed in this quantum (their view_seq already counts it). */
  private settle(): void {
    const fast = this.visibility.pureDistance;
    for (const o of this.dirty) {
      o.selfDirty = false;
      // Under a pure distance policy the members are exactly the entities near its position in the grid.
      if (fast && o.gridCell !== undefined) this.settleNear(o);
      else this.reevaluate(o, SETTLE);
    }
    this.dirty.length = 0;
  }

  /** SETTLE for a positioned observer under a pure distance policy, from grid positions alone. */
  private settleNear(o: Observer): void {
    const near = this.nearIds;
    const set = this.nearSet;
    set.clear();
    const n = this.visibility.entitiesNear(o.x, o.y, near);
    for (let i = 0; i < n; i++) {
      const id = near[i] as string;
      set.add(id);
      if (!o.members.has(id)) {
        o.members.add(id);
        this.mark(o, id, false);
      } else {
        // A change it was not asked about while its membership was deferred still has to reach its view.
        const q = this.quantum.get(id);
        if (q !== undefined && q.after !== UNCHANGED && o.view.get(id)?.record !== q.after) this.mark(o, id, false);
      }
    }
    for (const id of o.members) {
      if (set.has(id)) continue;
      o.members.delete(id);
      this.mark(o, id, false);
    }
    set.clear();
  }

  /** Builds one delta per observer touched since the last flush and advances their views. */
  flush(globalSeq: number, simTime: number, wallTime: number): ObservationDelta[] {
    const out: ObservationDelta[] = [];
    if (this.fast) {
      const list = this.touchedObservers;
      const n = list.length;
      const order = this.spatialOrder(list);
      if (order === undefined) {
        for (let i = 0; i < n; i++) {
          const o = list[i] as Observer;
          o.listed = false;
          out.push(this.fastDelta(o, globalSeq, simTime, wallTime));
        }
      } else {
        // Built in spatial order (neighbours share most of their views, so the entities, records and shared ops one
        // observer reads are still in cache for the next), returned in the order the observers were reached.
        out.length = n;
        for (let k = 0; k < n; k++) {
          const i = (order[k] as number) % ORDER_SLOTS;
          const o = list[i] as Observer;
          o.listed = false;
          out[i] = this.fastDelta(o, globalSeq, simTime, wallTime);
        }
      }
    } else {
      this.settle();
      for (const o of this.touchedObservers) {
        o.listed = false;
        out.push(this.deltaFor(o, globalSeq, simTime, wallTime));
      }
    }
    this.touchedObservers.length = 0;
    this.quantum.clear();
    // Counted, not truncated: length = 0 would free the list's storage, to be regrown next quantum.
    const cp = this.changedPos;
    for (let i = 0; i < this.changedCount; i++) {
      const p = cp[i] as EntityPos;
      p.change = undefined;
      this.eChange[p.idx] = undefined;
    }
    this.changedCount = 0;
    this.quantumNo++;
    // The next flush numbers its fragments in a table of its own: this one is complete, and its deltas keep it.
    if (this.parts.table.frags.length > 0) this.parts.table = new FragmentTable();
    this.visibility.releaseGone();
    return out;
  }

  /**
   * The observers' indices in `list` in the order of their observer-grid cells (row by row, as of their first hit in
   * the quantum), decoded from the keys markFast wrote (cell * ORDER_SLOTS + index) sorted numerically; undefined
   * when the list is too short to matter or too long to encode. In a large world the observers hit in a quantum
   * are scattered in memory and in the plane; walking them cell by cell turns most reads of the entities they share
   * into cache hits.
   */
  private spatialOrder(list: readonly Observer[]): Float64Array | undefined {
    const n = list.length;
    if (n < 64 || n >= ORDER_SLOTS) return undefined;
    return this.orderKeys.subarray(0, n).sort();
  }

  /**
   * Fast mode's delta. An observer that moved is compared entity by entity with the entities near it now: its view is
   * marked by index (eMark), then the grid's indices near it are walked, a marked one kept (and updated if it
   * changed in this quantum), an unmarked one entered, and a marked one never reached left. One that did not move
   * checks only the entities that touched it. A view holds each entity as of the quantum's start, so an entity that
   * changed moves its digest by the entity's hDelta, the same for every view: the walk reads indices, the grid's
   * coordinates and per-index arrays, and an entry object only for an entity that entered or left, or whose shared
   * ops or hashes are made first.
   */
  private fastDelta(o: Observer, globalSeq: number, simTime: number, wallTime: number): ObservationDelta {
    const parts = this.parts.reset();
    const vis = this.visibility;
    const byIdx = vis.byIdx;
    const qn = this.quantumNo;
    const inView = (this.markStamp += 2);
    const kept = inView + 1;
    this.fitEntityArrays(byIdx.length);
    const eMark = this.eMark;
    const eChangedQ = this.eChangedQ;
    const digest = o.digest;
    const oIdx = o.fIdx;
    const oLen = o.fLen;
    // More hits than its ring holds (the entities of single changes are read from it): rebuilt like a moved one.
    if (o.selfDirty || o.viewSeq - o.fromSeq > CAUSES) {
      o.selfDirty = false;
      o.touchedCount = 0;
      for (let i = 0; i < oLen; i++) eMark[oIdx[i] as number] = inView;
      this.fastSelf(o, parts);
      const nIdx = this.nIdx;
      let k = 0;
      if (o.gridCell !== undefined) {
        // Positioned (it is in the observer grid), so its entry is current: skipped by index below.
        const self = (o.entityPos as EntityPos).idx;
        const near = this.nearIdx;
        const m = vis.entityIdxNear(o.x, o.y, near);
        for (let j = 0; j < m; j++) {
          const e = near[j] as number;
          if (e === self) continue;
          if (eMark[e] === inView) {
            if (eChangedQ[e] === qn) {
              digest.addWords(this.hDelta, this.deltaHash(e));
              this.pushUpdate(parts, e);
            }
          } else {
            // Entered its view.
            digest.addWords(this.hNow, this.nowHash(e));
            const p = byIdx[e] as EntityPos;
            const ch = this.changeOf(p);
            parts.push((ch.add ??= shared([{ op: 'add', path: pathsAt(p).path, value: p.rec as EntityRecord }])));
          }
          eMark[e] = kept;
          nIdx[k++] = e;
        }
      }
      for (let i = 0; i < oLen; i++) {
        const e = oIdx[i] as number;
        if (eMark[e] !== inView) continue;
        // Left its view: what it held was the record the quantum started with.
        if (eChangedQ[e] === qn) digest.removeWords(this.hThen, this.thenHash(e));
        else digest.removeWords(this.hNow, this.nowHash(e));
        const p = byIdx[e] as EntityPos;
        const ch = this.changeOf(p);
        parts.push((ch.remove ??= shared([{ op: 'remove', path: pathsAt(p).path }])));
      }
      // The new view becomes the observer's; its old list is the next rebuild's scratch.
      this.nIdx = oIdx;
      o.fIdx = nIdx;
      o.fLen = k;
    } else {
      // Only the entities that touched it can have changed in its view. Few of them: each is looked for in the view
      // by a scan of its contiguous list; many: the view is marked.
      const touched = o.fTouched;
      let n = o.touchedCount;
      // This quantum's hits by single changes: its ring's events after its last delta.
      const causes = o.causes;
      for (let vs = o.fromSeq + 1; vs <= o.viewSeq; vs++) {
        const cp = (causes[vs % CAUSES] as Cause).pos;
        if (cp !== undefined) touched[n++] = cp;
      }
      const scan = n <= SCAN_TOUCHED;
      const eSlot = this.eSlot;
      const eSeen = this.eSeen;
      if (!scan) {
        for (let i = 0; i < oLen; i++) {
          const e = oIdx[i] as number;
          eMark[e] = inView;
          eSlot[e] = i;
        }
      }
      for (let t = 0; t < n; t++) {
        const p = touched[t] as EntityPos;
        if (p.id === o.id) {
          this.fastSelf(o, parts);
          continue;
        }
        const e = p.idx;
        // The list repeats entities: each is taken once.
        if (eSeen[e] === inView) continue;
        eSeen[e] = inView;
        const fIdx = o.fIdx;
        let at = -1;
        if (scan) {
          for (let i = o.fLen - 1; i >= 0; i--) {
            if (fIdx[i] === e) {
              at = i;
              break;
            }
          }
        } else if (eMark[e] === inView) at = eSlot[e] as number;
        const rec = p.rec;
        if (!p.gone && rec !== undefined && vis.inRadius(o, rec)) {
          if (at >= 0) {
            if (eChangedQ[e] !== qn) continue;
            digest.addWords(this.hDelta, this.deltaHash(e));
            this.pushUpdate(parts, e);
          } else {
            digest.addWords(this.hNow, this.nowHash(e));
            eMark[e] = inView;
            eSlot[e] = o.fLen;
            fIdx[o.fLen++] = e;
            const ch = this.changeOf(p);
            parts.push((ch.add ??= shared([{ op: 'add', path: pathsAt(p).path, value: rec }])));
          }
        } else if (at >= 0) {
          if (eChangedQ[e] === qn) digest.removeWords(this.hThen, this.thenHash(e));
          else digest.removeWords(this.hNow, this.nowHash(e));
          // Swap-remove: the last entry takes its slot.
          const last = --o.fLen;
          if (at !== last) {
            const le = fIdx[last] as number;
            fIdx[at] = le;
            eSlot[le] = at;
          }
          eMark[e] = 0;
          const ch = this.changeOf(p);
          parts.push((ch.remove ??= shared([{ op: 'remove', path: pathsAt(p).path }])));
        }
      }
      o.touchedCount = 0;
    }
    return this.finish(o, parts, globalSeq, simTime, wallTime);
  }

  /** Fast mode: brings the observer's own entity in its view up to date. */
  private fastSelf(o: Observer, parts: DeltaParts): void {
    const id = o.id;
    // Its own grid entry, while it is current (not gone), has its record and this quantum's entry: no lookup by id.
    const p = o.entityPos;
    const current = p !== undefined && !p.gone;
    const rec = current ? p.rec : this.store.get(id);
    const prev = o.selfRec;
    if (prev === rec) return;
    const q = p !== undefined && p.changeQuantum === this.quantumNo ? (p.change as QuantumChange) : this.quantum.size > 0 ? this.quantum.get(id) : undefined;
    if (rec === undefined) {
      o.digest.remove(o.selfHash as MemberHash);
      o.selfRec = undefined;
      o.selfHash = undefined;
      const e = q ?? this.entry(id);
      parts.push((e.remove ??= shared([{ op: 'remove', path: pathOf(id) }])));
      return;
    }
    const h = this.hashOf(q, id, rec, rec);
    if (prev === undefined) {
      o.digest.add(h);
      const e = q ?? this.entry(id);
      parts.push((e.add ??= shared([{ op: 'add', path: pathOf(id), value: rec }])));
    } else {
      o.digest.replace(o.selfHash as MemberHash, h);
      this.update(id, prev, rec, q, parts, p);
    }
    o.selfRec = rec;
    o.selfHash = h;
  }

  /** The ops taking an entity in view from `prev` to `rec`: shared when the observer had its record from before the quantum. */
  private update(id: string, prev: EntityRecord, rec: EntityRecord, q: QuantumChange | undefined, parts: DeltaParts, p: EntityPos | undefined): void {
    if (q && prev === q.before) {
      if (!q.update) {
        q.update = shared(exactOps(p !== undefined ? pathsAt(p) : pathsOf(id), prev, rec));
      }
      parts.push(q.update);
    } else fieldOps(p !== undefined ? pathsAt(p) : pathsOf(id), prev, rec, (parts.own ??= []));
  }

  /**
   * The quantum entry of a positioned entity, created for one that did not change (entering or leaving a view). Fast
   * mode only, where a positioned entity's entry lives on its grid entry alone (onEffect took over any made for it
   * while it had none), so a new one needs no map.
   */
  private changeOf(p: EntityPos): QuantumChange {
    if (p.changeQuantum === this.quantumNo) return p.change as QuantumChange;
    const q: QuantumChange = { before: undefined, after: UNCHANGED, hash: undefined, add: undefined, remove: undefined, update: undefined };
    this.setChange(p, q);
    return q;
  }

  /** Gives a grid entry its change entry for this quantum (on the entry, and in eChange by its index). */
  private setChange(p: EntityPos, q: QuantumChange): void {
    p.change = q;
    p.changeQuantum = this.quantumNo;
    this.changedPos[this.changedCount++] = p;
    const i = p.idx;
    this.fitEntityArrays(i + 1);
    this.eChange[i] = q;
  }

  /** Grows the per-index arrays (eMark ... hDeltaQ) to cover grid entry indices [0, n). */
  private fitEntityArrays(n: number): void {
    if (n <= this.eMark.length) return;
    const size = Math.max(n, 2 * this.eMark.length, 256);
    this.eMark = grownF64(this.eMark, size, 0);
    this.eSeen = grownF64(this.eSeen, size, 0);
    this.eChangedQ = grownF64(this.eChangedQ, size, -1);
    this.hDeltaQ = grownF64(this.hDeltaQ, size, -1);
    this.uQ = grownF64(this.uQ, size, -1);
    this.uNum = grownI32(this.uNum, size);
    this.uOps = grownI32(this.uOps, size);
    this.uSize = grownF64(this.uSize, size, 0);
    this.eSlot = grownI32(this.eSlot, size);
    this.hNow = grownF64(this.hNow, size * 8, 0);
    this.hThen = grownF64(this.hThen, size * 8, 0);
    this.hDelta = grownF64(this.hDelta, size * 8, 0);
  }

  /** Copies a member hash into words[8i ..]. */
  private static putWords(words: Float64Array, i: number, h: MemberHash): void {
    const at = 8 * i;
    for (let w = 0; w < 8; w++) words[at + w] = h[w] as number;
  }

  /**
   * The member hash of grid entry i's current record, in hNow at the offset returned (made on first need; the hash
   * it replaces is kept in hThen, as it is likely the one a quantum's views still hold).
   */
  private nowHash(i: number): number {
    const rec = this.visibility.recByIdx[i] as EntityRecord;
    if (this.hNowRec[i] !== rec) {
      const old = this.hNowRec[i];
      if (old !== undefined && this.hThenRec[i] !== old) {
        copyWords(this.hNow, this.hThen, i);
        this.hThenRec[i] = old;
      }
      const p = this.visibility.byIdx[i] as EntityPos;
      // Shared with the entity's own observer (fastSelf), which reads it from the change entry.
      const q = p.changeQuantum === this.quantumNo ? (p.change as QuantumChange) : undefined;
      const h = this.hashOf(q, p.id, rec, rec);
      ObservationEngine.putWords(this.hNow, i, h);
      this.hNowRec[i] = rec;
    }
    return 8 * i;
  }

  /** The member hash of grid entry i's record at the start of this quantum (it changed in it), in hThen at the offset returned. */
  private thenHash(i: number): number {
    const before = (this.eChange[i] as QuantumChange).before as EntityRecord;
    if (this.hThenRec[i] !== before) {
      if (this.hNowRec[i] === before) copyWords(this.hNow, this.hThen, i);
      else ObservationEngine.putWords(this.hThen, i, canonicalMemberHash((this.visibility.byIdx[i] as EntityPos).id, before));
      this.hThenRec[i] = before;
    }
    return 8 * i;
  }

  /**
   * What a view holding grid entry i from the start of this quantum adds to its digest now that the entity changed
   * (its hash now minus its hash then), in hDelta at the offset returned: computed once per entity and quantum.
   */
  private deltaHash(i: number): number {
    const at = 8 * i;
    if (this.hDeltaQ[i] !== this.quantumNo) {
      // nowHash first: it may move the hash it replaces (likely the one the quantum started with) into hThen, where
      // thenHash then finds it.
      const now = this.nowHash(i);
      const then = this.thenHash(i);
      const d = this.hDelta;
      for (let w = 0; w < 8; w++) d[at + w] = (this.hNow[now + w] as number) - (this.hThen[then + w] as number);
      this.hDeltaQ[i] = this.quantumNo;
    }
    return at;
  }

  /** parts.push(updateOf(i)), from the per-index arrays after the quantum's first push of it. */
  private pushUpdate(parts: DeltaParts, i: number): void {
    const qn = this.quantumNo;
    if (this.uQ[i] === qn) {
      const num = this.uNum[i] as number;
      if (num >= 0) parts.pushNumbered(num, this.uOps[i] as number, this.uSize[i] as number);
      return;
    }
    const f = this.updateOf(i);
    parts.push(f);
    this.uQ[i] = qn;
    const n = f.ops.length;
    this.uNum[i] = n === 0 ? -1 : f.number;
    this.uOps[i] = n;
    this.uSize[i] = n === 0 ? 0 : f.size;
  }

  /** The shared ops taking views from grid entry i's record at the start of this quantum to its current one. */
  private updateOf(i: number): SharedFragment {
    const q = this.eChange[i] as QuantumChange;
    return (q.update ??= shared(exactOps(pathsAt(this.visibility.byIdx[i] as EntityPos), q.before as EntityRecord, this.visibility.recByIdx[i] as EntityRecord)));
  }

  private deltaFor(o: Observer, globalSeq: number, simTime: number, wallTime: number): ObservationDelta {
    const vis = this.visibility;
    const fields = vis.hasFields;
    const parts = this.parts.reset();
    const touched = o.touched;
    for (let t = 0; t < o.touchedCount; t++) {
      const id = touched[t] as string;
      const entry = o.view.get(id);
      const prev = entry?.record;
      const q = this.quantum.get(id);
      let rec: EntityRecord | undefined;
      if (o.members.has(id)) {
        const a = q?.after;
        rec = a === undefined || a === UNCHANGED ? this.store.get(id) : a;
      }
      const shareable = !fields || id === o.id;
      if (rec === undefined) {
        if (entry === undefined) continue;
        o.view.delete(id);
        o.digest.remove(entry.hash);
        const e = q ?? this.entry(id);
        parts.push((e.remove ??= shared([{ op: 'remove', path: pathOf(id) }])));
        continue;
      }
      const cur = fields ? vis.project(o.id, id, rec) : rec;
      if (entry === undefined) {
        const h = this.hashOf(q, id, cur, rec);
        o.view.set(id, { record: cur, hash: h, seen: 0 });
        o.digest.add(h);
        if (shareable) {
          const e = q ?? this.entry(id);
          parts.push((e.add ??= shared([{ op: 'add', path: pathOf(id), value: cur }])));
        } else (parts.own ??= []).push({ op: 'add', path: pathOf(id), value: cur });
        continue;
      }
      if (prev === cur) continue;
      const h = this.hashOf(q, id, cur, rec);
      o.digest.replace(entry.hash, h);
      entry.record = cur;
      entry.hash = h;
      if (shareable && q && prev === q.before) {
        if (!q.update) {
          q.update = shared(exactOps(pathsOf(id), prev as EntityRecord, cur));
        }
        parts.push(q.update);
      } else {
        fieldOps(pathsOf(id), prev as EntityRecord, cur, (parts.own ??= []));
      }
    }
    o.touchedCount = 0;
    return this.finish(o, parts, globalSeq, simTime, wallTime);
  }

  /** Completes a delta: the observer's own ops last, a snapshot in place of too many ops; advances from_seq. */
  private finish(o: Observer, parts: DeltaParts, globalSeq: number, simTime: number, wallTime: number): ObservationDelta {
    const own = parts.own;
    if (own && own.length > 0) parts.push(shared(own));
    let delta: Delta;
    if (parts.ops > this.maxPatchOps) {
      const root = shared([{ op: 'replace', path: '', value: this.viewOf(o) as never }]);
      delta = new Delta(o.id, o.viewSeq, o.fromSeq, globalSeq, simTime, wallTime, true, this.digestOf(o), undefined, [root], 0, 1, parts.ops, root.size);
    } else {
      const n = parts.count;
      let store: Int32Array;
      let start = 0;
      if (n > FRAGMENT_BLOCK / 4) store = parts.idx.slice(0, n);
      else {
        // Into the shared block: no array per delta (see FRAGMENT_BLOCK).
        if (this.blockUsed + n > this.block.length) {
          this.block = new Int32Array(FRAGMENT_BLOCK);
          this.blockUsed = 0;
        }
        store = this.block;
        start = this.blockUsed;
        // A loop, not set(subarray): a view object per delta, a thousand a tick, for some seventy numbers each.
        const idx = parts.idx;
        for (let i = 0; i < n; i++) store[start + i] = idx[i] as number;
        this.blockUsed = start + n;
      }
      delta = new Delta(o.id, o.viewSeq, o.fromSeq, globalSeq, simTime, wallTime, false, this.digestOf(o), parts.table, store, start, n, parts.ops, parts.size);
    }
    o.fromSeq = o.viewSeq;
    return delta;
  }

  /** The member hash of a view entry; for the entity's own record it is computed once per quantum and shared. */
  private hashOf(q: QuantumChange | undefined, id: string, cur: EntityRecord, rec: EntityRecord): MemberHash {
    if (q === undefined || cur !== rec || q.after !== rec) return canonicalMemberHash(id, cur);
    // Hashed from bytes written in place, not through canonicalMemberHash's cache by record (a WeakMap): each record is
    // hashed here once per quantum anyway (q.hash), and a WeakMap entry per changed record per tick costs more than
    // the hash the periodic state hash may then compute again for it.
    return (q.hash ??= memberHashBytes(id, rec) ?? canonicalMemberHash(id, rec));
  }

  /** The quantum's entry for an entity, created for one that did not change (entering or leaving a view). */
  private entry(id: string): QuantumChange {
    let q = this.quantum.get(id);
    if (q === undefined) {
      q = { before: undefined, after: UNCHANGED, hash: undefined, add: undefined, remove: undefined, update: undefined };
      this.quantum.set(id, q);
    }
    return q;
  }


  private viewOf(o: Observer): View {
    const entities: View['entities'] = {};
    if (this.fast) {
      if (o.selfRec !== undefined) entities[o.id] = o.selfRec as View['entities'][string];
      // Between quanta (and for an observer just brought up to date) its entities' current records.
      const vis = this.visibility;
      for (let i = 0; i < o.fLen; i++) {
        const e = o.fIdx[i] as number;
        entities[(vis.byIdx[e] as EntityPos).id] = vis.recByIdx[e] as View['entities'][string];
      }
      return { entities };
    }
    for (const [id, e] of o.view) entities[id] = e.record as View['entities'][string];
    return { entities };
  }

  /** The view's context_digest: the set digest of its members (canonical.ts viewDigest computes it from a view). */
  private digestOf(o: Observer): string {
    return o.digest.hex();
  }

  /** The agent's current view (records are shared and frozen: clone before mutating). */
  view(agentId: string): View | undefined {
    const o = this.observers.get(agentId);
    return o ? this.viewOf(o) : undefined;
  }

  /** The context_digest (viewDigest) of the agent's view as of its last flushed view_seq. */
  digest(agentId: string): string | undefined {
    const o = this.observers.get(agentId);
    return o ? this.digestOf(o) : undefined;
  }

  /** The entity ids changed by the visible event at `viewSeq` (empty once it left the 64-event window). */
  changedAt(agentId: string, viewSeq: number): readonly string[] {
    const o = this.observers.get(agentId);
    if (!o || viewSeq > o.viewSeq || viewSeq <= o.viewSeq - CAUSES) return [];
    return (o.causes[viewSeq % CAUSES] as Cause).changed;
  }

  /** The view_seq of the agent's last delivered delta (what view() and digest() describe). */
  flushedSeq(agentId: string): number {
    return this.observers.get(agentId)?.fromSeq ?? 0;
  }

  /** Every observer's known recent events, each distinct event once (for snapshots). */
  exportCauses(): SnapshotCauses {
    const index = new Map<Cause, number>();
    const events: Array<readonly [number, string, readonly string[]]> = [];
    const rings: Array<{ agent_id: string; from: number; refs: number[] }> = [];
    for (const o of this.observers.values()) {
      const from = Math.max(1, o.viewSeq - CAUSES + 1);
      const refs: number[] = [];
      for (let s = from; s <= o.viewSeq; s++) {
        const c = o.causes[s % CAUSES] as Cause;
        if (c === NO_CAUSE) {
          refs.push(-1);
          continue;
        }
        let i = index.get(c);
        if (i === undefined) {
          i = events.length;
          index.set(c, i);
          events.push([c.global_seq, c.kind, [...c.changed]]);
        }
        refs.push(i);
      }
      if (refs.length > 0) rings.push({ agent_id: o.id, from, refs });
    }
    return { events, rings };
  }

  /** Restores the observers' recent events from a snapshot (after the observers are added with their view_seq). */
  importCauses(c: SnapshotCauses): void {
    const events = c.events.map((e): Cause => ({ global_seq: Number(e[0]), kind: String(e[1]), changed: Array.isArray(e[2]) ? e[2].map(String) : [], pos: undefined }));
    for (const r of c.rings) {
      const o = this.observers.get(r.agent_id);
      if (!o || !Array.isArray(r.refs)) continue;
      for (let i = 0; i < r.refs.length; i++) {
        const s = r.from + i;
        // Only view_seqs inside the observer's window: a snapshot never holds others, but it is data read from disk.
        if (s > o.viewSeq || s <= o.viewSeq - CAUSES) continue;
        const e = events[r.refs[i] as number];
        if (e !== undefined) o.causes[s % CAUSES] = e;
      }
    }
  }

  /** The events after `contextSeq` the agent could see (at most the last 64), oldest first. */
  causesSince(agentId: string, contextSeq: number): StaleCause[] {
    const o = this.observers.get(agentId);
    if (!o) return [];
    const out: StaleCause[] = [];
    const from = Math.max(contextSeq + 1, o.viewSeq - CAUSES + 1, 1);
    for (let s = from; s <= o.viewSeq; s++) {
      const c = o.causes[s % CAUSES] as Cause;
      out.push({ view_seq: s, global_seq: c.global_seq, kind: c.kind });
    }
    return out;
  }
}


/** Copies entry i's eight hash words from one per-index word array to another (no view object). */
function copyWords(from: Float64Array, to: Float64Array, i: number): void {
  const at = 8 * i;
  for (let w = 0; w < 8; w++) to[at + w] = from[at + w] as number;
}

/** A copy of `a` grown to `size` entries, the new ones 0. */
function grownI32(a: Int32Array, size: number): Int32Array {
  const b: Int32Array = new Int32Array(size);
  b.set(a);
  return b;
}

/** A copy of `a` grown to `size` entries, the new ones `fill`. */
function grownF64(a: Float64Array, size: number, fill: number): Float64Array {
  const b: Float64Array = new Float64Array(size);
  if (fill !== 0) b.fill(fill, a.length);
  b.set(a);
  return b;
}
