import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BucketHistogram } from '../../server/obs/bucket-histogram.js';

const BUCKETS = [0.0005, 0.001, 0.005, 0.05, 1];

describe('BucketHistogram', () => {
  it('is scraped exactly as a prom-client Histogram fed the same observations', async () => {
    const ref = new Registry();
    const ours = new Registry();
    const a = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['codec'], buckets: BUCKETS, registers: [ref] });
    const b = new BucketHistogram({ name: 'x_seconds', help: 'h', labelName: 'codec', buckets: BUCKETS, registers: [ours] });
    // On the bounds, between them, below the first and above the last, in two series.
    const values = [0, 0.0005, 0.0007, 0.001, 0.004, 0.005, 0.0051, 0.05, 0.9, 1, 1.5, 30];
    for (const [i, v] of values.entries()) {
      const codec = i % 3 === 0 ? 'json' : 'proto';
      a.labels(codec).observe(v);
      b.labels(codec).observe(v);
    }
    expect(await ours.metrics()).toBe(await ref.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await ref.getMetricsAsJSON());
    b.reset();
    a.reset();
    a.labels('json');
    a.labels('proto');
    a.zero({ codec: 'json' });
    a.zero({ codec: 'proto' });
    expect(await ours.metrics()).toBe(await ref.metrics());
  });

  it('ignores a value that is not a number, and refuses buckets that are not ascending', () => {
    const h = new BucketHistogram({ name: 'y_seconds', help: 'h', labelName: 'codec', buckets: BUCKETS });
    const s = h.labels('proto');
    s.observe(Number.NaN);
    s.observe(Number.POSITIVE_INFINITY);
    s.observe(0.002);
    expect(s.count).toBe(1);
    expect(s.sum).toBe(0.002);
    expect(() => new BucketHistogram({ name: 'z', help: 'h', labelName: 'codec', buckets: [0.1, 0.1] })).toThrow(/ascending/);
  });
});
