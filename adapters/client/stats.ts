/** Latency samples kept in a ring (the last N), summarised on demand; and clock sync from ping/pong. */

export interface LatencySummary {
  readonly count: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** The last `capacity` samples of one latency, in ms. */
export class LatencyRing {
  private readonly samples: number[] = [];
  private next = 0;
  total = 0;

  constructor(private readonly capacity = 1024) {}

  add(ms: number): void {
    this.total++;
    if (this.samples.length < this.capacity) this.samples.push(ms);
    else {
      this.samples[this.next] = ms;
      this.next = (this.next + 1) % this.capacity;
    }
  }

  summary(): LatencySummary {
    const s = [...this.samples].sort((a, b) => a - b);
    const n = s.length;
    if (n === 0) return { count: 0, min: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
    const q = (p: number): number => s[Math.min(n - 1, Math.ceil(p * n) - 1)]!;
    return { count: this.total, min: s[0]!, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s[n - 1]!, mean: s.reduce((a, b) => a + b, 0) / n };
  }
}

export interface ClockEstimate {
  /** server clock - local clock, in ms (add it to a local time to get server time). */
  readonly offsetMs: number;
  /** Round-trip time of the sample the offset came from. */
  readonly rttMs: number;
  readonly samples: number;
}

/**
 * NTP-style clock sync: each ping/pong gives offset = server_time - (sent + received) / 2 with an error of at most
 * half its round trip, so the estimate is the sample with the smallest round trip among the last few.
 */
export class ClockSync {
  private readonly window: Array<{ offset: number; rtt: number }> = [];
  readonly rtt = new LatencyRing(256);

  private fresh = false;

  constructor(private readonly keep = 16) {}

  /**
   * A new connection, maybe to another server (a restart elsewhere, a load balancer): its first sample replaces the
   * window, so an old connection's sample with a smaller round trip no longer decides the offset. Until then the
   * old estimate stands, rather than none.
   */
  newConnection(): void {
    this.fresh = true;
  }

  sample(sentAt: number, serverTime: number, receivedAt: number): void {
    const rtt = Math.max(0, receivedAt - sentAt);
    this.rtt.add(rtt);
    if (this.fresh) {
      this.fresh = false;
      this.window.length = 0;
    }
    this.window.push({ offset: serverTime - (sentAt + receivedAt) / 2, rtt });
    if (this.window.length > this.keep) this.window.shift();
  }

  /** The current estimate, or undefined before the first pong. */
  estimate(): ClockEstimate | undefined {
    let best: { offset: number; rtt: number } | undefined;
    for (const s of this.window) if (!best || s.rtt < best.rtt) best = s;
    return best && { offsetMs: best.offset, rttMs: best.rtt, samples: this.rtt.total };
  }
}
