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
import { canonicalMemberHash, escapePointerToken } from './canonical.js';
import { SetDigest, type MemberHash } from './set-digest.js';
import type { GridCell, GridItem } from './spatial-grid.js';
import type { ChangeSet, EntityChange, WorldStore } from './state.js';
import { SCHEMA_VERSION, type EntityRecord, type ObservationDelta, type PatchOp, type StaleCause, type View } from './types.js';
import { NEAR_AFTER, NEAR_BEFORE, NEAR_UNKNOWN, Visibility, type ObserverItem } from './visibility.js';
import type { ObservationPolicy } from './world.js';

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
  gridCell: GridCell<GridItem> | undefined = undefined;
  gridSlot = 0;
  visit = 0;
  readonly members = new Set<string>();
  /** The view as of the last delta: each visible entity's projected record and its member hash. */
  readonly view = new Map<string, ViewEntry>();
  /** The set digest of the view's members (its context_digest), kept up to date entry by entry. */
  readonly digest = new SetDigest();
  /** Entities whose view entry may have changed this quantum (repeats allowed: deltaFor skips unchanged ones). */
  readonly touched: string[] = [];
  touchedCount = 0;
  stamp = -1;
  /** Its own entity changed in this quantum: the rest of its membership is re-evaluated at the end of it. */
  selfDirty = false;
  fromSeq: number;
  readonly causeSeq = new Float64Array(CAUSES);
  readonly causeKind: string[] = new Array<string>(CAUSES).fill('');
  readonly causeChanged: (readonly string[])[] = new Array<readonly string[]>(CAUSES).fill([]);
  constructor(
    readonly id: string,
    public viewSeq: number,
  ) {
    this.fromSeq = viewSeq;
  }
}

/** One entity in an observer's view. */
interface ViewEntry {
  record: EntityRecord;
  /** canonicalMemberHash(id, record): what it adds to the view's digest. */
  hash: MemberHash;
}

interface Shared {
  readonly ops: PatchOp[];
  readonly text: string;
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

const pathOf = (id: string): string => `/entities/${escapePointerToken(id)}`;

function fieldOps(path: string, prev: EntityRecord, cur: EntityRecord, out: PatchOp[]): void {
  for (const k in cur) {
    const v = cur[k];
    if (v === undefined) continue;
    if (!(k in prev)) out.push({ op: 'add', path: `${path}/${escapePointerToken(k)}`, value: v });
    else if (prev[k] !== v) out.push({ op: 'replace', path: `${path}/${escapePointerToken(k)}`, value: v });
  }
  for (const k in prev) if (!(k in cur)) out.push({ op: 'remove', path: `${path}/${escapePointerToken(k)}` });
}

function encodeOps(ops: readonly PatchOp[]): string {
  let s = '';
  for (let i = 0; i < ops.length; i++) s += (i > 0 ? ',' : '') + JSON.stringify(ops[i]);
  return s;
}

function shared(ops: PatchOp[]): Shared {
  return { ops, text: encodeOps(ops) };
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
  private hit: Observer[] = [];
  private readonly candidates: Observer[] = [];
  private readonly near: number[] = [];
  private readonly nearIds: string[] = [];
  private readonly nearSet = new Set<string>();
  private readonly singles = new Map<string, readonly string[]>();
  /** The changes of the effect being processed. */
  private current: readonly EntityChange[] = NO_CHANGES;
  onVisible: VisibleEventHook | undefined;

  constructor(
    policy: ObservationPolicy,
    private readonly store: WorldStore,
    private readonly maxPatchOps: number,
  ) {
    this.visibility = new Visibility(policy, store, this.observers);
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
    this.visibility.place(agentId, this.store.get(agentId));
    this.visibility.recomputeRelations();
    const self = this.store.get(agentId);
    this.visibility.forEachCandidateFor(agentId, (id) => {
      if (o.members.has(id)) return;
      const rec = this.store.get(id);
      if (rec !== undefined && this.visibility.visibleFrom(agentId, self, id, rec)) {
        o.members.add(id);
        const cur = this.visibility.project(agentId, id, rec);
        const h = canonicalMemberHash(id, cur);
        o.view.set(id, { record: cur, hash: h });
        o.digest.add(h);
      }
    });
  }

  /** Processes one committed effect's changes. */
  onEffect(globalSeq: number, kind: string, changes: ChangeSet): void {
    this.stamp++;
    const vis = this.visibility;
    const ents = changes.entities;
    this.current = ents;
    for (let i = 0; i < ents.length; i++) {
      const ch = ents[i] as EntityChange;
      vis.place(ch.id, ch.after);
      const q = this.quantum.get(ch.id);
      if (q === undefined) this.quantum.set(ch.id, { before: ch.before, after: ch.after, hash: undefined, add: undefined, remove: undefined, update: undefined });
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
    for (let i = 0; i < ents.length; i++) {
      const ch = ents[i] as EntityChange;
      const nc = vis.observersOf(ch.id, ch.before, ch.after, cands, near);
      for (let j = 0; j < nc; j++) {
        const o = cands[j] as Observer;
        const f = near[j] as number;
        if (f === NEAR_UNKNOWN) this.consider(o, ch.id, ch.before, ch.after);
        else this.considerNear(o, ch.id, (f & NEAR_BEFORE) !== 0, (f & NEAR_AFTER) !== 0);
      }
      const self = this.observers.get(ch.id);
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
    if (this.hit.length === 0) return;
    const changed = ents.length === 1 ? this.single((ents[0] as EntityChange).id) : ents.map((c) => c.id);
    const hook = this.onVisible;
    for (const o of this.hit) {
      o.viewSeq++;
      const slot = o.viewSeq % CAUSES;
      o.causeSeq[slot] = globalSeq;
      o.causeKind[slot] = kind;
      o.causeChanged[slot] = changed;
      if (hook) hook(o.id, { view_seq: o.viewSeq, global_seq: globalSeq, kind }, changed);
    }
    this.hit = [];
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
    if (n === 0) this.touchedObservers.push(o);
    if (n === 0 || o.touched[n - 1] !== id) {
      o.touched[n] = id;
      o.touchedCount = n + 1;
    }
    if (hit && o.stamp !== this.stamp) {
      o.stamp = this.stamp;
      this.hit.push(o);
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
    this.settle();
    const out: ObservationDelta[] = [];
    for (const o of this.touchedObservers) out.push(this.deltaFor(o, globalSeq, simTime, wallTime));
    this.touchedObservers.length = 0;
    this.quantum.clear();
    return out;
  }

  private deltaFor(o: Observer, globalSeq: number, simTime: number, wallTime: number): ObservationDelta {
    const vis = this.visibility;
    const fields = vis.hasFields;
    let ops: PatchOp[] = [];
    let fragments: string[] = [];
    let own: PatchOp[] | undefined;
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
        this.push(ops, fragments, (e.remove ??= shared([{ op: 'remove', path: pathOf(id) }])));
        continue;
      }
      const cur = fields ? vis.project(o.id, id, rec) : rec;
      if (entry === undefined) {
        const h = this.hashOf(q, id, cur, rec);
        o.view.set(id, { record: cur, hash: h });
        o.digest.add(h);
        if (shareable) {
          const e = q ?? this.entry(id);
          this.push(ops, fragments, (e.add ??= shared([{ op: 'add', path: pathOf(id), value: cur }])));
        } else (own ??= []).push({ op: 'add', path: pathOf(id), value: cur });
        continue;
      }
      if (prev === cur) continue;
      const h = this.hashOf(q, id, cur, rec);
      o.digest.remove(entry.hash);
      o.digest.add(h);
      entry.record = cur;
      entry.hash = h;
      if (shareable && q && prev === q.before) {
        if (!q.update) {
          const u: PatchOp[] = [];
          fieldOps(pathOf(id), prev as EntityRecord, cur, u);
          q.update = shared(u);
        }
        this.push(ops, fragments, q.update);
      } else {
        fieldOps(pathOf(id), prev as EntityRecord, cur, (own ??= []));
      }
    }
    o.touchedCount = 0;
    if (own && own.length > 0) {
      ops.push(...own);
      fragments.push(encodeOps(own));
    }
    let snapshot = false;
    if (ops.length > this.maxPatchOps) {
      snapshot = true;
      ops = [{ op: 'replace', path: '', value: this.viewOf(o) as never }];
      fragments = [encodeOps(ops)];
    }
    const delta: ObservationDelta = {
      schema_version: SCHEMA_VERSION,
      agent_id: o.id,
      view_seq: o.viewSeq,
      from_seq: o.fromSeq,
      global_seq: globalSeq,
      sim_time: simTime,
      wall_time: wallTime,
      ops,
      snapshot,
      context_digest: this.digestOf(o),
      fragments,
    };
    o.fromSeq = o.viewSeq;
    return delta;
  }

  /** The member hash of a view entry; for the entity's own record it is computed once per quantum and shared. */
  private hashOf(q: QuantumChange | undefined, id: string, cur: EntityRecord, rec: EntityRecord): MemberHash {
    if (q === undefined || cur !== rec || q.after !== rec) return canonicalMemberHash(id, cur);
    return (q.hash ??= canonicalMemberHash(id, rec));
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

  private push(ops: PatchOp[], fragments: string[], s: Shared): void {
    if (s.ops.length === 0) return;
    for (const op of s.ops) ops.push(op);
    fragments.push(s.text);
  }

  private viewOf(o: Observer): View {
    const entities: View['entities'] = {};
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
    return o.causeChanged[viewSeq % CAUSES] as readonly string[];
  }

  /** The view_seq of the agent's last delivered delta (what view() and digest() describe). */
  flushedSeq(agentId: string): number {
    return this.observers.get(agentId)?.fromSeq ?? 0;
  }

  /** The events after `contextSeq` the agent could see (at most the last 64), oldest first. */
  causesSince(agentId: string, contextSeq: number): StaleCause[] {
    const o = this.observers.get(agentId);
    if (!o) return [];
    const out: StaleCause[] = [];
    const from = Math.max(contextSeq + 1, o.viewSeq - CAUSES + 1, 1);
    for (let s = from; s <= o.viewSeq; s++) out.push({ view_seq: s, global_seq: o.causeSeq[s % CAUSES] as number, kind: o.causeKind[s % CAUSES] as string });
    return out;
  }
}

function sameRecord(a: EntityRecord, b: EntityRecord): boolean {
  if (a === b) return true;
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _k in b) n--;
  return n === 0;
}
