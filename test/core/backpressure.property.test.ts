/**
 * Backpressure at the exact queue limit, against a model: defer (a second list of the same size that moves in as
 * the queue drains), shed_oldest and drop_newest, with cancellations and quanta of any budget in between. Every
 * submitter is told exactly once, and intents commit in arrival order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IntentOutcome } from '../../server/core/types.js';
import type { BackpressurePolicy } from '../../server/core/world.js';
import { openWorld, planeWorld } from './helpers/worlds.js';

type Op = { t: 'submit' } | { t: 'cancel'; back: number } | { t: 'flush' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ t: 'submit' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('cancel' as const), back: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 2, arbitrary: fc.constant({ t: 'flush' as const }) },
);

describe('backpressure (property)', () => {
  it('matches the model for every policy, limit and budget', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<BackpressurePolicy>('defer', 'shed_oldest', 'drop_newest'),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(opArb, { maxLength: 40 }),
        async (policy, limit, budget, ops) => {
          const world = planeWorld([[10, 10]], {
            policies: { observation: { distance: { radius: 10 } }, maxIntentsPerQuantum: budget, agentClasses: { default: { queueLimit: limit, backpressure: policy, stalenessThreshold: 1e6 } } },
          });
          const { rt } = await openWorld(world, { agents: ['a0'] });
          // The model: waiting intents in arrival order (the first `limit` are the queue, the rest deferred).
          let waiting: string[] = [];
          const expected = new Map<string, string>();
          const committedOrder: string[] = [];
          const got = new Map<string, Promise<IntentOutcome>>();
          const sent: string[] = [];
          let n = 0;
          for (const op of ops) {
            if (op.t === 'submit') {
              const req = `r${++n}`;
              sent.push(req);
              got.set(req, rt.submit({ req_id: req, agent_id: 'a0', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0 }));
              if (waiting.length < limit) waiting.push(req);
              else if (policy === 'drop_newest') expected.set(req, 'QUEUE_FULL');
              else if (policy === 'defer') {
                if (waiting.length < 2 * limit) waiting.push(req);
                else expected.set(req, 'QUEUE_FULL');
              } else {
                expected.set(waiting.shift() as string, 'QUEUE_FULL');
                waiting.push(req);
              }
            } else if (op.t === 'cancel') {
              const req = sent[sent.length - op.back];
              if (req === undefined) continue;
              const r = rt.cancel('a0', req);
              if (waiting.includes(req)) {
                expect(r.status).toBe('cancelled');
                waiting = waiting.filter((x) => x !== req);
                expected.set(req, 'cancelled');
              } else {
                expect(r.status).not.toBe('cancelled');
              }
            } else {
              const taken = waiting.slice(0, budget);
              waiting = waiting.slice(budget);
              for (const req of taken) {
                expected.set(req, 'committed');
                committedOrder.push(req);
              }
              await rt.flush();
            }
            expect(rt.pendingIntents).toBe(waiting.length);
          }
          // Drain what is left.
          while (waiting.length > 0) {
            for (const req of waiting.splice(0, budget)) {
              expected.set(req, 'committed');
              committedOrder.push(req);
            }
            await rt.flush();
          }
          const outcomes = new Map<string, IntentOutcome>();
          for (const [req, p] of got) outcomes.set(req, await p);
          for (const [req, o] of outcomes) expect([req, o.status === 'rejected' ? o.error.name : o.status]).toEqual([req, expected.get(req)]);
          const seqs = committedOrder.map((req) => {
            const o = outcomes.get(req);
            return o?.status === 'committed' ? o.global_seq : -1;
          });
          expect(seqs).toEqual(committedOrder.map((_, i) => i + 1));
        },
      ),
      { numRuns: 300 },
    );
  });
});
