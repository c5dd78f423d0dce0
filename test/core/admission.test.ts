import { describe, expect, it } from 'vitest';
import type { IntentOutcome } from '../../server/core/types.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

const codeOf = (o: IntentOutcome): string => (o.status === 'rejected' ? o.error.name : o.status);

describe('admission stages', () => {
  it('rejects a stale context with STALE_CONTEXT naming only events the agent could see', async () => {
    // a0 and a1 are within 100 of each other; a2 is far away.
    const { rt } = await openWorld(planeWorld([[10, 10], [20, 20], [800, 800]]), { agents: ['a0', 'a1', 'a2'] });
    const far = [rt.submit(move('a2', 1, 0, 0)), rt.submit(move('a2', 1, 0, 0))];
    await rt.flush();
    await Promise.all(far);
    expect(rt.obs.viewSeq('a0')).toBe(0);
    const near = rt.submit(move('a1', 1, 0, 0));
    await rt.flush();
    const committed = await near;
    const o = await rt.submit(move('a0', 1, 0, 0));
    expect(codeOf(o)).toBe('STALE_CONTEXT');
    const due = o.status === 'rejected' ? (o.error.details['stale_due_to'] as Array<{ seq: number; kind: string }>) : [];
    const gseq = committed.status === 'committed' ? committed.global_seq : -1;
    // global_seq as the Cancelled frame names it, and seq, its first name in these details.
    expect(due).toEqual([{ global_seq: gseq, view_seq: 1, kind: 'Move', seq: gseq }]);
    const ahead = await rt.submit(move('a0', 1, 0, 9));
    expect(codeOf(ahead)).toBe('INVALID_VIEW_SEQ');
  });

  it('says which rule a malformed Move broke: a missing axis, a non-number, a coordinate out of range', async () => {
    const { rt } = await openWorld(planeWorld([[10, 10]]), { agents: ['a0'] });
    const refusal = async (payload: Record<string, unknown>): Promise<string> => {
      const o = await rt.submit({ ...move('a0', 0, 0, 0), payload });
      return o.status === 'rejected' ? `${o.error.name}: ${o.error.message}` : o.status;
    };
    // A step along one axis used to be answered "Move coordinates must be finite numbers.", though 3 is one.
    expect(await refusal({ dx: 3 })).toMatch(/^INVALID_INTENT: .*Move needs both dx and dy \(0 for an axis that does not change\)/);
    expect(await refusal({ y: 3 })).toMatch(/Move needs both x and y/);
    expect(await refusal({ dx: 3, dy: 'north' })).toMatch(/Move dx and dy must be finite numbers/);
    expect(await refusal({ x: 2e9, y: 0 })).toMatch(/Move x and y must be within 1000000000 of 0/);
  });

  it('tolerates staleness up to the class threshold', async () => {
    const world = planeWorld([[10, 10], [20, 20]], { policies: { observation: { distance: { radius: 100 } }, agentClasses: { default: { stalenessThreshold: 2 } } } });
    const { rt } = await openWorld(world, { agents: ['a0', 'a1'] });
    for (let i = 0; i < 2; i++) {
      const p = rt.submit(move('a1', 1, 0, rt.obs.viewSeq('a1')));
      await rt.flush();
      await p;
    }
    const ok = rt.submit(move('a0', 1, 0, 0));
    await rt.flush();
    expect(codeOf(await ok)).toBe('committed');
    const p = rt.submit(move('a1', 1, 0, rt.obs.viewSeq('a1')));
    await rt.flush();
    await p;
    expect(codeOf(await rt.submit(move('a0', 1, 0, 0)))).toBe('STALE_CONTEXT');
  });

  it('enforces agent and tenant quotas with QUOTA_EXCEEDED and refills over time', async () => {
    const world = planeWorld([[10, 10], [500, 500], [900, 900]], {
      policies: { observation: { distance: { radius: 10 } }, agentClasses: { default: { quota: { rate: 1, burst: 2 }, stalenessThreshold: 100 } }, tenantQuota: { rate: 1, burst: 3 } },
    });
    const { rt, clock } = await openWorld(world);
    await rt.registerAgent('a0', { tenant: 't1' });
    await rt.registerAgent('a1', { tenant: 't1' });
    await rt.registerAgent('a2', { tenant: 't2' });
    const outs = [rt.submit(move('a0', 1, 0, 0)), rt.submit(move('a0', 1, 0, 0))];
    const third = await rt.submit(move('a0', 1, 0, 0));
    expect(codeOf(third)).toBe('QUOTA_EXCEEDED');
    expect(third.status === 'rejected' && third.error.details['scope']).toBe('agent');
    outs.push(rt.submit(move('a1', 1, 0, 0)));
    const tenant = await rt.submit(move('a1', 1, 0, 0));
    expect(tenant.status === 'rejected' && tenant.error.details['scope']).toBe('tenant');
    outs.push(rt.submit(move('a2', 1, 0, 0)));
    clock.advance(1000);
    outs.push(rt.submit(move('a0', 1, 0, 0)));
    await rt.flush();
    expect((await Promise.all(outs)).map(codeOf)).toEqual(['committed', 'committed', 'committed', 'committed', 'committed']);
  });

  it('applies each backpressure policy with QUEUE_FULL', async () => {
    const world = planeWorld([[10, 10], [500, 500], [900, 900]], {
      policies: {
        observation: { distance: { radius: 10 } },
        agentClasses: { shed: { queueLimit: 2, backpressure: 'shed_oldest' }, drop: { queueLimit: 2, backpressure: 'drop_newest' }, defer: { queueLimit: 2 } },
      },
    });
    const { rt } = await openWorld(world);
    await rt.registerAgent('a0', { agentClass: 'shed' });
    await rt.registerAgent('a1', { agentClass: 'drop' });
    await rt.registerAgent('a2', { agentClass: 'defer' });
    const shed = [0, 1, 2].map(() => rt.submit(move('a0', 1, 0, 0)));
    const drop = [0, 1, 2].map(() => rt.submit(move('a1', 1, 0, 0)));
    const defer = [0, 1, 2, 3, 4].map(() => rt.submit(move('a2', 1, 0, 0)));
    await rt.flush();
    await rt.flush();
    expect((await Promise.all(shed)).map(codeOf)).toEqual(['QUEUE_FULL', 'committed', 'committed']);
    // Both refusals say which limit was hit, the shed one as the dropped newest does.
    const details = async (ps: Array<Promise<IntentOutcome>>): Promise<unknown[]> => (await Promise.all(ps)).flatMap((o) => (o.status === 'rejected' ? [o.error.details] : []));
    expect(await details(shed)).toEqual([expect.objectContaining({ shed: true, queue_limit: 2 })]);
    expect(await details(drop)).toEqual([expect.objectContaining({ queue_limit: 2 })]);
    expect((await Promise.all(drop)).map(codeOf)).toEqual(['committed', 'committed', 'QUEUE_FULL']);
    expect((await Promise.all(defer)).map(codeOf)).toEqual(['committed', 'committed', 'committed', 'committed', 'QUEUE_FULL']);
  });

  it('keeps a flooding agent from delaying another by more than one round', async () => {
    const world = planeWorld([[10, 10], [900, 900], [500, 500]], {
      policies: { observation: { distance: { radius: 10 } }, maxIntentsPerQuantum: 4, agentClasses: { default: { queueLimit: 1000, stalenessThreshold: 1000 }, heavy: { weight: 2, queueLimit: 1000 } } },
    });
    const { rt } = await openWorld(world, { agents: ['a0', 'a1'] });
    await rt.registerAgent('a2', { agentClass: 'heavy' });
    const flood = Array.from({ length: 100 }, () => rt.submit(move('a0', 0.1, 0, 0)));
    const quiet = rt.submit(move('a1', 1, 0, 0));
    const report = await rt.flush();
    const q = await quiet;
    expect(codeOf(q)).toBe('committed');
    expect(report.committed).toBe(4);
    // A weight-2 agent gets two picks per round against the flooder's one.
    const heavy = Array.from({ length: 4 }, () => rt.submit(move('a2', 1, 0, 0)));
    await rt.flush();
    const settled = await Promise.race([Promise.all(heavy.slice(0, 2)), new Promise((r) => setTimeout(() => r('pending'), 20))]);
    expect(settled).not.toBe('pending');
    void flood;
  });

  it('fails an intent that passes its deadline before commit with OPERATION_TIMEOUT', async () => {
    const { rt, clock } = await openWorld(planeWorld([[10, 10]]), { agents: ['a0'] });
    const late = rt.submit(move('a0', 1, 0, 0, { deadline_ms: 10 }));
    const fine = rt.submit(move('a0', 1, 0, 0, { deadline_ms: 1000 }));
    clock.advance(50);
    await rt.flush();
    expect(codeOf(await late)).toBe('OPERATION_TIMEOUT');
    expect(codeOf(await fine)).toBe('committed');
  });
});
