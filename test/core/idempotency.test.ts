import { describe, expect, it } from 'vitest';
import { WorldRuntime } from '../../server/core/runtime.js';
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
