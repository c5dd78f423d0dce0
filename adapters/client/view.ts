/**
 * An agent's view as the client holds it: the last snapshot with every delta applied strictly (fast-json-patch with
 * validation, on a copy, so a view handed out earlier never changes under its holder), numbered by view_seq.
 */
import fastJsonPatch from 'fast-json-patch';
import type { JsonValue, ObservationDelta, SnapshotBody, WireOp } from '../../server/protocol/index.js';

const { applyPatch, deepClone } = fastJsonPatch;

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

export class ViewState {
  view: View = { entities: {} };
  viewSeq = -1;

  /** Replaces the view with a snapshot. */
  snapshot(body: SnapshotBody, reason: Observation['reason']): Observation {
    const fromSeq = this.viewSeq;
    this.view = asView(deepClone(body.view) as JsonValue);
    this.viewSeq = body.view_seq;
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
    const next = applyPatch(this.view, ops as never, true, false).newDocument as unknown as JsonValue;
    this.view = asView(next);
    this.viewSeq = d.view_seq;
    return { outcome: 'applied', observation: { type: 'delta', viewSeq: d.view_seq, fromSeq: d.from_seq, ops: d.ops, view: this.view, contextDigest: d.context_digest, globalSeq: d.global_seq, simTime: d.sim_time } };
  }
}
