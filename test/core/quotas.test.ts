/**
 * Token buckets (server/core/quotas.ts): refill arithmetic, retry_after_ms, and a wall clock that steps backwards.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Quotas } from '../../server/core/quotas.js';

describe('quotas', () => {
  it('a retry after retry_after_ms is admitted (property, clock may step back)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 1, max: 50 }), fc.constantFrom(0.3, 0.5, 2.5, 3.3, 7, 12.5, 1000 / 3)),
        fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constantFrom(1.5, 2.7)),
        fc.array(fc.integer({ min: -2000, max: 700 }), { minLength: 1, maxLength: 40 }),
        (rate, burst, steps) => {
          const q = new Quotas(undefined);
          const quota = { rate, burst };
          let now = 1_000_000;
          for (const step of steps) {
            now += step;
            const denial = q.charge('a', quota, 't', now);
            if (denial) {
              expect(denial.retry_after_ms).toBeGreaterThan(0);
              // Told to wait at most the time one token takes to refill; waiting that long is enough.
              expect(denial.retry_after_ms).toBeLessThanOrEqual(Math.ceil(1000 / rate));
              now += denial.retry_after_ms;
              expect(q.charge('a', quota, 't', now)).toBeUndefined();
            }
          }
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('a clock stepping back does not freeze the bucket for the length of the step', () => {
    const q = new Quotas(undefined);
    const quota = { rate: 1, burst: 1 };
    const t = 10_000_000;
    expect(q.charge('a', quota, 't', t)).toBeUndefined();
    // NTP steps the wall clock back an hour: one second later (by the new clock) a token has refilled.
    expect(q.charge('a', quota, 't', t - 3_600_000)).toMatchObject({ scope: 'agent', retry_after_ms: 1000 });
    expect(q.charge('a', quota, 't', t - 3_600_000 + 1000)).toBeUndefined();
  });

  it('a tenant denial refunds the agent token it took, and names the tenant', () => {
    const q = new Quotas({ rate: 1, burst: 1 });
    const agent = { rate: 100, burst: 1 };
    expect(q.charge('a', agent, 't', 0)).toBeUndefined();
    expect(q.charge('b', agent, 't', 0)).toMatchObject({ scope: 'tenant', retry_after_ms: 1000 });
    // b's own bucket was refunded: once the tenant has a token again, b is admitted at once.
    expect(q.charge('b', agent, 't', 1000)).toBeUndefined();
  });
});
