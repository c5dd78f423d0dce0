import { describe, expect, it } from 'vitest';
import { latencyHistogram } from '../../bench/lib.js';
import { cpuPercent, encodeHistogram, mergeHistograms, parseProcStat, parseProcStatusKb, parsePromHistogram, percentiles, machineBusyPercent, parseProcStatTotals, promCounterDelta, promGauge, promMeanMs, promQuantile, promSumDeltaByLabel } from '../../bench/arena/stats.js';
import { TickClock } from '../../bench/arena/tick-clock.js';

describe('percentiles across worker processes', () => {
  it('merges encoded histograms so percentiles come from the pooled counts', () => {
    // Worker A: 900 fast deliveries; worker B: 100 slow ones. Pooled p50 is fast, pooled p99 is slow.
    const a = latencyHistogram();
    const b = latencyHistogram();
    for (let i = 0; i < 900; i++) a.recordValue(1000 + i); // 1.0 .. 1.9 ms
    for (let i = 0; i < 100; i++) b.recordValue(50_000 + i * 100); // 50 .. 59.9 ms
    const merged = mergeHistograms([encodeHistogram(a), encodeHistogram(b), '']);
    const p = percentiles(merged);
    expect(p.count).toBe(1000);
    expect(p.p50).toBeCloseTo(1.5, 1);
    expect(p.p90).toBeLessThan(2);
    expect(p.p99).toBeGreaterThanOrEqual(58);
    expect(p.max).toBeCloseTo(59.9, 0);
    // The mean of the two workers' p99 would be ~31 ms: not a percentile of any delivery.
    expect(p.p99).not.toBeCloseTo((percentiles(a).p99 + percentiles(b).p99) / 2, 0);
  });

  it('reports NaN percentiles for an empty histogram', () => {
    expect(percentiles(latencyHistogram()).p99).toBeNaN();
  });
});

describe('/proc parsing', () => {
  it('reads utime and stime after a command name with spaces and parentheses', () => {
    const stat = '4242 (node (my) server) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 567 0 0 20 0 11 0 100 1000000 5000 18446744073709551615';
    expect(parseProcStat(stat)).toEqual({ utime: 1234, stime: 567 });
  });

  it('reads VmHWM and VmRSS in kB', () => {
    const status = 'Name:\tnode\nVmPeak:\t 999 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
    expect(parseProcStatusKb(status, 'VmHWM')).toBe(204800);
    expect(parseProcStatusKb(status, 'VmRSS')).toBe(102400);
    expect(parseProcStatusKb(status, 'VmSwap')).toBeUndefined();
  });

  it('turns clock ticks over a wall window into % of one core', () => {
    expect(cpuPercent({ utime: 100, stime: 50 }, { utime: 300, stime: 150 }, 2000, 100)).toBe(150);
    expect(cpuPercent({ utime: 0, stime: 0 }, { utime: 10, stime: 0 }, 1000, 100)).toBe(10);
  });
});

describe('Prometheus histogram quantiles', () => {
  const scrape = (counts: number[]): string => {
    const les = ['0.001', '0.005', '0.01', '+Inf'];
    return [
      '# HELP worldline_observation_delivery_seconds x',
      ...les.map((le, i) => `worldline_observation_delivery_seconds_bucket{le="${le}",codec="worldline.v1.proto"} ${counts[i]}`),
      ...les.map((le) => `worldline_observation_delivery_seconds_bucket{codec="worldline.v1.json",le="${le}"} 1`),
      'worldline_observation_delivery_seconds_count 5',
    ].join('\n');
  };

  it('sums label sets and interpolates within the bucket between two scrapes', () => {
    const before = parsePromHistogram(scrape([0, 0, 0, 0]), 'worldline_observation_delivery_seconds');
    const after = parsePromHistogram(scrape([50, 90, 100, 100]), 'worldline_observation_delivery_seconds');
    expect(after.get(Infinity)).toBe(101);
    // Differences: <=1 ms: 50, <=5 ms: 90, <=10 ms: 100 (the json label set adds 1 to each, before and after).
    expect(promQuantile(before, after, 0.5)).toBeCloseTo(1, 3);
    expect(promQuantile(before, after, 0.7)).toBeCloseTo(3, 3);
    expect(promQuantile(before, after, 0.95)).toBeCloseTo(7.5, 3);
    expect(promQuantile(after, after, 0.5)).toBeNaN();
  });

  it('takes the mean of the observations between two scrapes from _sum and _count', () => {
    const text = (sum: number, count: number): string => `# TYPE worldline_quantum_seconds histogram\nworldline_quantum_seconds_bucket{le="+Inf"} ${count}\nworldline_quantum_seconds_sum ${sum}\nworldline_quantum_seconds_count ${count}\nworldline_quantum_seconds_x_count 999`;
    expect(promMeanMs(text(1.5, 100), text(2.5, 150), 'worldline_quantum_seconds')).toBeCloseTo(20, 6);
    expect(promMeanMs(text(1, 10), text(1, 10), 'worldline_quantum_seconds')).toBeNaN();
    const overruns = (n: number): string => `# TYPE worldline_tick_overruns_total counter\nworldline_tick_overruns_total ${n}`;
    expect(promCounterDelta(overruns(3), overruns(10), 'worldline_tick_overruns_total')).toBe(7);
    expect(promCounterDelta('', '', 'worldline_tick_overruns_total')).toBe(0);
    // One series per world: summed.
    const perWorld = (a: number, b: number): string => `worldline_tick_overruns_total{world="a"} ${a}\nworldline_tick_overruns_total{world="b"} ${b}\nworldline_tick_overruns_total_x 99`;
    expect(promCounterDelta(perWorld(1, 2), perWorld(4, 6), 'worldline_tick_overruns_total')).toBe(7);
  });

  it('takes the machine-wide busy share from two /proc/stat readings (idle and iowait are not busy, guest time is not counted twice)', () => {
    const stat = (user: number, idle: number, iowait: number, guest: number): string => `cpu  ${user} 0 100 ${idle} ${iowait} 0 0 0 ${guest} 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 5`;
    const a = parseProcStatTotals(stat(1000, 5000, 100, 50))!;
    const b = parseProcStatTotals(stat(1900, 5050, 150, 90))!;
    expect(a).toEqual({ busy: 1100, total: 6200 });
    // 1,000 jiffies passed: 900 busy (user), 100 idle or waiting.
    expect(machineBusyPercent(a, b)).toBe(90);
    expect(machineBusyPercent(a, a)).toBeNaN();
    expect(parseProcStatTotals('cpu0 1 2 3 4\n')).toBeUndefined();
  });

  it("sums a histogram's _sum growth per label value (GC pauses by kind) and reads a gauge", () => {
    const gc = (minor: number, major: number): string =>
      [
        '# TYPE nodejs_gc_duration_seconds histogram',
        `nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 3`,
        `nodejs_gc_duration_seconds_sum{kind="minor"} ${minor}`,
        `nodejs_gc_duration_seconds_count{kind="minor"} 3`,
        `nodejs_gc_duration_seconds_sum{kind="major",extra="x"} ${major}`,
        'nodejs_gc_duration_seconds_summary_sum{kind="minor"} 99',
      ].join('\n');
    const d = promSumDeltaByLabel(gc(0.5, 0.1), gc(0.75, 0.4), 'nodejs_gc_duration_seconds', 'kind');
    expect(Object.keys(d).sort()).toEqual(['major', 'minor']);
    expect(d['minor']).toBeCloseTo(0.25, 9);
    expect(d['major']).toBeCloseTo(0.3, 9);
    // A kind first seen in the second scrape counts from zero.
    expect(promSumDeltaByLabel('', gc(0.5, 0), 'nodejs_gc_duration_seconds', 'kind')['minor']).toBeCloseTo(0.5, 9);
    expect(promGauge('nodejs_eventloop_lag_p99_seconds 0.0125\nnodejs_eventloop_lag_p99_seconds_x 1', 'nodejs_eventloop_lag_p99_seconds')).toBe(0.0125);
    expect(promGauge('', 'nodejs_eventloop_lag_p99_seconds')).toBeNaN();
  });
});

describe('TickClock', () => {
  it('takes a tick start from the last pong that had not seen it, and the bracket up to the first that had', () => {
    const c = new TickClock();
    c.add(1000, 5);
    c.add(1047, 5);
    c.add(1049, 5);
    c.add(1052, 6); // tick 6 started in (1049, 1052]
    c.add(1090, 6);
    c.add(1160, 8); // ticks 7 and 8 both started after 1090: the conservative bound for both
    const b = c.brackets();
    expect(b.has(5)).toBe(false); // no pong before tick 5 started
    expect(b.get(6)).toEqual({ start: 1049, width: 3 });
    expect(b.get(7)).toEqual({ start: 1090, width: 70 });
    expect(b.get(8)).toEqual({ start: 1090, width: 70 });
    expect(c.latest()).toEqual({ tick: 8, start: 1125 });
  });

  it('gives the same answer whatever order pongs from several processes arrive in', () => {
    const ordered = new TickClock();
    const shuffled = new TickClock();
    const pongs: Array<[number, number]> = [[10, 1], [20, 1], [48, 1], [52, 2], [60, 2], [99, 2], [101, 3]];
    for (const [s, t] of pongs) ordered.add(s, t);
    for (const [s, t] of [...pongs].reverse()) shuffled.add(s, t);
    expect([...shuffled.brackets()]).toEqual([...ordered.brackets()]);
    expect(shuffled.entries().serverTimes).toEqual(pongs.map((p) => p[0]));
  });
});
