/**
 * Quotas and the shed_oldest policy: an intent shed from a full queue (QUEUE_FULL, shed: true) never ran, so, like one
 * refused with QUEUE_FULL under drop_newest or defer, it costs neither its agent's nor its tenant's bucket
 * (docs/core.md, admission stage 4: "An intent then refused at stage 5 is not charged").
 */
import { describe, expect, it } from 'vitest';
import type { IntentOutcome } from '../../server/core/types.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

const codeOf = (o: IntentOutcome): string => (o.status === 'rejected' ? o.error.name : o.status);

describe('quotas and shed_oldest', () => {
  it("a flooding agent's shed intents do not drain its tenant's quota for the other agents", async () => {
    const world = planeWorld([[10, 10], [500, 500]], {
      policies: { observation: { distance: { radius: 100 } }, tenantQuota: { rate: 1, burst: 4 }, agentClasses: { default: { queueLimit: 1, backpressure: 'shed_oldest' } } },
    });
    const { rt } = await openWorld(world);
    await rt.registerAgent('a0', { tenant: 't' });
    await rt.registerAgent('a1', { tenant: 't' });
    // The manual clock stands still: the tenant's bucket holds 4 tokens and refills none.
    const flood = Array.from({ length: 8 }, () => rt.submit(move('a0', 1, 0, 0)));
    // One of a0's intents waits, the others were shed; the tenant paid for the waiting one only, so a1 is admitted.
    const other = rt.submit(move('a1', 1, 0, 0));
    await rt.flush();
    const outcomes = await Promise.all(flood);
    expect(outcomes.map(codeOf)).toEqual([...Array(7).fill('QUEUE_FULL'), 'committed']);
    expect(outcomes.slice(0, 7).every((o) => o.status === 'rejected' && o.error.details['shed'] === true)).toBe(true);
    expect(codeOf(await other)).toBe('committed');
  });
});
