import { describe, expect, it } from 'vitest';
import { isWorldlineError } from '../../server/errors.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

const world = () => planeWorld([[10, 10], [20, 20], [30, 30], [900, 900]]);
const reasonOf = (s: AbortSignal): Array<{ seq: number; kind: string }> => (isWorldlineError(s.reason) ? (s.reason.details['stale_due_to'] as Array<{ seq: number; kind: string }>) : []);

async function commit(rt: Awaited<ReturnType<typeof openWorld>>['rt'], intent: Record<string, unknown>): Promise<number> {
  const p = rt.submit(intent);
  await rt.flush();
  const o = await p;
  if (o.status !== 'committed') throw new Error(`not committed: ${JSON.stringify(o)}`);
  return o.global_seq;
}

describe('cancellation', () => {
  it('removes a queued intent (cancelled) and answers already_completed after commit', async () => {
    const { rt } = await openWorld(world(), { agents: ['a0'] });
    const p = rt.submit({ req_id: 'q1', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
    expect(rt.cancel('a0', 'q1')).toEqual({ status: 'cancelled' });
    const report = await rt.flush();
    expect(report.committed).toBe(0);
    expect((await p).status).toBe('cancelled');
    const seq = await commit(rt, { req_id: 'q2', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
    const c = rt.cancel('a0', 'q2');
    expect(c.status).toBe('already_completed');
    expect(c.status === 'already_completed' && c.outcome?.status === 'committed' && c.outcome.global_seq).toBe(seq);
    expect(rt.cancel('a0', 'nope')).toEqual({ status: 'unknown' });
  });

  it('cancelSettled: an intent already committing is answered with its outcome once durable, never before (a failed write takes it back)', async () => {
    const { rt, log } = await openWorld(world(), { agents: ['a0'] });
    log.hold = true;
    const p = rt.submit({ req_id: 'w1', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
    const quantum = rt.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 5));
    // Committed in memory, its record not yet durable: the index already has an outcome, which the log may take back.
    let answered: Awaited<ReturnType<typeof rt.cancelSettled>> | undefined;
    const c = rt.cancelSettled('a0', 'w1').then((r) => (answered = r));
    await new Promise((r) => setTimeout(r, 5));
    expect(answered).toBeUndefined();
    log.failHeld(new Error('EIO: the disk went away'));
    await c;
    await quantum;
    const submitted = await p;
    expect(submitted.status).toBe('rejected');
    // The cancel says what the submitter was told, not the commit the write never made durable.
    expect(answered).toEqual({ status: 'already_completed', outcome: submitted });
  });

  it('a submit ends its generation even when it is rejected before the queue (stale, quota, queue full)', async () => {
    const { rt } = await openWorld(world(), { agents: ['a0', 'a1'] });
    await commit(rt, move('a1', 1, 0, 0));
    const t = rt.beginGeneration('a0', 'g1', 0, { interrupt: 'only_conflict', touches: ['a3'] });
    expect(rt.generations.watching('a0')).toBe(true);
    const o = await rt.submit({ req_id: 'g1', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
    expect(o.status === 'rejected' && o.error.name).toBe('STALE_CONTEXT');
    expect(rt.generations.watching('a0')).toBe(false);
    await commit(rt, move('a0', 1, 0, rt.obs.viewSeq('a0')));
    expect(t.signal.aborted).toBe(false);
  });

  it('always: any newly visible event cancels with stale_due_to; invisible ones do not', async () => {
    const { rt } = await openWorld(world(), { agents: ['a0', 'a1', 'a3'] });
    const t = rt.beginGeneration('a0', 'g1', 0, { interrupt: 'always' });
    await commit(rt, move('a3', 1, 0, 0));
    expect(t.signal.aborted).toBe(false);
    const seq = await commit(rt, move('a1', 1, 0, 0));
    expect(t.signal.aborted).toBe(true);
    expect(isWorldlineError(t.signal.reason, 'GENERATION_CANCELLED')).toBe(true);
    expect(reasonOf(t.signal)).toEqual([{ global_seq: seq, view_seq: 1, kind: 'Move', seq }]);
  });

  it('only_conflict: cancels only for events touching the declared entities or the agent itself', async () => {
    const { rt } = await openWorld(world(), { agents: ['a0', 'a1', 'a2'] });
    const t = rt.beginGeneration('a0', 'g1', 0, { interrupt: 'only_conflict', touches: ['a2'] });
    await commit(rt, move('a1', 1, 0, 0));
    expect(t.signal.aborted).toBe(false);
    const seq = await commit(rt, move('a2', 1, 0, rt.obs.viewSeq('a2')));
    expect(t.signal.aborted).toBe(true);
    expect(reasonOf(t.signal)[0]?.seq).toBe(seq);
    const t2 = rt.beginGeneration('a0', 'g2', rt.obs.viewSeq('a0'), { interrupt: 'only_conflict' });
    await commit(rt, move('a0', 1, 0, rt.obs.viewSeq('a0')));
    expect(t2.signal.aborted).toBe(true);
  });

  it('onCancel: listeners run synchronously in the quantum that cancels, at once when already cancelled, and the signal agrees', async () => {
    const { rt } = await openWorld(world(), { agents: ['a0', 'a1'] });
    const t = rt.beginGeneration('a0', 'g1', 0, { interrupt: 'always' });
    const seen: string[] = [];
    t.onCancel(() => {
      throw new Error('a faulty listener');
    });
    t.onCancel((r) => seen.push(`first ${r.codeName}`));
    const p = rt.submit(move('a1', 1, 0, 0));
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.prependListener('uncaughtException', onUncaught);
    try {
      const report = rt.flush();
      expect(seen).toEqual(['first GENERATION_CANCELLED']);
      await report;
      await p;
      await new Promise((resolve) => setTimeout(resolve, 0));
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([new Error('a faulty listener')]);
    t.onCancel((r) => seen.push(`late ${r.codeName}`));
    expect(seen).toEqual(['first GENERATION_CANCELLED', 'late GENERATION_CANCELLED']);
    expect(t.reason?.codeName).toBe('GENERATION_CANCELLED');
    expect(t.signal.aborted).toBe(true);
    expect(t.signal.reason).toBe(t.reason);
  });

  it('beginGeneration cancels a context_seq ahead of the view at once, and refuses an unknown interrupt policy and touches that are not a list of ids', async () => {
    const { rt } = await openWorld(world(), { agents: ['a0', 'a1', 'a2'] });
    await commit(rt, move('a1', 1, 0, 0));
    // A global_seq taken for a view_seq: a generation that no event could interrupt until the view caught up with it,
    // for an intent the pipeline would refuse. It is cancelled at once.
    const ahead = rt.beginGeneration('a0', 'ahead', 5);
    expect(ahead.reason?.codeName).toBe('GENERATION_CANCELLED');
    expect(ahead.reason?.details['reason']).toBe('context_seq 5 is ahead of the view (view_seq 1)');
    expect(rt.generationOpen(ahead)).toBe(false);
    for (const interrupt of ['sometimes', { debounce_ms: -5 }, { debounce: 100 }]) {
      expect(() => rt.beginGeneration('a0', 'g', 1, { interrupt: interrupt as never }), JSON.stringify(interrupt)).toThrow(expect.objectContaining({ codeName: 'INVALID_INTENT' }));
    }
    // A string is not a list: as a Set it would be its characters, entities 'a' and '2'.
    expect(() => rt.beginGeneration('a0', 'g', 1, { interrupt: 'only_conflict', touches: 'a2' as never })).toThrow(expect.objectContaining({ codeName: 'INVALID_INTENT' }));
    expect(rt.generations.watching('a0')).toBe(false);
    const t = rt.beginGeneration('a0', 'g', 1, { interrupt: 'only_conflict', touches: ['a2'] });
    await commit(rt, move('a2', 1, 0, rt.obs.viewSeq('a2')));
    expect(t.signal.aborted).toBe(true);
  });

  it('cancels at once when the context is already stale at begin', async () => {
    const { rt } = await openWorld(world(), { agents: ['a0', 'a1'] });
    await commit(rt, move('a1', 1, 0, 0));
    const t = rt.beginGeneration('a0', 'g', 0);
    expect(t.signal.aborted).toBe(true);
  });

  it('debounce: a trigger inside the window is re-evaluated at the window end, not dropped', async () => {
    const timers: Array<{ fn: () => void; ms: number }> = [];
    const { rt, clock } = await openWorld(world(), { agents: ['a0', 'a1'], extra: { setTimer: (fn, ms) => timers.push({ fn, ms }) } });
    const policy = { debounce_ms: 100 };
    const t1 = rt.beginGeneration('a0', 'g1', 0, { interrupt: policy });
    const s1 = await commit(rt, move('a1', 1, 0, 0));
    expect(t1.signal.aborted).toBe(true);
    expect(reasonOf(t1.signal).map((c) => c.seq)).toEqual([s1]);
    clock.advance(10);
    const t2 = rt.beginGeneration('a0', 'g2', rt.obs.viewSeq('a0'), { interrupt: policy });
    const s2 = await commit(rt, move('a1', 1, 0, rt.obs.viewSeq('a1')));
    const s3 = await commit(rt, move('a1', 1, 0, rt.obs.viewSeq('a1')));
    expect(t2.signal.aborted).toBe(false);
    expect(timers.length).toBe(1);
    expect(timers[0]?.ms).toBe(90);
    clock.advance(89);
    timers[0]?.fn();
    expect(t2.signal.aborted).toBe(false);
    clock.advance(1);
    rt.pollInterrupts();
    expect(t2.signal.aborted).toBe(true);
    expect(reasonOf(t2.signal).map((c) => c.seq)).toEqual([s2, s3]);
  });

  it('debounce: a window-end timer that fires before the clock reaches the window end is armed again, so the suppressed trigger still fires without a quantum', async () => {
    // Node fires a timer by its monotonic clock; Date.now() (the server's clock) then reads up to a millisecond short
    // of the due time for a few percent of timers. Nothing else may be coming: no quantum, no manual poll.
    const timers: Array<{ fn: () => void; ms: number }> = [];
    const { rt, clock } = await openWorld(world(), { agents: ['a0', 'a1'], extra: { setTimer: (fn, ms) => timers.push({ fn, ms }) } });
    const policy = { debounce_ms: 100 };
    rt.beginGeneration('a0', 'g1', 0, { interrupt: policy });
    await commit(rt, move('a1', 1, 0, 0));
    const t2 = rt.beginGeneration('a0', 'g2', rt.obs.viewSeq('a0'), { interrupt: policy });
    const s2 = await commit(rt, move('a1', 1, 0, rt.obs.viewSeq('a1')));
    expect(timers.map((t) => t.ms)).toEqual([100]);
    clock.advance(99);
    timers[0]?.fn();
    expect(t2.signal.aborted).toBe(false);
    expect(timers.map((t) => t.ms)).toEqual([100, 1]);
    clock.advance(1);
    timers[1]?.fn();
    expect(t2.signal.aborted).toBe(true);
    expect(reasonOf(t2.signal).map((c) => c.seq)).toEqual([s2]);
  });

  it('debounce: a generation closed by submitting its intent is not cancelled at the window end', async () => {
    const { rt, clock } = await openWorld(world(), { agents: ['a0', 'a1'], extra: { setTimer: () => undefined } });
    const t1 = rt.beginGeneration('a0', 'g1', 0, { interrupt: { debounce_ms: 100 } });
    await commit(rt, move('a1', 1, 0, 0));
    expect(t1.signal.aborted).toBe(true);
    const vs = rt.obs.viewSeq('a0');
    const t2 = rt.beginGeneration('a0', 'g2', vs, { interrupt: { debounce_ms: 100 } });
    await commit(rt, move('a1', 1, 0, rt.obs.viewSeq('a1')));
    const p = rt.submit({ req_id: 'g2', agent_id: 'a0', kind: 'Speak', payload: { text: 'hi' }, context_seq: rt.obs.viewSeq('a0') });
    clock.advance(200);
    await rt.flush();
    expect((await p).status).toBe('committed');
    expect(t2.signal.aborted).toBe(false);
  });
});
