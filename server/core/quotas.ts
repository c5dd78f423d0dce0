/**
 * Rate quotas as token buckets, per agent (from its class) and per tenant. Time comes from the injected clock.
 */
import type { RateQuota } from './world.js';

class Bucket {
  tokens: number;
  constructor(
    readonly quota: RateQuota,
    public at: number,
  ) {
    this.tokens = quota.burst;
  }

  /** Takes one token; returns 0 on success or the ms until one is available. */
  take(now: number): number {
    const q = this.quota;
    // A wall clock stepped back (NTP): refill from the new reading on. Keeping the old one would refill nothing until
    // the clock caught up again, however long the step, while every denial said to retry in a second.
    if (now < this.at) this.at = now;
    if (now > this.at) {
      this.tokens = Math.min(q.burst, this.tokens + ((now - this.at) * q.rate) / 1000);
      this.at = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    // Rounded up, then checked with the refill's own arithmetic: (1 - tokens) * 1000 / rate can round down to a
    // whole number of ms after which the refill comes to 0.9999999999 tokens, and the retry would be denied again.
    let wait = Math.ceil(((1 - this.tokens) * 1000) / q.rate);
    while (this.tokens + (wait * q.rate) / 1000 < 1) wait++;
    return wait;
  }

  refund(): void {
    this.tokens = Math.min(this.quota.burst, this.tokens + 1);
  }
}

export interface QuotaDenial {
  readonly scope: 'agent' | 'tenant';
  readonly retry_after_ms: number;
}

export class Quotas {
  private readonly agents = new Map<string, Bucket>();
  private readonly tenants = new Map<string, Bucket>();

  constructor(private readonly tenantQuota: RateQuota | undefined) {}

  /** Charges one intent to the agent and its tenant; nothing is charged when either is over quota. */
  charge(agentId: string, agentQuota: RateQuota | undefined, tenant: string, now: number): QuotaDenial | undefined {
    let a: Bucket | undefined;
    if (agentQuota) {
      a = this.agents.get(agentId);
      if (!a) this.agents.set(agentId, (a = new Bucket(agentQuota, now)));
      const wait = a.take(now);
      if (wait > 0) return { scope: 'agent', retry_after_ms: wait };
    }
    if (this.tenantQuota) {
      let t = this.tenants.get(tenant);
      if (!t) this.tenants.set(tenant, (t = new Bucket(this.tenantQuota, now)));
      const wait = t.take(now);
      if (wait > 0) {
        a?.refund();
        return { scope: 'tenant', retry_after_ms: wait };
      }
    }
    return undefined;
  }

  /** Gives back what charge() took for an intent that was then refused (its queue was full): it never ran. */
  refund(agentId: string, tenant: string): void {
    this.agents.get(agentId)?.refund();
    if (this.tenantQuota) this.tenants.get(tenant)?.refund();
  }
}
