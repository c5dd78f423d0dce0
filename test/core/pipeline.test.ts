import { describe, expect, it } from 'vitest';
import { parseJsonBytes } from '../../server/core/canonical.js';
import type { Effect } from '../../server/core/types.js';
import { MAX_EMITS_WAITING, WorldRuntime } from '../../server/core/runtime.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';
import { MemoryLog } from './helpers/memory-log.js';

describe('commit pipeline', () => {
  it('hands a quantum\'s records to the log\'s writer after its last append and before it builds the deltas', async () => {
    const events: string[] = [];
    class SpyLog extends MemoryLog {
      override append(kind: string, payload: Uint8Array): ReturnType<MemoryLog['append']> {
        events.push(`append ${kind}`);
        return super.append(kind, payload);
      }
      startWrite(): void {
        events.push('startWrite');
      }
    }
    const world = planeWorld([[0, 0], [10, 0]], { policies: { observation: { distance: { radius: 100 } }, stateHashEvery: 2 } });
    const { rt } = await openWorld(world, { log: new SpyLog('w1', world.seed), agents: ['a0', 'a1'] });
    const obs = (rt as unknown as { obs: { flush: (...a: unknown[]) => unknown } }).obs;
    const flush = obs.flush.bind(obs);
    obs.flush = (...a: unknown[]) => {
      events.push('deltas');
      return flush(...a);
    };
    events.length = 0;
    const ps = [rt.submit(move('a0', 1, 0, 0)), rt.submit(move('a1', 0, 1, 0))];
    await rt.flush();
    await Promise.all(ps);
    // Two effects, then the state hash due every 2 effects: all appended, then the write begins, then the deltas.
    expect(events).toEqual(['append effect', 'append effect', 'append state-hash', 'startWrite', 'deltas']);
  });

  it('numbers committed effects without gaps and logs every field', async () => {
    const { rt, log } = await openWorld(planeWorld([[10, 10], [20, 20], [500, 500]]), { agents: ['a0', 'a1', 'a2'] });
    const outs = [];
    for (let i = 0; i < 5; i++) for (const a of ['a0', 'a1', 'a2']) outs.push(rt.submit(move(a, 1, 0, rt.obs.viewSeq(a))));
    await rt.flush();
    await rt.tick();
    const results = await Promise.all(outs);
    expect(results.every((r) => r.status === 'committed')).toBe(true);
    const effects = [...log.records()].filter((r) => r.kind === 'effect').map((r) => parseJsonBytes(r.payload, 'effect') as Effect);
    expect(effects.map((e) => e.global_seq)).toEqual(effects.map((_, i) => i + 1));
    const first = effects[0] as Effect;
    for (const k of ['uuid', 'kind', 'payload', 'global_seq', 'sim_time', 'wall_time', 'source_id', 'req_id', 'agent_id', 'world_id', 'schema_version']) expect(first).toHaveProperty(k);
    expect(rt.state().entities['a0']?.['x']).toBe(15);
  });

  it('orders a quantum by priority, then source, then uuid (submission order within a source)', async () => {
    const { rt } = await openWorld(planeWorld([[10, 10], [20, 20]]), { agents: ['a0', 'a1'] });
    const p1 = rt.submit(move('a1', 1, 0, 0));
    const p2 = rt.submit(move('a0', 1, 0, 0));
    const p3 = rt.submit(move('a0', 2, 0, 0));
    const p4 = rt.submit(move('a1', 1, 0, 0, { priority: 5 }));
    await rt.flush();
    const seqs = (await Promise.all([p1, p2, p3, p4])).map((o) => (o.status === 'committed' ? o.global_seq : -1));
    expect(seqs).toEqual([4, 2, 3, 1]);
  });

  it('rejects a malformed intent with INVALID_INTENT and records nothing', async () => {
    const { rt, log } = await openWorld(planeWorld([[10, 10]]), { agents: ['a0'] });
    const before = log.lastSeq;
    const o = await rt.submit({ req_id: 'x', agent_id: 'a0', kind: 'Move', payload: { dx: 'far' }, context_seq: 0 });
    expect(o.status === 'rejected' && o.error.name).toBe('INVALID_INTENT');
    expect(log.lastSeq).toBe(before);
    // Nothing was recorded for req_id x, so a corrected intent with the same req_id is evaluated afresh.
    const p2 = rt.submit({ req_id: 'x', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 1 }, context_seq: 0 });
    await rt.flush();
    expect((await p2).status).toBe('committed');
  });

  it('rejects a rule violation with INTENT_VALIDATION_FAILED naming the rule, leaving state untouched', async () => {
    const world = planeWorld([[10, 10], [20, 20]], {
      validators: [{ rule: 'no_east', kinds: ['Move'], check: (d) => ((d.payload as { dx?: number }).dx ?? 0) > 0 ? 'moving east is forbidden' : undefined }],
    });
    const { rt } = await openWorld(world, { agents: ['a0'] });
    const hash = rt.stateHash();
    const p = rt.submit(move('a0', 5, 0, 0));
    await rt.flush();
    const o = await p;
    expect(o.status === 'rejected' && o.error.name).toBe('INTENT_VALIDATION_FAILED');
    expect(o.status === 'rejected' && o.error.details['rule']).toBe('no_east');
    expect(rt.stateHash()).toBe(hash);
    const p2 = rt.submit({ req_id: 'y', agent_id: 'a0', kind: 'Move', payload: { dx: -1, dy: 0, entity_id: 'a1' }, context_seq: 0 });
    await rt.flush();
    const own = await p2;
    expect(own.status === 'rejected' && own.error.details['rule']).toBe('own_entity');
    expect(rt.stateHash()).toBe(hash);
  });

  it('resolves only after the log append is durable', async () => {
    const { rt, log } = await openWorld(planeWorld([[10, 10]]), { agents: ['a0'] });
    log.hold = true;
    let settled = false;
    const p = rt.submit(move('a0', 1, 0, 0)).then((o) => ((settled = true), o));
    const q = rt.flush();
    await new Promise((r) => setTimeout(r, 5));
    expect(settled).toBe(false);
    log.release();
    await q;
    expect((await p).status).toBe('committed');
  });

  it('fails every waiting intent with the log error when an append fails', async () => {
    const { rt, log } = await openWorld(planeWorld([[10, 10]]), { agents: ['a0'] });
    log.failWith = new Error('disk full');
    const p = rt.submit(move('a0', 1, 0, 0));
    await expect(rt.flush()).rejects.toThrow(/disk full/);
    const o = await p;
    expect(o.status).toBe('rejected');
    const later = await rt.submit(move('a0', 1, 0, 0));
    expect(later.status).toBe('rejected');
  });

  it('refuses a log created for another seed', async () => {
    const world = planeWorld([[1, 1]]);
    const { log } = await openWorld(world);
    const other = planeWorld([[1, 1]], { seed: 99 });
    await expect(WorldRuntime.open({ world: other, log: log.reopen(), clock: { now: () => 0 } })).rejects.toThrow(/seed/);
  });

  it('bounds the effects emitted for the next quantum: one past MAX_EMITS_WAITING is QUEUE_FULL, the rest commit', async () => {
    const { rt } = await openWorld(planeWorld([[10, 10]]), { agents: [] });
    const waiting: Array<Promise<unknown>> = [];
    for (let i = 0; i < MAX_EMITS_WAITING; i++) waiting.push(rt.emit({ kind: 'Speak', payload: { entity_id: 'a0', text: 'x' }, source_id: 'narrator' }));
    expect(await rt.emit({ kind: 'Speak', payload: { entity_id: 'a0', text: 'one too many' }, source_id: 'narrator' })).toMatchObject({ status: 'rejected', error: { name: 'QUEUE_FULL', details: { max_waiting: MAX_EMITS_WAITING } } });
    await rt.flush();
    expect(await waiting[0]).toMatchObject({ status: 'committed' });
    expect(await waiting[MAX_EMITS_WAITING - 1]).toMatchObject({ status: 'committed' });
  }, 60_000);
});
