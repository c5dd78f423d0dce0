/**
 * Quotas charge admitted intents only: one refused by backpressure (QUEUE_FULL) never ran, so it costs neither its
 * agent's nor its tenant's bucket.
 */
import { describe, expect, it } from 'vitest';
import type { IntentOutcome } from '../../server/core/types.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

const codeOf = (o: IntentOutcome): string => (o.status === 'rejected' ? o.error.name : o.status);

describe('quotas and backpressure', () => {
  for (const backpressure of ['drop_newest', 'defer'] as const) {
    it(`a flooding agent's QUEUE_FULL refusals (${backpressure}) do not drain its tenant's quota for the other agents`, async () => {
      const world = planeWorld([[10, 10], [500, 500]], {
        policies: {
          observation: { distance: { radius: 100 } },
          tenantQuota: { rate: 1, burst: 4 },
          agentClasses: { default: { queueLimit: 1, backpressure }, flooder: { queueLimit: 1, backpressure, quota: { rate: 1, burst: 3 } } },
        },
      });
      const { rt } = await openWorld(world);
      await rt.registerAgent('a0', { agentClass: 'flooder', tenant: 't' });
      await rt.registerAgent('a1', { tenant: 't' });
      // a0's queue holds one (defer: and one more deferred); the rest are refused with QUEUE_FULL.
      const flood = Array.from({ length: 8 }, () => rt.submit(move('a0', 1, 0, 0)));
      const admitted = backpressure === 'defer' ? 2 : 1;
      const refused = await Promise.all(flood.slice(admitted));
      expect(refused.map(codeOf)).toEqual(Array(8 - admitted).fill('QUEUE_FULL'));
      // The tenant paid only for what a0 had admitted: a1 is admitted.
      const other = rt.submit(move('a1', 1, 0, 0));
      await rt.flush();
      expect(codeOf(await other)).toBe('committed');
      expect((await Promise.all(flood.slice(0, admitted))).map(codeOf)).toEqual(Array(admitted).fill('committed'));
      // And a0's own bucket (burst 3) still holds what its refused intents did not take.
      const again = rt.submit(move('a0', 1, 0, rt.viewSeq('a0')));
      await rt.flush();
      expect(codeOf(await again)).toBe('committed');
    });
  }
});
