/**
 * deadline_ms holds whether or not a quantum runs: a world paused for its engine (or driven by one that ticks slowly)
 * still fails a waiting intent with OPERATION_TIMEOUT once its deadline has passed.
 */
import { describe, expect, it } from 'vitest';
import type { IntentOutcome } from '../../server/core/types.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';
import { ManualClock } from './helpers/memory-log.js';

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

/** Timers on the manual clock: each fires once the clock has reached its due time (fireDue). */
class ClockTimers {
  private armed: Array<{ fn: () => void; due: number }> = [];
  constructor(private readonly now: () => number) {}
  set = (fn: () => void, ms: number): void => void this.armed.push({ fn, due: this.now() + ms });
  fireDue(): void {
    const now = this.now();
    const due = this.armed.filter((t) => t.due <= now);
    this.armed = this.armed.filter((t) => t.due > now);
    for (const t of due) t.fn();
  }
  /** Timers armed and not yet due: what the process holds. */
  get live(): number {
    return this.armed.length;
  }
}

describe('the deadline timer', () => {
  it('holds a bounded number of timers when each intent has an earlier deadline than all before it', async () => {
    const world = planeWorld([[10, 10]], { policies: { observation: { distance: { radius: 100 } }, agentClasses: { default: { quota: { rate: 1000, burst: 1000 } } } } });
    const clock = new ManualClock();
    const timers = new ClockTimers(() => clock.now());
    const { rt } = await openWorld(world, { clock, agents: ['a0'], extra: { setTimer: timers.set } });
    // 10 intents a second for 200 s, each due 20 ms before the one before it: each is the earliest yet. Each
    // commits at the next quantum. A timer armed for its whole deadline_ms (a day) stayed for every one of them.
    for (let i = 0; i < 2000; i++) {
      clock.advance(100);
      timers.fireDue();
      const p = rt.submit(move('a0', 0, 0, rt.viewSeq('a0'), { deadline_ms: 86_000_000 - 120 * i }));
      await rt.flush();
      expect(codeOf(await p)).toBe('committed');
    }
    expect(timers.live).toBeLessThanOrEqual(11);
  });

  it('still fails an intent at a deadline further off than one wait of its timer', async () => {
    const world = planeWorld([[10, 10]]);
    const clock = new ManualClock();
    const timers = new ClockTimers(() => clock.now());
    const { rt } = await openWorld(world, { clock, agents: ['a0'], extra: { setTimer: timers.set } });
    const p = rt.submit(move('a0', 1, 0, 0, { deadline_ms: 3500 }));
    for (let t = 0; t < 3400; t += 100) {
      clock.advance(100);
      timers.fireDue();
    }
    expect(await pending(p)).toBe('pending');
    for (let t = 0; t < 200; t += 100) {
      clock.advance(100);
      timers.fireDue();
    }
    expect(codeOf(await p)).toBe('OPERATION_TIMEOUT');
    expect(timers.live).toBe(0);
  });
});
