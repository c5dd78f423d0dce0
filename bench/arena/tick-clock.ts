/**
 * Maps a tick number to the wall time the server started computing it, from Pong frames.
 *
 * Fallback for servers whose deltas carry no server_time: deltas carry sim_time (the tick, on a ticks timebase), so a client cannot
 * timestamp from its receive time directly. Each Pong carries (server_time, sim_time = the ticks completed when
 * the server answered). A tick T starts after the last pong that still reported sim_time < T: that pong's
 * server_time is a lower bound of T's start, so `receive − startOf(T)` over-states delivery latency by at most
 * the gap to the next pong (reported as the resolution). Client and server share the machine's clock (loopback
 * only), so no offset is estimated.
 */
export class TickClock {
  private serverTimes: number[] = [];
  private simTimes: number[] = [];
  private sorted = true;

  private newest: { tick: number; start: number } | undefined;
  private lastBelow: { sim: number; time: number } | undefined;

  add(serverTime: number, simTime: number): void {
    const lb = this.lastBelow;
    if (lb && simTime > lb.sim) this.newest = { tick: simTime, start: (lb.time + serverTime) / 2 };
    if (!lb || simTime >= lb.sim) this.lastBelow = { sim: simTime, time: serverTime };
    const n = this.serverTimes.length;
    if (n > 0 && serverTime < this.serverTimes[n - 1]!) this.sorted = false;
    this.serverTimes.push(serverTime);
    this.simTimes.push(simTime);
  }

  /** The newest tick seen to start, with the midpoint of its bracket (ms), as pongs arrive in order. */
  latest(): { tick: number; start: number } | undefined {
    return this.newest;
  }

  /** The pongs, sorted by server time (to send to another process). */
  entries(): { serverTimes: number[]; simTimes: number[] } {
    this.sort();
    return { serverTimes: [...this.serverTimes], simTimes: [...this.simTimes] };
  }

  get size(): number {
    return this.serverTimes.length;
  }

  private sort(): void {
    if (this.sorted) return;
    const idx = this.serverTimes.map((_, i) => i).sort((a, b) => this.serverTimes[a]! - this.serverTimes[b]! || this.simTimes[a]! - this.simTimes[b]!);
    this.serverTimes = idx.map((i) => this.serverTimes[i]!);
    this.simTimes = idx.map((i) => this.simTimes[i]!);
    this.sorted = true;
  }

  /**
   * For every tick that has a pong before and after its start: the lower bound of its start (ms) and the width
   * of the bracket (ms until the first pong that saw it). Ticks the pongs skipped over get the same conservative
   * lower bound as the first tick after it.
   */
  brackets(): Map<number, { start: number; width: number }> {
    this.sort();
    const out = new Map<number, { start: number; width: number }>();
    const s = this.serverTimes;
    const t = this.simTimes;
    let maxSim = -Infinity;
    let lastIdx = -1;
    for (let i = 0; i < s.length; i++) {
      const sim = t[i]!;
      if (sim > maxSim) {
        if (lastIdx >= 0) {
          const start = s[lastIdx]!;
          const width = s[i]! - start;
          for (let T = maxSim + 1; T <= sim; T++) out.set(T, { start, width });
        }
        maxSim = sim;
      }
      // Among pongs reporting the current maximum, the latest one is the tightest lower bound for the next tick.
      if (sim === maxSim) lastIdx = i;
    }
    return out;
  }
}
