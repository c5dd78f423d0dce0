/**
 * Quarantine: violations count within a window, so rare mistakes never add up, and the keys it tracks are swept, so
 * every address or token that misbehaved once does not stay in memory for good.
 */
import { describe, expect, it } from 'vitest';
import { Quarantine } from '../../server/transport/rate-limit.js';

describe('Quarantine', () => {
  it('quarantines after N violations within the window, not N spread over longer', () => {
    const q = new Quarantine(3, 60_000, 600_000);
    // Two a day for a week: never three in one window.
    for (let day = 0; day < 7; day++) {
      const t = day * 86_400_000;
      expect(q.strike('a1', t)).toBe(false);
      expect(q.strike('a1', t + 1000)).toBe(false);
    }
    expect(q.isQuarantined('a1', 7 * 86_400_000)).toBe(false);
    // Three within ten minutes: quarantined for the duration, then free again.
    const t0 = 10 * 86_400_000;
    q.strike('a1', t0);
    q.strike('a1', t0 + 60_000);
    expect(q.strike('a1', t0 + 120_000)).toBe(true);
    expect(q.isQuarantined('a1', t0 + 150_000)).toBe(true);
    expect(q.isQuarantined('a1', t0 + 120_000 + 60_001)).toBe(false);
  });

  it('sweeps keys whose window ended or whose quarantine lifted, so one-off offenders do not accumulate', () => {
    const q = new Quarantine(2, 1000, 5000);
    let t = 0;
    for (let i = 0; i < 50_000; i++) {
      // Every key misbehaves once (a strike) and every tenth twice (quarantined); time moves on.
      t += 10;
      q.strike(`ip:${i}`, t);
      if (i % 10 === 0) q.strike(`ip:${i}`, t);
    }
    // Without sweeping it would track 50,000 keys; with it, about the last window's worth (5 s / 10 ms = 500) plus
    // the batch between sweeps.
    expect(q.size).toBeLessThan(11_000);
    expect(q.isQuarantined('ip:49990', t)).toBe(true);
  });

  it('never quarantines with after = 0', () => {
    const q = new Quarantine(0, 1000);
    for (let i = 0; i < 100; i++) expect(q.strike('k', i)).toBe(false);
    expect(q.size).toBe(0);
  });
});
