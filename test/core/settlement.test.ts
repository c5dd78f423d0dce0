/**
 * Every promise the runtime hands out settles: when the log fails, when a facade drives the quantum itself, and
 * when a record other than a quantum's (an agent joining) cannot be written.
 */
import { describe, expect, it } from 'vitest';
import { RlEnv } from '../../server/core/facades.js';
import { WorldRuntime } from '../../server/core/runtime.js';
import type { IntentOutcome } from '../../server/core/types.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

const codeOf = (o: IntentOutcome): string => (o.status === 'rejected' ? o.error.name : o.status);
const PENDING = 'pending';
function within<T>(p: Promise<T>, ms = 50): Promise<T | typeof PENDING> {
  return Promise.race([p, new Promise<typeof PENDING>((r) => setTimeout(() => r(PENDING), ms))]);
}

describe('every promise settles', () => {
  it('an effect emitted while a failing quantum is in flight gets the log error', async () => {
    const { rt, log } = await openWorld(planeWorld([[10, 10]]), { agents: ['a0'] });
    log.failWith = new Error('disk full');
    const p = rt.submit(move('a0', 1, 0, 0));
    const q = rt.flush();
    // Emitted after that quantum ran but before its append failure is known: it waits for the next quantum.
    const emitted = rt.emit({ kind: 'Speak', payload: { entity_id: 'a0', text: 'hi' }, source_id: 'narrator' });
    await expect(q).rejects.toThrow(/disk full/);
    await expect(rt.flush()).rejects.toThrow(/disk full/);
    expect(codeOf(await p)).toBe('DATABASE_ERROR');
    const e = await within(emitted);
    expect(e).not.toBe(PENDING);
    expect(e).toMatchObject({ status: 'rejected', error: { name: 'DATABASE_ERROR' } });
  });

  it('an agent whose join record could not be written stops the runtime, so nothing commits that a restart would not know', async () => {
    const world = planeWorld([[10, 10], [20, 20]]);
    const { rt, log, clock } = await openWorld(world, { agents: ['a0'] });
    log.failWith = new Error('disk full');
    await expect(rt.registerAgent('a1')).rejects.toThrow(/disk full/);
    // The disk frees up (the real log goes back to writing by itself): a1's intents must not commit.
    log.failWith = undefined;
    const p = rt.submit(move('a1', 1, 0, 0));
    await rt.flush().catch(() => undefined);
    expect(codeOf(await p)).toBe('DATABASE_ERROR');
    const rt2 = await WorldRuntime.open({ world, log: log.reopen(), clock });
    expect([...rt2.agents.keys()]).toEqual(['a0']);
    expect(rt2.lastGlobalSeq).toBe(rt.lastGlobalSeq);
  });

  it('RlEnv.step driving the world keeps committing until its own intent is taken', async () => {
    const world = planeWorld([[10, 10]], { policies: { observation: { distance: { radius: 10 } }, maxIntentsPerQuantum: 1, agentClasses: { default: { stalenessThreshold: 100 } } } });
    const { rt } = await openWorld(world, { agents: ['a0'] });
    // An older intent of the same agent fills the first quantum (one intent per quantum).
    const older = rt.submit(move('a0', 1, 0, 0));
    const env = new RlEnv(rt);
    const step = within(env.step('a0', { kind: 'Move', payload: { dx: 2, dy: 0 } }));
    expect(codeOf(await older)).toBe('committed');
    const r = await step;
    expect(r).not.toBe(PENDING);
    const [effect] = r as Exclude<typeof r, typeof PENDING>;
    expect(effect.global_seq).toBe(2);
    expect(rt.entity('a0')?.['x']).toBe(13);
  });
});

describe('autoQuantum', () => {
  it('runs quanta until every waiting intent is taken, not only one quantum per arrival', async () => {
    const world = planeWorld([[10, 10]], { policies: { observation: { distance: { radius: 10 } }, maxIntentsPerQuantum: 2, agentClasses: { default: { stalenessThreshold: 100 } } } });
    const { rt } = await openWorld(world, { agents: ['a0'], auto: true });
    const outs = Array.from({ length: 5 }, () => rt.submit(move('a0', 1, 0, 0)));
    const emitted = rt.emit({ kind: 'Speak', payload: { entity_id: 'a0', text: 'hi' }, source_id: 'narrator' });
    const all = await within(Promise.all([...outs, emitted]), 200);
    expect(all).not.toBe(PENDING);
    expect((all as Array<{ status: string }>).map((o) => o.status)).toEqual(Array(6).fill('committed'));
    expect(rt.lastGlobalSeq).toBe(6);
  });
});

describe('RlEnv request ids', () => {
  it('a step never reuses a req_id an earlier RlEnv used, even when the clock has not moved (another env, a restart)', async () => {
    const world = planeWorld([[10, 10]]);
    const { rt, log, clock } = await openWorld(world, { agents: ['a0'] });
    await new RlEnv(rt).step('a0', { kind: 'Move', payload: { dx: 1, dy: 0 } });
    // A second environment on the same runtime, at the same clock reading.
    const [second] = await new RlEnv(rt).step('a0', { kind: 'Move', payload: { dx: 2, dy: 0 } });
    expect(second.global_seq).toBe(2);
    // A restart from the log (a simulated clock that reads the same).
    const rt2 = await WorldRuntime.open({ world, log: log.reopen(), clock });
    const [third] = await new RlEnv(rt2).step('a0', { kind: 'Move', payload: { dx: 4, dy: 0 } });
    expect(third.global_seq).toBe(3);
    expect(rt2.entity('a0')?.['x']).toBe(17);
  });
});

describe('delivery listeners', () => {
  it('one that throws does not keep the others from the delivery; the quantum stays committed and the next one runs', async () => {
    const { rt } = await openWorld(planeWorld([[10, 10], [20, 20]]), { agents: ['a0', 'a1'] });
    const seen: number[] = [];
    rt.onDelivery(() => {
      throw new Error('a faulty listener');
    });
    rt.onDelivery((d) => seen.push(d.effects.length));
    const p = rt.submit(move('a0', 1, 0, 0));
    await expect(rt.flush()).rejects.toThrow(/a faulty listener/);
    expect(codeOf(await p)).toBe('committed');
    expect(seen).toEqual([1]);
    const q = rt.submit(move('a1', 1, 0, rt.viewSeq('a1')));
    await expect(rt.flush()).rejects.toThrow(/a faulty listener/);
    expect(codeOf(await q)).toBe('committed');
    expect(seen).toEqual([1, 1]);
    expect(rt.lastGlobalSeq).toBe(2);
  });
});

describe('message subscriptions', () => {
  it('end with the runtime\'s failure instead of waiting forever, after yielding what was delivered', async () => {
    const { MessageEnv } = await import('../../server/core/facades.js');
    const { rt, log } = await openWorld(planeWorld([[10, 10], [20, 20]]), { agents: ['a0', 'a1'] });
    const env = new MessageEnv(rt);
    const sub = env.subscribe('a0');
    const it = sub[Symbol.asyncIterator]();
    const p = rt.submit(move('a1', 1, 0, 0));
    await rt.flush();
    await p;
    const first = await it.next();
    expect(first.done).toBe(false);
    log.failWith = new Error('disk full');
    const q = rt.submit(move('a1', 1, 0, rt.viewSeq('a1')));
    const waiting = it.next();
    await expect(rt.flush()).rejects.toThrow(/disk full/);
    await q;
    // The effect of the failed quantum was never delivered: drain what was, then the failure.
    let err: unknown;
    try {
      for (let r = await waiting; !r.done; r = await it.next()) expect(r.value.type).not.toBe(undefined);
    } catch (e) {
      err = e;
    }
    expect(String(err)).toMatch(/disk full/);
    // A subscription made after the failure ends at once too.
    await expect(env.subscribe('a1')[Symbol.asyncIterator]().next()).rejects.toThrow(/disk full/);
  });
});
