import { WorldlineError } from '../errors.js';

/** Token buckets for message rates and quotas: `take()` spends one token, refilled continuously at `ratePerSec`. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private ratePerSec: number, private burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  /** Spends one token if available. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Changes the rate and burst from `now` on; the tokens held stay (up to the new burst): a change never refills. */
  resize(ratePerSec: number, burst: number, now: number): void {
    this.refill(now);
    this.ratePerSec = ratePerSec;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSec) / 1000);
      this.last = now;
    }
  }

  /** Milliseconds until the next token. */
  retryAfterMs(): number {
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSec);
  }
}

/** What a quarantine key is made of: a principal's role, tenant, world, agent and the name of its token (auth.ts tokenIdOf). */
type Keyed = { readonly role: string; readonly tenant: string; readonly world: string; readonly agent: string | undefined; readonly tokenId?: string };

/**
 * Whom a principal's violations in world `where` count against: an agent token's agent, when the token is for that
 * world; otherwise the token itself. So never an agent a viewer, engine or admin observes or acts for (whose quarantine
 * would lock out a client that did nothing), nor every token of its role and tenant (one admin's misbehaviour would
 * lock out every admin, even from lifting it), nor the agent of the same name in a world the token is not for (another
 * tenant's bob would be locked out by acme's bob knocking at its door). Readable for the operator who lists and lifts
 * it: `admin:default:*:tok_3f2a9c1b7d4e5f60`.
 */
export function quarantineKeyOf(p: Keyed, where: { readonly tenant: string; readonly world: string }): string {
  if (p.role === 'agent' && p.agent !== undefined && p.tenant === where.tenant && p.world === where.world) return p.agent;
  const who = `${p.role}:${p.tenant}:${p.agent ?? '*'}`;
  return p.tokenId === undefined ? who : `${who}:${p.tokenId}`;
}

/** The quarantine key of a client address, for what its connections do before a token is verified. */
export function addressKey(ip: string): string {
  return `ip:${ip}`;
}

/** Counts violations per key and reports when a key crosses the quarantine threshold. */
export class Quarantine {
  /** Per key: violations counted in the current window, and when that window began. */
  private readonly strikes = new Map<string, { n: number; since: number }>();
  private readonly until = new Map<string, number>();
  /** Tracked keys at which the next sweep runs: twice what the last one kept, so sweeping costs O(1) per strike. */
  private sweepAt = SWEEP_AT;
  /** @internal Sweeps run so far. */
  sweeps = 0;

  /**
   * `after` violations within `windowMs` quarantine a key for `durationMs`. Violations older than the window are
   * forgotten, so an honest client's rare mistakes never add up over days; and the maps are swept as they grow, so
   * every address or token that ever misbehaved once does not stay in memory for the process's life.
   */
  constructor(
    private readonly after: number,
    private readonly durationMs: number,
    private readonly windowMs: number = 600_000,
  ) {}

  /** Records a violation; returns true when this one puts the key in quarantine. */
  strike(key: string, now: number): boolean {
    if (this.after <= 0) return false;
    if (this.strikes.size + this.until.size >= this.sweepAt) {
      // A sweep reads every key. Run again at the next strike while as many keys are live (offenders within their
      // window: 10,000 addresses, say, each refused once in ten minutes), it read them all at every strike: 40,000
      // addresses refused in a window held the event loop for 15 s. The next one waits until the live keys double.
      this.sweep(now);
      this.sweepAt = Math.max(SWEEP_AT, 2 * this.size);
    }
    let s = this.strikes.get(key);
    if (s === undefined || now - s.since > this.windowMs) this.strikes.set(key, (s = { n: 0, since: now }));
    s.n++;
    if (s.n >= this.after) {
      this.strikes.delete(key);
      this.until.set(key, now + this.durationMs);
      return true;
    }
    return false;
  }

  /**
   * Refuses (AGENT_QUARANTINED) a principal whose agent or token is quarantined, and anyone acting for a quarantined
   * agent: what every transport checks after authorising an action.
   */
  refuseIfQuarantined(p: Keyed, where: { readonly tenant: string; readonly world: string }, acting: boolean, agentId: string | undefined, now: number): void {
    const own = quarantineKeyOf(p, where);
    if (this.isQuarantined(own, now)) throw this.refusal(own, `this ${own === p.agent ? 'agent' : `${p.role} token`}`, now);
    if (acting && agentId && this.isQuarantined(agentId, now)) throw this.refusal(agentId, `agent ${agentId}`, now);
  }

  /** AGENT_QUARANTINED for a quarantined key: how long it has left, and the key an operator lifts it by. */
  refusal(key: string, what: string, now: number): WorldlineError {
    const left = this.remainingMs(key, now);
    const until = new Date(now + left).toISOString();
    return new WorldlineError('AGENT_QUARANTINED', `${what} is quarantined after repeated violations, until ${until} (${Math.ceil(left / 1000)} s): retry then, or ask an operator to lift it`, { key, until, retry_after_ms: left });
  }

  /** Milliseconds until a key's quarantine lifts (0 when it is not quarantined). */
  remainingMs(key: string, now: number): number {
    return this.isQuarantined(key, now) ? (this.until.get(key) as number) - now : 0;
  }

  /** The keys quarantined now, with when each lifts (ms since the epoch of `now`'s clock). */
  quarantined(now: number): Array<{ key: string; until: number }> {
    const out: Array<{ key: string; until: number }> = [];
    for (const [key, until] of this.until) if (until > now) out.push({ key, until });
    return out.sort((a, b) => a.until - b.until || (a.key < b.key ? -1 : 1));
  }

  /** Lifts a key's quarantine and forgets its strikes (an operator's decision); false when it was not quarantined. */
  lift(key: string, now: number): boolean {
    const was = this.isQuarantined(key, now);
    this.until.delete(key);
    this.strikes.delete(key);
    return was;
  }

  isQuarantined(key: string, now: number): boolean {
    const t = this.until.get(key);
    if (t === undefined) return false;
    if (t <= now) {
      this.until.delete(key);
      return false;
    }
    return true;
  }

  /** Keys tracked (strikes in a window, or quarantined): what sweeping keeps bounded. */
  get size(): number {
    return this.strikes.size + this.until.size;
  }

  /** Forgets windows that have ended and quarantines that have lifted. */
  private sweep(now: number): void {
    this.sweeps++;
    for (const [k, s] of this.strikes) if (now - s.since > this.windowMs) this.strikes.delete(k);
    for (const [k, t] of this.until) if (t <= now) this.until.delete(k);
  }
}

/** Tracked keys at which Quarantine first sweeps out the stale ones (then at twice what each sweep kept, at least this many). */
const SWEEP_AT = 10_000;
