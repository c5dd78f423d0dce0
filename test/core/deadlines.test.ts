/**
 * deadline_ms holds whether or not a quantum runs: a world paused for its engine (or driven by one that ticks slowly)
 * still fails a waiting intent with OPERATION_TIMEOUT once its deadline has passed.
 */
import { describe, expect, it } from 'vitest';
import type { IntentOutcome } from '../../server/core/types.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

/** Timers the runtime arms, fired by the test (the clock is manual, so real timers would fire at the wrong time). */
class Timers {
  private armed: Array<() => void> = [];
  set = (fn: () => void): void => void this.armed.push(fn);
  fire(): void {
    const due = this.armed;
    this.armed = [];
    for (const fn of due) fn();
  }
}

const codeOf = (o: IntentOutcome): string => (o.status === 'rejected' ? o.error.name : o.status);
const pending = <T>(p: Promise<T>): Promise<T | 'pending'> => Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 20))]);

describe('deadline_ms without a quantum', () => {
  it('fails a queued and a deferred intent with OPERATION_TIMEOUT when no quantum runs, and leaves the others waiting', async () => {
    const timers = new Timers();
    const world = planeWorld([[10, 10], [500, 500]], { policies: { observation: { distance: { radius: 100 } }, agentClasses: { default: { queueLimit: 1, backpressure: 'defer' } } } });
    const { rt, clock } = await openWorld(world, { agents: ['a0', 'a1'], extra: { setTimer: timers.set } });
    const queued = rt.submit(move('a0', 1, 0, 0, { deadline_ms: 50 }));
    const deferred = rt.submit(move('a0', 1, 0, 0, { deadline_ms: 80 }));
    const patient = rt.submit(move('a1', 1, 0, 0, { deadline_ms: 5000 }));
    const open = rt.submit(move('a1', 1, 0, 0));
    clock.advance(60);
    timers.fire();
    const q = await pending(queued);
    expect(q === 'pending' ? q : codeOf(q)).toBe('OPERATION_TIMEOUT');
    expect(await pending(deferred)).toBe('pending');
    clock.advance(30);
    timers.fire();
    const d = await deferred;
    expect(codeOf(d)).toBe('OPERATION_TIMEOUT');
    expect(d.status === 'rejected' && d.error.details).toMatchObject({ req_id: d.req_id });
    expect(await pending(patient)).toBe('pending');
    expect(rt.pendingIntents).toBe(2);
    // The world goes on: the intents still within their deadline commit at the next quantum.
    await rt.flush();
    expect(codeOf(await patient)).toBe('committed');
    expect(codeOf(await open)).toBe('committed');
    expect(rt.pendingIntents).toBe(0);
  });
});
