import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdempotencyIndex, type IndexEntry } from '../../server/core/idempotency.js';
import { WorldRuntime } from '../../server/core/runtime.js';
import type { IntentOutcome } from '../../server/core/types.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

const world = planeWorld([[10, 10], [20, 20]], {
  validators: [{ rule: 'no_west', kinds: ['Move'], check: (d) => (((d.payload as { dx?: number }).dx ?? 0) < 0 ? 'moving west is forbidden' : undefined) }],
});

describe('idempotency', () => {
  it('gives a retried (agent, req_id) the same outcome, including global_seq, before and after a restart', async () => {
    const { rt, log, clock } = await openWorld(world, { agents: ['a0', 'a1'] });
    const ok = rt.submit({ req_id: 'same', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
    const bad = rt.submit({ req_id: 'west', agent_id: 'a0', kind: 'Move', payload: { dx: -1, dy: 0 }, context_seq: 0 });
    const inflightRetry = rt.submit({ req_id: 'same', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
    await rt.flush();
    const first = await ok;
    expect(first.status).toBe('committed');
    expect(await inflightRetry).toBe(first);
    const seq = first.status === 'committed' ? first.global_seq : -1;
    const retry = await rt.submit({ req_id: 'same', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
    expect(retry.status === 'committed' && retry.global_seq).toBe(seq);
    const rejected = await bad;
    expect(rejected.status === 'rejected' && rejected.error.name).toBe('INTENT_VALIDATION_FAILED');

    // Restart: a new runtime over the same stored records.
    const rt2 = await WorldRuntime.open({ world, log: log.reopen(), clock });
    const again = await rt2.submit({ req_id: 'same', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
    expect(again.status === 'committed' && again.global_seq).toBe(seq);
    const badAgain = await rt2.submit({ req_id: 'west', agent_id: 'a0', kind: 'Move', payload: { dx: -1, dy: 0 }, context_seq: 0 });
    expect(badAgain).toEqual(rejected);
    const dup = await rt2.submit({ req_id: 'same', agent_id: 'a0', kind: 'Move', payload: { dx: 2, dy: 0 }, context_seq: 0 });
    expect(dup.status === 'rejected' && dup.error.name).toBe('DUPLICATE_REQ_ID');
    expect(rt2.stateHash()).toBe(rt.stateHash());
    expect(rt2.lastGlobalSeq).toBe(rt.lastGlobalSeq);

    // New work continues the sequence with no gap and no reused uuid.
    const next = rt2.submit(move('a0', 1, 0, rt2.obs.viewSeq('a0')));
    await rt2.flush();
    const n = await next;
    expect(n.status === 'committed' && n.global_seq).toBe(rt.lastGlobalSeq + 1);
    expect(n.status === 'committed' && n.uuid).not.toBe(first.status === 'committed' && first.uuid);
  });

  it('does not record a stale rejection: the retry with the same req_id and a fresh context commits (gunn bug)', async () => {
    const { rt } = await openWorld(world, { agents: ['a0', 'a1'] });
    const m = rt.submit(move('a1', 1, 1, 0));
    await rt.flush();
    await m;
    const stale = await rt.submit({ req_id: 'k', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
    expect(stale.status === 'rejected' && stale.error.name).toBe('STALE_CONTEXT');
    const p = rt.submit({ req_id: 'k', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: rt.obs.viewSeq('a0') });
    await rt.flush();
    expect((await p).status).toBe('committed');
  });

  it('restores the index, views and view_seqs from a snapshot plus the records after it', async () => {
    const { rt, log, clock } = await openWorld(world, { agents: ['a0', 'a1'] });
    const a = rt.submit({ req_id: 's1', agent_id: 'a0', kind: 'Move', payload: { dx: 3, dy: 0 }, context_seq: 0 });
    await rt.flush();
    await a;
    await rt.snapshot();
    const b = rt.submit({ req_id: 's2', agent_id: 'a1', kind: 'Move', payload: { dx: 3, dy: 0 }, context_seq: rt.obs.viewSeq('a1') });
    await rt.tick();
    await b;
    expect(log.latestSnapshot()).toBeDefined();
    const rt2 = await WorldRuntime.open({ world, log: log.reopen(), clock });
    expect(rt2.stateHash()).toBe(rt.stateHash());
    for (const id of ['a0', 'a1']) {
      expect(rt2.observe(id)).toEqual(rt.observe(id));
      expect(rt2.obs.viewSeq(id)).toBe(rt.obs.viewSeq(id));
    }
    const r1 = await rt2.submit({ req_id: 's1', agent_id: 'a0', kind: 'Move', payload: { dx: 3, dy: 0 }, context_seq: 0 });
    expect(r1.status === 'committed' && r1.global_seq).toBe(1);
    const r2 = await rt2.submit({ req_id: 's2', agent_id: 'a1', kind: 'Move', payload: { dx: 3, dy: 0 }, context_seq: 0 });
    expect(r2.status).toBe('committed');
  });
});

describe('idempotency index', () => {
  type Op = { agent: string; req: string; digest: string; outcome: 'committed' | 'rejected'; seq: number };
  const op = fc.record({
    agent: fc.constantFrom('a0', 'a1', 'a2', 'agent-with-a-longer-id'),
    req: fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: 0, max: 3000 }).map((n) => `q${n}`)),
    digest: fc.constantFrom('d1', 'd2'),
    outcome: fc.constantFrom('committed' as const, 'rejected' as const),
    seq: fc.integer({ min: 1, max: 1e6 }),
  });
  const outcomeOf = (o: Op): IntentOutcome =>
    o.outcome === 'committed'
      ? { status: 'committed', agent_id: o.agent, req_id: o.req, global_seq: o.seq, uuid: `u${o.seq}`, sim_time: o.seq / 4 }
      : { status: 'rejected', agent_id: o.agent, req_id: o.req, error: { code: 1, name: 'INTENT_VALIDATION_FAILED', message: `no ${o.seq}`, details: {} } };

  /** The index as nested Maps: what it must answer, and toJSON's order (agents by first record, entries by first record). */
  function model(ops: readonly Op[]): Map<string, Map<string, IndexEntry>> {
    const m = new Map<string, Map<string, IndexEntry>>();
    for (const o of ops) {
      if (!m.has(o.agent)) m.set(o.agent, new Map());
      m.get(o.agent)!.set(o.req, { digest: o.digest, outcome: outcomeOf(o) as IndexEntry['outcome'] });
    }
    return m;
  }

  // The key hash decides only where entries sit: a perfect one, one that makes everything collide, and one with few
  // values (long probe runs that make the table reseed, in vain, then keep them) must all give the same answers.
  const hashes: Array<[string, ((agent: number, req: string, seed: number) => number) | undefined]> = [
    ['the seeded hash', undefined],
    ['a constant hash', () => 7],
    ['a hash with 5 values', (agent, req, seed) => (agent + req.length + seed) % 5],
  ];
  for (const [name, hash] of hashes) {
    it(`answers like nested Maps, and lists entries in the same order, with ${name}`, () => {
      fc.assert(
        fc.property(fc.array(op, { maxLength: 400 }), fc.array(op, { maxLength: 50 }), (ops, probes) => {
          const idx = new IdempotencyIndex(hash);
          for (const o of ops) {
            if (o.outcome === 'committed') idx.recordCommitted(o.agent, o.req, o.digest, o.seq, `u${o.seq}`, o.seq / 4);
            else idx.record(o.agent, o.req, o.digest, outcomeOf(o));
          }
          const m = model(ops);
          expect(idx.size).toBe([...m.values()].reduce((n, x) => n + x.size, 0));
          for (const o of [...ops, ...probes]) expect(idx.get(o.agent, o.req)).toEqual(m.get(o.agent)?.get(o.req));
          const listed = [...m.values()].flatMap((x) => [...x.values()]);
          expect(idx.toJSON()).toEqual(listed);
          expect(IdempotencyIndex.fromJSON(idx.toJSON()).toJSON()).toEqual(listed);
        }),
        { numRuns: hash ? 100 : 300 },
      );
    });
  }

  it('keeps every entry findable as it grows past a million', () => {
    const idx = new IdempotencyIndex();
    const agents = ['a0', 'a1', 'a2'];
    for (let i = 0; i < 1_100_000; i++) idx.recordCommitted(agents[i % 3]!, `r${i}`, 'd', i + 1, 'u', 0);
    expect(idx.size).toBe(1_100_000);
    for (let i = 0; i < 1_100_000; i += 997) expect(idx.get(agents[i % 3]!, `r${i}`)?.outcome).toMatchObject({ global_seq: i + 1 });
    expect(idx.get('a0', 'r1')).toBeUndefined();
    expect(idx.get('nobody', 'r0')).toBeUndefined();
  });
});
