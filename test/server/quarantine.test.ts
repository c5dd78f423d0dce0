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

describe('Quarantine sweeping', () => {
  it('reads every key once per doubling of the keys it tracks, not at every strike, while the offenders are within their window', () => {
    const q = new Quarantine(5, 60_000, 600_000);
    // 40,000 addresses each refused once within ten minutes: none of them can be forgotten yet.
    for (let i = 0; i < 40_000; i++) q.strike(`ip:2001:db8::${i.toString(16)}`, 1000 + i);
    expect(q.size).toBe(40_000);
    // At 10,000 tracked keys and at 20,000 (each sweep reads every key: every strike past 10,000 made one, 30,000
    // sweeps reading 750 million keys, 15 s of a blocked event loop).
    expect(q.sweeps).toBeLessThanOrEqual(2);
    // The windows end: the next sweep forgets them all, and the next ones come at 10,000 and 20,000 again.
    const later = 1000 + 40_000 + 600_001;
    for (let i = 0; i < 40_000; i++) q.strike(`ip:2001:db8:1::${i.toString(16)}`, later + i);
    expect(q.size).toBeLessThan(40_001);
    expect(q.sweeps).toBeLessThanOrEqual(5);
  });
});
