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

describe('idempotency window', () => {
  it('keeps each agent its last idempotencyWindow outcomes, rebuilds the same window after a restart, and judges an older retry afresh', async () => {
    const windowed = planeWorld([[10, 10], [20, 20]], { policies: { observation: { distance: { radius: 100 } }, stateHashEvery: 5, idempotencyWindow: 2 } });
    const { rt, log, clock } = await openWorld(windowed, { agents: ['a0', 'a1'] });
    const seqs: number[] = [];
    for (const req of ['w1', 'w2', 'w3']) {
      const p = rt.submit({ req_id: req, agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: rt.obs.viewSeq('a0') });
      await rt.flush();
      const r = await p;
      seqs.push(r.status === 'committed' ? r.global_seq : -1);
    }
    // a1's outcome is its own: a0's three do not push it out.
    const other = rt.submit({ req_id: 'w1', agent_id: 'a1', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: rt.obs.viewSeq('a1') });
    await rt.flush();
    const otherSeq = ((await other) as { global_seq: number }).global_seq;
    expect(rt.index.size).toBe(3);

    for (const r of [rt, await WorldRuntime.open({ world: windowed, log: log.reopen(), clock })]) {
      expect(r.index.size).toBe(3);
      const w3 = await r.submit({ req_id: 'w3', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
      expect(w3.status === 'committed' && w3.global_seq).toBe(seqs[2]);
      const w2 = await r.submit({ req_id: 'w2', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
      expect(w2.status === 'committed' && w2.global_seq).toBe(seqs[1]);
      const a1 = await r.submit({ req_id: 'w1', agent_id: 'a1', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
      expect(a1.status === 'committed' && a1.global_seq).toBe(otherSeq);
      // w1 left a0's window: judged like a new intent, and its old context is stale (the default threshold is 0).
      const w1 = await r.submit({ req_id: 'w1', agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 });
      expect(w1.status === 'rejected' && w1.error.name).toBe('STALE_CONTEXT');
    }
  });
});

describe('idempotency index', () => {
  type Op = { agent: string; req: string; digest: string; outcome: 'committed' | 'rejected'; seq: number };
  const op = fc.record({
    agent: fc.constantFrom('a0', 'a1', 'a2', 'agent-with-a-longer-id'),
    req: fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: 0, max: 3000 }).map((n) => `q${n}`)),
    // Digests and uuids of the lengths the server makes (22 and 36 characters: kept as bytes), including characters
    // past latin1 and other lengths (kept as strings), so an entry can move between the two forms when overwritten.
    digest: fc.constantFrom('d1', 'd2', 'qBGyfGAgMn_WfZ_poZHHxy', '3hAgUFaAOFrYN0KiQdqwe4', 'é'.repeat(22), '€'.repeat(22)),
    outcome: fc.constantFrom('committed' as const, 'rejected' as const),
    seq: fc.integer({ min: 1, max: 1e6 }),
  });
  const uuidOf = (seq: number): string => (seq % 3 === 0 ? `u${seq}` : `${seq % 5 === 0 ? '€' : 'u'}${String(seq).padStart(35, '0')}`);
  const outcomeOf = (o: Op): IntentOutcome =>
    o.outcome === 'committed'
      ? { status: 'committed', agent_id: o.agent, req_id: o.req, global_seq: o.seq, uuid: uuidOf(o.seq), sim_time: o.seq / 4 }
      : { status: 'rejected', agent_id: o.agent, req_id: o.req, error: { code: 1, name: 'INTENT_VALIDATION_FAILED', message: `no ${o.seq}`, details: {} } };

  /**
   * The index as nested Maps: what it must answer, and toJSON's order (agents by first record, entries by first
   * record). With a window, recording a new req_id for an agent that has `perAgent` forgets that agent's oldest.
   */
  function model(ops: readonly Op[], perAgent = Infinity): Map<string, Map<string, IndexEntry>> {
    const m = new Map<string, Map<string, IndexEntry>>();
    for (const o of ops) {
      if (!m.has(o.agent)) m.set(o.agent, new Map());
      const mine = m.get(o.agent)!;
      if (!mine.has(o.req) && mine.size >= perAgent) mine.delete(mine.keys().next().value as string);
      mine.set(o.req, { digest: o.digest, outcome: outcomeOf(o) as IndexEntry['outcome'] });
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
    for (const perAgent of [undefined, 1, 7]) {
      it(`answers like nested Maps, and lists entries in the same order, with ${name} and ${perAgent ?? 'no'} window per agent`, () => {
        fc.assert(
          fc.property(fc.array(op, { maxLength: 400 }), fc.array(op, { maxLength: 50 }), (ops, probes) => {
            const idx = new IdempotencyIndex({ keyHash: hash, perAgent });
            for (const o of ops) {
              if (o.outcome === 'committed') idx.recordCommitted(o.agent, o.req, o.digest, o.seq, uuidOf(o.seq), o.seq / 4);
              else idx.record(o.agent, o.req, o.digest, outcomeOf(o));
            }
            const m = model(ops, perAgent);
            expect(idx.size).toBe([...m.values()].reduce((n, x) => n + x.size, 0));
            for (const o of [...ops, ...probes]) expect(idx.get(o.agent, o.req)).toEqual(m.get(o.agent)?.get(o.req));
            const listed = [...m.values()].flatMap((x) => [...x.values()]);
            expect(idx.toJSON()).toEqual(listed);
            expect(IdempotencyIndex.fromJSON(idx.toJSON(), { perAgent }).toJSON()).toEqual(listed);
          }),
          { numRuns: hash ? 60 : 200 },
        );
      });
    }
  }

  it('finds every entry recorded while the table grows (the entry that triggers a growth included)', () => {
    const idx = new IdempotencyIndex();
    const digest = (i: number): string => String(i).padStart(22, 'd');
    const uuid = (i: number): string => String(i).padStart(36, 'u');
    for (let i = 0; i < 20_000; i++) idx.recordCommitted('a', `r${i}`, digest(i), i + 1, uuid(i), 0);
    const lost: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const e = idx.get('a', `r${i}`);
      if (e?.outcome.status !== 'committed' || e.digest !== digest(i) || e.outcome.uuid !== uuid(i)) lost.push(i);
    }
    expect(lost).toEqual([]);
  });

  it('keeps its size bounded by the window while an agent records far more, and reuses forgotten entries', () => {
    const idx = new IdempotencyIndex({ perAgent: 1000 });
    for (let i = 0; i < 200_000; i++) idx.recordCommitted(i % 10 === 0 ? 'quiet' : 'flood', `r${i}`, 'd', i + 1, 'u', 0);
    expect(idx.size).toBe(2000);
    // The flooding agent forgot its oldest; the quiet one keeps its last 1,000, whatever the other recorded.
    expect(idx.get('flood', 'r1')).toBeUndefined();
    expect(idx.get('flood', 'r199999')?.outcome).toMatchObject({ global_seq: 200_000 });
    expect(idx.get('quiet', 'r190000')?.outcome).toMatchObject({ global_seq: 190_001 });
    expect(idx.get('quiet', 'r189990')).toBeUndefined();
    expect(idx.toJSON().length).toBe(2000);
  });

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
