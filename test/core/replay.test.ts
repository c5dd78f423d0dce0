import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, encodeEffect } from '../../server/core/canonical.js';
import { replayWorld } from '../../server/core/replay.js';
import { WorldRuntime } from '../../server/core/runtime.js';
import { defineWorld } from '../../server/core/world.js';
import { arenaEntityId, makeArena } from '../../server/worlds/arena.js';
import { MemoryLog, ManualClock } from './helpers/memory-log.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

async function runArena(ticks: number, log: MemoryLog, clock: ManualClock, world = makeArena({ entities: 30, size: 300 })): Promise<WorldRuntime> {
  const rt = await WorldRuntime.open({ world, log, clock });
  for (const i of [0, 1, 2]) await rt.registerAgent(arenaEntityId(i));
  for (let t = 0; t < ticks; t++) {
    for (const i of [0, 1, 2]) void rt.submit(move(arenaEntityId(i), 1, -1, rt.obs.viewSeq(arenaEntityId(i))));
    clock.advance(50);
    await rt.tick();
  }
  return rt;
}

describe('replay', () => {
  it('rebuilds state, global_seq and every view from the log', async () => {
    const log = new MemoryLog('arena-1', '42');
    const rt = await runArena(12, log, new ManualClock());
    const r = await replayWorld(makeArena({ entities: 30, size: 300 }), log.reopen(), { verifyDeterminism: true });
    expect(r.ok).toBe(true);
    expect(r.globalSeq).toBe(rt.lastGlobalSeq);
    expect(r.stateHash).toBe(rt.stateHash());
    for (const id of rt.agents.keys()) expect(r.runtime.observe(id)).toEqual(rt.observe(id));
  });

  it('resumes the random walk exactly after a restart mid-run', async () => {
    const straight = await runArena(10, new MemoryLog('arena-1', '42'), new ManualClock());
    const log = new MemoryLog('arena-1', '42');
    const clock = new ManualClock();
    await runArena(4, log, clock);
    const resumed = await WorldRuntime.open({ world: makeArena({ entities: 30, size: 300 }), log: log.reopen(), clock });
    for (let t = 0; t < 6; t++) {
      for (const i of [0, 1, 2]) void resumed.submit(move(arenaEntityId(i), 1, -1, resumed.obs.viewSeq(arenaEntityId(i))));
      clock.advance(50);
      await resumed.tick();
    }
    expect(resumed.stateHash()).toBe(straight.stateHash());
  });

  it('names the first state-hash record that diverges when the world code changed', async () => {
    const grow = (bonusFrom: number): ReturnType<typeof defineWorld> =>
      defineWorld({
        name: 'grow',
        seed: 3,
        initialState: { entities: { a0: { x: 0, y: 0, hp: 100 } } },
        handlers: {
          Grow: {
            shape: () => undefined,
            apply(_p, m) {
              const hp = m.get('a0')?.['hp'] as number;
              m.set('a0', { hp: hp + (hp >= bonusFrom ? 2 : 1) });
            },
          },
        },
        policies: { stateHashEvery: 1 },
      });
    const { rt, log } = await openWorld(grow(Infinity), { agents: ['a0'] });
    for (let i = 0; i < 6; i++) {
      void rt.emit({ kind: 'Grow', payload: null, source_id: 'sun' });
      await rt.flush();
    }
    // The changed code adds 2 once hp reaches 103: the 4th Grow (global_seq 4) is the first to differ.
    const r = await replayWorld(grow(103), log.reopen());
    expect(r.ok).toBe(false);
    expect(r.divergence?.global_seq).toBe(4);
    await expect(WorldRuntime.open({ world: grow(103), log: log.reopen(), clock: new ManualClock() })).rejects.toThrow(/diverges at global_seq 4/);
    const okBefore = await replayWorld(grow(103), log.reopen(), { toSeq: 7 });
    expect(okBefore.ok).toBe(true);
    expect((await replayWorld(grow(Infinity), log.reopen(), { verifyDeterminism: true })).ok).toBe(true);
  });

  it('says which effects may hold the first divergence when state hashes are N effects apart', async () => {
    // Stamp writes what the world reads from outside (as an apply reading Date.now() would): the replay reads 2 from
    // the 6th Stamp on where the live run read 1 throughout.
    let outside = (_n: number): number => 1;
    const stamped = (every: number): ReturnType<typeof defineWorld> =>
      defineWorld({
        name: 'stamped',
        seed: 5,
        initialState: { entities: { a0: { x: 0, y: 0, n: 0 } } },
        handlers: {
          Stamp: {
            shape: () => undefined,
            apply(_p, m) {
              const n = (m.get('a0')?.['n'] as number) + 1;
              m.set('a0', { n, at: outside(n) });
            },
          },
        },
        policies: { stateHashEvery: every },
      });
    const live = async (every: number): Promise<MemoryLog> => {
      outside = () => 1;
      const { rt, log } = await openWorld(stamped(every), { agents: ['a0'] });
      for (let i = 0; i < 10; i++) void rt.emit({ kind: 'Stamp', payload: null, source_id: 'clock' });
      await rt.flush();
      await rt.snapshot();
      await rt.drain();
      return log;
    };
    // Hashes at global_seq 4 (matches) and 8 (differs): the 6th effect diverged, and the evidence says 5..8.
    const hashed = await live(4);
    outside = (n) => (n >= 6 ? 2 : 1);
    const r = await replayWorld(stamped(4), hashed.reopen(), { verifyDeterminism: true });
    expect(r.divergence).toMatchObject({ global_seq: 8, matched_global_seq: 4, reason: 'state hash differs' });
    // A restart that replays those records (here: to rebuild its resume tail) refuses to start, saying the same.
    await expect(WorldRuntime.open({ world: stamped(4), log: hashed.reopen(), clock: new ManualClock(), resumeTail: 100, onRestoredDeltas: () => undefined })).rejects.toThrow(
      /diverges at global_seq 8 \(log seq \d+\): state hash differs; the state last matched at global_seq 4, so the first divergent effect is one of global_seq 5\.\.8/,
    );
    // No state hashes: only the snapshot at the end shows it, and nothing narrows it down.
    const bare = await live(0);
    outside = (n) => (n >= 6 ? 2 : 1);
    const s = await replayWorld(stamped(0), bare.reopen(), { verifyDeterminism: true });
    expect(s.divergence).toMatchObject({ global_seq: 10, matched_global_seq: 0, reason: 'the snapshot does not match the state its records produce' });
    // Two replays that disagree name the very effect.
    let k = 0;
    outside = () => (++k === 5 ? 3 : 1);
    const t = await replayWorld(stamped(0), bare.reopen(), { verifyDeterminism: true });
    expect(t.divergence).toMatchObject({ global_seq: 3, matched_global_seq: 2 });
  });

  it('detects a non-deterministic apply function at the first differing effect', async () => {
    let flip = 0;
    const mk = (): ReturnType<typeof defineWorld> =>
      defineWorld({ name: 'nd', seed: 1, initialState: { entities: { a0: { x: 0, y: 0 } } }, handlers: { Roll: { shape: () => undefined, apply: (_p, m) => m.set('a0', { roll: flip++ % 3 === 2 ? 1 : 0 }) } }, policies: { stateHashEvery: 0 } });
    const { rt, log } = await openWorld(mk(), { agents: ['a0'] });
    for (let i = 0; i < 3; i++) void rt.emit({ kind: 'Roll', payload: null, source_id: 'dice' });
    await rt.flush();
    flip = 0;
    const r = await replayWorld(mk(), log.reopen(), { verifyDeterminism: true });
    expect(r.ok).toBe(false);
    expect(r.divergence?.reason).toMatch(/two replays disagree/);
  });

  it('detects a non-deterministic apply that changes metadata, relationships or a generator state, at its effect', async () => {
    let flip = 0;
    const odd = (): boolean => flip++ % 3 === 2;
    const mk = (): ReturnType<typeof defineWorld> =>
      defineWorld({
        name: 'nd2',
        seed: 1,
        initialState: { entities: { a0: { x: 0, y: 0 }, b0: { x: 1, y: 1 } } },
        handlers: {
          Meta: { shape: () => undefined, apply: (_p, m) => m.setMeta('roll', odd() ? 1 : 0) },
          Rel: { shape: () => undefined, apply: (_p, m) => (odd() ? m.relate('a0', 'b0') : m.unrelate('a0', 'b0')) },
          Rng: { shape: () => undefined, apply: (_p, m) => m.setRng('dice', odd() ? 1 : 0) },
        },
        policies: { stateHashEvery: 0 },
      });
    for (const kind of ['Meta', 'Rel', 'Rng']) {
      flip = 0;
      const { rt, log } = await openWorld(mk(), { agents: ['a0'] });
      for (let i = 0; i < 3; i++) void rt.emit({ kind, payload: null, source_id: 'dice' });
      await rt.flush();
      flip = 0;
      const r = await replayWorld(mk(), log.reopen(), { verifyDeterminism: true });
      expect([kind, r.ok]).toEqual([kind, false]);
      // The lockstep replays alternate draws (3,4 then 5,6): they first disagree at the second effect.
      expect(r.divergence?.global_seq).toBe(2);
    }
  });

  it('names the agent whose view a replay from the snapshot and one from the start disagree on (a predicate that is not deterministic)', async () => {
    // The predicate shows a1 for its first 6 calls only: a replay from the start, calling it again, shows a1 less.
    let calls = 0;
    const mk = (): ReturnType<typeof defineWorld> =>
      defineWorld({ name: 'peek', seed: 2, initialState: { entities: { a0: { x: 0, y: 0 }, a1: { x: 1, y: 0 } } }, policies: { observation: { predicates: [(_o, t) => t.id !== 'a1' || calls++ < 6] }, stateHashEvery: 0 } });
    const { rt, log } = await openWorld(mk(), { agents: ['a0'] });
    for (let i = 0; i < 10; i++) {
      void rt.emit({ kind: 'SetAttributes', payload: { entity_id: 'a1', set: { v: i } }, source_id: 'gm' });
      await rt.flush();
    }
    await rt.snapshot();
    await rt.drain();
    const r = await replayWorld(mk(), log.reopen(), { verifyDeterminism: true });
    expect(r.ok).toBe(false);
    expect(r.divergence?.reason).toMatch(/^replay from the snapshot differs from replay from the start on agent a0's view/);
    expect(r.divergence?.expected).not.toBe(r.divergence?.actual);
    expect(r.divergence?.actual).toContain(`view_seq ${rt.viewSeq('a0')}`);
  });

  it('property: replaying any run of random moves gives the same state and views', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: -30, max: 30 }), fc.integer({ min: -30, max: 30 }), fc.boolean()), { maxLength: 40 }), async (moves) => {
        const { rt, log } = await openWorld(planeWorld([[10, 10], [60, 60], [120, 120]]), { agents: ['a0', 'a1', 'a2'] });
        for (const [a, dx, dy, tick] of moves) {
          void rt.submit(move(`a${a}`, dx, dy, rt.obs.viewSeq(`a${a}`)));
          if (tick) await rt.tick();
          else await rt.flush();
          if (dx === 0) await rt.snapshot();
        }
        const r = await replayWorld(planeWorld([[10, 10], [60, 60], [120, 120]]), log.reopen(), { verifyDeterminism: true });
        expect(r.ok).toBe(true);
        expect(r.stateHash).toBe(rt.stateHash());
        for (const id of ['a0', 'a1', 'a2']) expect(r.runtime.observe(id)).toEqual(rt.observe(id));
      }),
      { numRuns: 40 },
    );
  });

  it('encodes effect records exactly as canonical JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.option(fc.string()), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (payload, req, seq) => {
        const e = { schema_version: '1.0.0', world_id: 'w', uuid: 'u', kind: 'K', payload: payload as never, global_seq: seq, sim_time: 3, wall_time: 4.5, source_id: 's', priority: -2, ...(req !== null ? { req_id: req, agent_id: 'a', intent_digest: 'd' } : {}) };
        expect(encodeEffect(e)).toBe(canonicalJson(e));
      }),
    );
  });
});
