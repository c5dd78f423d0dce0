/**
 * World code that throws inside a quantum (a validator, a kind's validate, a draft whose payload has no JSON form)
 * must cost only that candidate: it is rejected and rolled back, every other candidate commits with gap-free
 * global_seqs, every promise settles, and the log replays to the same state.
 */
import { describe, expect, it } from 'vitest';
import { parseJsonBytes } from '../../server/core/canonical.js';
import { replayWorld } from '../../server/core/replay.js';
import type { Effect, IntentOutcome } from '../../server/core/types.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

const codeOf = (o: IntentOutcome): string => (o.status === 'rejected' ? o.error.name : o.status);
const PENDING = 'pending';
function within<T>(p: Promise<T>, ms = 50): Promise<T | typeof PENDING> {
  return Promise.race([p, new Promise<typeof PENDING>((r) => setTimeout(() => r(PENDING), ms))]);
}

describe('a quantum with throwing world code', () => {
  it('rejects only the candidate whose validator throws; the others commit and every promise settles', async () => {
    const world = planeWorld([[10, 10], [20, 20], [30, 30]], {
      validators: [
        {
          rule: 'fragile',
          check: (d) => {
            if ((d.payload as { dx?: number }).dx === 9) throw new Error('validator bug');
            return undefined;
          },
        },
      ],
    });
    const { rt, log } = await openWorld(world, { agents: ['a0', 'a1', 'a2'] });
    // Commit order is by source id: a0 commits, a1's validator throws, a2 must still commit after it.
    const outs = [rt.submit(move('a0', 1, 0, 0)), rt.submit(move('a1', 9, 0, 0)), rt.submit(move('a2', 1, 0, 0))];
    const report = await within(rt.flush());
    expect(report).not.toBe(PENDING);
    const [a0, a1, a2] = await Promise.all(outs.map((p) => within(p)));
    expect(codeOf(a0 as IntentOutcome)).toBe('committed');
    expect(codeOf(a1 as IntentOutcome)).toBe('INTENT_VALIDATION_FAILED');
    expect((a1 as IntentOutcome & { status: 'rejected' }).error.details['rule']).toBe('fragile');
    expect(codeOf(a2 as IntentOutcome)).toBe('committed');
    expect([a0, a2].map((o) => (o as IntentOutcome & { status: 'committed' }).global_seq)).toEqual([1, 2]);
    expect(rt.entity('a1')?.['x']).toBe(20);
    // The runtime goes on, and the log replays to the same state.
    const next = rt.submit(move('a1', 1, 0, rt.viewSeq('a1')));
    await rt.flush();
    expect(codeOf(await next)).toBe('committed');
    const effects = [...log.records()].filter((r) => r.kind === 'effect').map((r) => (parseJsonBytes(r.payload, 'effect') as Effect).global_seq);
    expect(effects).toEqual([1, 2, 3]);
    const r = await replayWorld(world, log.reopen(), { verifyDeterminism: true });
    expect(r.ok).toBe(true);
    expect(r.stateHash).toBe(rt.stateHash());
  });

  it("rejects an intent whose kind's validate throws", async () => {
    const world = planeWorld([[10, 10]], {
      handlers: {
        Poke: {
          shape: () => undefined,
          validate: () => {
            throw new Error('validate bug');
          },
          apply: (_p, m, ctx) => m.set(ctx.source_id, { poked: true }),
        },
      },
    });
    const { rt } = await openWorld(world, { agents: ['a0'] });
    const p = rt.submit({ req_id: 'p1', agent_id: 'a0', kind: 'Poke', payload: {}, context_seq: 0 });
    expect(await within(rt.flush())).not.toBe(PENDING);
    const o = await within(p);
    expect(o).not.toBe(PENDING);
    expect(codeOf(o as IntentOutcome)).toBe('INTENT_VALIDATION_FAILED');
    expect(rt.entity('a0')?.['poked']).toBeUndefined();
  });

  it('refuses an emitted effect whose payload has no JSON form before it is queued, leaving state and global_seq untouched', async () => {
    const world = planeWorld([[10, 10]]);
    const { rt, log } = await openWorld(world, { agents: ['a0'] });
    const hash = rt.stateHash();
    expect(() => rt.emit({ kind: 'SetAttributes', payload: { entity_id: 'a0', set: { hp: Number.NaN } }, source_id: 'narrator' })).toThrow(expect.objectContaining({ codeName: 'INVALID_INTENT' }));
    const good = rt.emit({ kind: 'SetAttributes', payload: { entity_id: 'a0', set: { hp: 5 } }, source_id: 'narrator' });
    expect(await within(rt.flush())).not.toBe(PENDING);
    expect(await within(good)).toMatchObject({ status: 'committed', effect: { global_seq: 1 } });
    expect(rt.entity('a0')?.['hp']).toBe(5);
    expect(rt.stateHash()).not.toBe(hash);
    const r = await replayWorld(world, log.reopen(), { verifyDeterminism: true });
    expect(r.ok).toBe(true);
    expect(r.stateHash).toBe(rt.stateHash());
  });

  it('a world system that throws fails the tick as a rejected promise (not a synchronous throw), committing nothing', async () => {
    let broken = false;
    const world = planeWorld([[10, 10]], {
      systems: [
        {
          name: 'npc',
          run: () => {
            if (broken) throw new Error('system bug');
            return [];
          },
        },
      ],
    });
    const { rt } = await openWorld(world, { agents: ['a0'] });
    const p = rt.submit(move('a0', 1, 0, 0));
    broken = true;
    let tick: Promise<unknown> | undefined;
    expect(() => (tick = rt.tick())).not.toThrow();
    await expect(tick).rejects.toThrow(/system bug/);
    expect(rt.lastGlobalSeq).toBe(0);
    expect(rt.currentTick).toBe(0);
    // The intent still waits, and commits once the system is fixed.
    broken = false;
    await rt.tick();
    expect(codeOf(await p)).toBe('committed');
  });
});
