/**
 * stale_due_to after a restart from a snapshot.
 */
import { describe, expect, it } from 'vitest';
import { WorldRuntime } from '../../server/core/runtime.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

describe('staleness after a restart from a snapshot', () => {
  // Each observer's ring of its last 64 visible events travels in the snapshot: without it a restart from a snapshot
  // listed events that never happened, {seq: 0, kind: ''}, for every view_seq before the snapshot, and an
  // only_conflict generation judged them as touching nothing.
  it('names only real events (global_seq >= 1 and a kind) in stale_due_to', async () => {
    const world = planeWorld([[10, 10], [20, 20]]);
    const { rt, log, clock } = await openWorld(world, { agents: ['a0', 'a1'] });
    for (let i = 0; i < 3; i++) {
      const p = rt.submit(move('a1', 1, 0, rt.viewSeq('a1')));
      await rt.flush();
      await p;
    }
    await rt.snapshot();
    const p = rt.submit(move('a1', 1, 0, rt.viewSeq('a1')));
    await rt.flush();
    await p;
    const live = await rt.submit(move('a0', 1, 0, 0));
    const rt2 = await WorldRuntime.open({ world, log: log.reopen(), clock });
    const restarted = await rt2.submit(move('a0', 1, 0, 0));
    const due = (o: typeof live): unknown => (o.status === 'rejected' ? o.error.details['stale_due_to'] : undefined);
    expect(due(live)).toEqual([1, 2, 3, 4].map((s) => ({ global_seq: s, view_seq: s, kind: 'Move', seq: s })));
    for (const c of due(restarted) as Array<{ global_seq: number; kind: string }>) {
      expect(c.global_seq).toBeGreaterThanOrEqual(1);
      expect(c.kind).toBe('Move');
    }
    expect(due(restarted)).toEqual(due(live));
    for (let s = 1; s <= 4; s++) expect(rt2.obs.changedAt('a0', s)).toEqual(rt.obs.changedAt('a0', s));
    expect(rt2.obs.changedAt('a0', 2)).toEqual(['a1']);
  });
});
