/**
 * Per-agent views and their deltas. After each effect, only the observers that can see a changed entity are
 * touched (found through the grid / relationship index), their membership is updated and their view_seq advances.
 * At the end of a quantum each touched observer gets one ObservationDelta built from the entities it touched,
 * never by diffing whole views. Ops for a change that several observers see identically are built once per
 * quantum and shared (objects and encoded text), so a transport can encode each change once.
 */
import { canonicalRecord, escapePointerToken, sha256Hex } from './canonical.js';
import type { ChangeSet, EntityChange, WorldStore } from './state.js';
import { SCHEMA_VERSION, type EntityRecord, type ObservationDelta, type PatchOp, type StaleCause, type View } from './types.js';
import { Visibility } from './visibility.js';
import type { ObservationPolicy } from './world.js';

const CAUSES = 64;

/** Called once per (observer, effect) the observer could see. */
export type VisibleEventHook = (agentId: string, cause: StaleCause, changed: readonly string[]) => void;

class Observer {
  readonly members = new Set<string>();
  readonly view = new Map<string, EntityRecord>();
  readonly touched = new Set<string>();
  /** The view's ids in canonical (sorted) order; dropped when an entity enters or leaves the view. */
  sortedIds: string[] | undefined;
  stamp = -1;
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

interface Shared {
  ops: PatchOp[];
  text: string;
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

export class ObservationEngine {
  private readonly observers = new Map<string, Observer>();
  private readonly observerIds = new Set<string>();
  readonly visibility: Visibility;
  private stamp = 0;
  private readonly touchedObservers: Observer[] = [];
  /** Entity records as of the start of the quantum (first change wins). */
  private readonly quantumBefore = new Map<string, EntityRecord | undefined>();
  private readonly sharedAdd = new Map<string, Shared>();
  private readonly sharedRemove = new Map<string, Shared>();
  private readonly sharedUpdate = new Map<string, Shared>();
  private hit: Observer[] = [];
  onVisible: VisibleEventHook | undefined;
  /** The change being dispatched to observers (avoids a closure per change on the hot path). */
  private cur: EntityChange | undefined;
  private readonly considerCb = (oid: string): void => {
    const o = this.observers.get(oid);
    const ch = this.cur as EntityChange;
    if (o) this.consider(o, ch.id, ch.before, ch.after);
  };

  constructor(
    policy: ObservationPolicy,
    private readonly store: WorldStore,
    private readonly maxPatchOps: number,
  ) {
    this.visibility = new Visibility(policy, store, this.observerIds);
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
    this.observerIds.add(agentId);
    this.visibility.place(agentId, this.store.get(agentId));
    this.visibility.recomputeRelations();
    this.visibility.forEachCandidateFor(agentId, (id) => {
      if (o.members.has(id)) return;
      const rec = this.store.get(id);
      if (rec !== undefined && this.visibility.visible(agentId, id, rec)) {
        o.members.add(id);
        o.view.set(id, this.visibility.project(agentId, id, rec));
      }
    });
  }

  /** Processes one committed effect's changes. */
  onEffect(globalSeq: number, kind: string, changes: ChangeSet): void {
    this.stamp++;
    const vis = this.visibility;
    for (const ch of changes.entities) {
      vis.place(ch.id, ch.after);
      if (!this.quantumBefore.has(ch.id)) this.quantumBefore.set(ch.id, ch.before);
    }
    if (changes.relationshipsChanged && vis.policy.relationships) {
      vis.recomputeRelations();
      for (const o of this.observers.values()) this.reevaluate(o);
    }
    for (const ch of changes.entities) {
      this.cur = ch;
      vis.forEachObserverOf(ch.id, ch.before, ch.after, this.considerCb);
      const self = this.observers.get(ch.id);
      if (self) this.reevaluate(self);
    }
    if (this.hit.length === 0) return;
    const changed = changes.entities.length === 1 ? [(changes.entities[0] as EntityChange).id] : changes.entities.map((c) => c.id);
    for (const o of this.hit) {
      o.viewSeq++;
      const slot = o.viewSeq % CAUSES;
      o.causeSeq[slot] = globalSeq;
      o.causeKind[slot] = kind;
      o.causeChanged[slot] = changed;
      if (this.onVisible) this.onVisible(o.id, { view_seq: o.viewSeq, global_seq: globalSeq, kind }, changed);
    }
    this.hit = [];
  }

  private mark(o: Observer, id: string): void {
    if (o.touched.size === 0) this.touchedObservers.push(o);
    o.touched.add(id);
    if (o.stamp !== this.stamp) {
      o.stamp = this.stamp;
      this.hit.push(o);
    }
  }

  private consider(o: Observer, id: string, before: EntityRecord | undefined, after: EntityRecord | undefined): void {
    const vis = this.visibility;
    const now = vis.visible(o.id, id, after);
    const had = o.members.has(id);
    if (!now && !had) return;
    if (now !== had) {
      if (now) o.members.add(id);
      else o.members.delete(id);
    } else if (vis.hasFields && before !== undefined && after !== undefined && id !== o.id) {
      // Both visible: a change only to fields this observer cannot see is not an event for it.
      if (sameRecord(vis.project(o.id, id, before), vis.project(o.id, id, after))) return;
    }
    this.mark(o, id);
  }

  /** The observer's own entity changed: what it can see may have changed everywhere around it. */
  private reevaluate(o: Observer): void {
    const vis = this.visibility;
    for (const id of o.members) {
      if (!vis.visible(o.id, id, this.store.get(id))) {
        o.members.delete(id);
        this.mark(o, id);
      } else if (vis.hasFields) {
        const rec = this.store.get(id) as EntityRecord;
        const prev = o.view.get(id);
        if (prev === undefined || !sameRecord(prev, vis.project(o.id, id, rec))) this.mark(o, id);
      }
    }
    vis.forEachCandidateFor(o.id, (id) => {
      if (o.members.has(id)) return;
      if (vis.visible(o.id, id, this.store.get(id))) {
        o.members.add(id);
        this.mark(o, id);
      }
    });
  }

  /** Builds one delta per observer touched since the last flush and advances their views. */
  flush(globalSeq: number, simTime: number, wallTime: number): ObservationDelta[] {
    const out: ObservationDelta[] = [];
    for (const o of this.touchedObservers) out.push(this.deltaFor(o, globalSeq, simTime, wallTime));
    this.touchedObservers.length = 0;
    this.quantumBefore.clear();
    this.sharedAdd.clear();
    this.sharedRemove.clear();
    this.sharedUpdate.clear();
    return out;
  }

  private deltaFor(o: Observer, globalSeq: number, simTime: number, wallTime: number): ObservationDelta {
    const vis = this.visibility;
    let ops: PatchOp[] = [];
    let fragments: string[] = [];
    let own: PatchOp[] | undefined;
    for (const id of o.touched) {
      const prev = o.view.get(id);
      const rec = o.members.has(id) ? this.store.get(id) : undefined;
      const shareable = !vis.hasFields || id === o.id;
      if (rec === undefined) {
        if (prev === undefined) continue;
        o.view.delete(id);
        o.sortedIds = undefined;
        this.push(ops, fragments, this.shared(this.sharedRemove, id, () => [{ op: 'remove', path: pathOf(id) }]));
        continue;
      }
      const cur = vis.project(o.id, id, rec);
      if (prev === undefined) {
        o.view.set(id, cur);
        o.sortedIds = undefined;
        if (shareable) this.push(ops, fragments, this.shared(this.sharedAdd, id, () => [{ op: 'add', path: pathOf(id), value: cur }]));
        else (own ??= []).push({ op: 'add', path: pathOf(id), value: cur });
        continue;
      }
      if (prev === cur) continue;
      o.view.set(id, cur);
      if (shareable && prev === this.quantumBefore.get(id)) {
        this.push(ops, fragments, this.shared(this.sharedUpdate, id, () => { const u: PatchOp[] = []; fieldOps(pathOf(id), prev, cur, u); return u; }));
      } else {
        fieldOps(pathOf(id), prev, cur, (own ??= []));
      }
    }
    o.touched.clear();
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

  private shared(cache: Map<string, Shared>, id: string, build: () => PatchOp[]): Shared {
    let s = cache.get(id);
    if (!s) {
      const ops = build();
      s = { ops, text: encodeOps(ops) };
      cache.set(id, s);
    }
    return s;
  }

  private push(ops: PatchOp[], fragments: string[], s: Shared): void {
    if (s.ops.length === 0) return;
    for (const op of s.ops) ops.push(op);
    fragments.push(s.text);
  }

  private viewOf(o: Observer): View {
    return { entities: Object.fromEntries(o.view) as View['entities'] };
  }

  private digestOf(o: Observer): string {
    const ids = (o.sortedIds ??= [...o.view.keys()].sort());
    let text = '{"entities":{';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as string;
      text += `${i > 0 ? ',' : ''}${JSON.stringify(id)}:${canonicalRecord(o.view.get(id) as object)}`;
    }
    return sha256Hex(`${text}}}`);
  }

  /** The agent's current view (records are shared and frozen: clone before mutating). */
  view(agentId: string): View | undefined {
    const o = this.observers.get(agentId);
    return o ? this.viewOf(o) : undefined;
  }

  /** sha256 of the canonical JSON of the agent's view as of its last flushed view_seq. */
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
