/**
 * ResumeHistory and the core's shared fragment blocks: an idle agent's held deltas are detached from the blocks (so
 * they do not keep whole blocks alive), and still resume a client exactly.
 */
import { describe, expect, it } from 'vitest';
import type { ObservationDelta } from '../../server/core/types.js';
import { fragmentRange, newFragmentRange } from '../../server/core/delta-fragments.js';
import { ResumeHistory, heldOps } from '../../server/transport/resume-history.js';
import { oneQuantumOfMoves } from '../core/helpers/worlds.js';

describe('ResumeHistory', () => {
  it('detaches an idle agent\'s held deltas from the shared fragment blocks, and only an idle one\'s', async () => {
    const { deltas: got } = await oneQuantumOfMoves();
    const a0 = got.find((d) => d.agent_id === 'a0')!;
    const a1 = got.find((d) => d.agent_id === 'a1')!;
    const inBlock = (d: ObservationDelta): boolean => fragmentRange(d, newFragmentRange()).table !== undefined;
    expect(inBlock(a0) && inBlock(a1)).toBe(true);
    const ops0 = structuredClone(a0.ops);
    const h = new ResumeHistory(200);
    h.record(a0);
    h.record(a1);
    // a1 keeps getting deltas (the same one stands in for new ones here); a0 gets none.
    for (let q = 0; q < 63; q++) {
      h.endQuantum();
      h.record(a1);
    }
    expect(inBlock(a0)).toBe(true);
    h.endQuantum();
    expect(inBlock(a0)).toBe(false);
    expect(inBlock(a1)).toBe(true);
    // Detached, the delta is the same delta: same fragments, same ops, and it still resumes a client.
    const r = fragmentRange(a0, newFragmentRange());
    expect(r.table).toBeUndefined();
    expect(r.store.slice(r.start, r.start + r.count)).toEqual(a0.fragments);
    expect(a0.ops).toEqual(ops0);
    const plan = h.plan('a0', a0.from_seq, () => ({ view: { entities: {} }, view_seq: a0.view_seq }));
    expect(plan.kind).toBe('deltas');
    if (plan.kind === 'deltas') expect(plan.deltas.flatMap((d) => heldOps(d))).toEqual(ops0);
  });
});
