/**
 * Pure helpers for the load runner's figures: histograms that travel between processes and merge, percentile
 * summaries, CPU and memory from /proc, and quantiles from a Prometheus histogram.
 */
import * as hdr from 'hdr-histogram-js';
import { latencyHistogram } from '../lib.js';

/** p50/p90/p99/max in milliseconds (histograms hold microseconds). */
export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

const ms = (us: number): number => Math.round(us) / 1000;

export function percentiles(h: hdr.Histogram): Percentiles {
  if (h.totalCount === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  return { count: h.totalCount, p50: ms(h.getValueAtPercentile(50)), p90: ms(h.getValueAtPercentile(90)), p99: ms(h.getValueAtPercentile(99)), max: ms(h.maxValue) };
}

/** A histogram as text, to send from a worker process to the runner. */
export function encodeHistogram(h: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/**
 * Merges workers' histograms. Percentiles must come from the merged counts: averaging each worker's p99 would
 * under-weight the busiest worker and is not a percentile of anything.
 */
export function mergeHistograms(encoded: readonly string[]): hdr.Histogram {
  const out = latencyHistogram();
  for (const e of encoded) {
    if (!e) continue;
    const h = hdr.decodeFromCompressedBase64(e);
    out.add(h);
    h.destroy();
  }
  return out;
}

/** user+system CPU time of a process in clock ticks, from the text of /proc/PID/stat. */
export function parseProcStat(text: string): { utime: number; stime: number } {
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return { utime: Number(rest[11]), stime: Number(rest[12]) };
}

/** A field of /proc/PID/status in kB (VmHWM: peak resident set, VmRSS: current). */
export function parseProcStatusKb(text: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** CPU% of one core between two /proc/PID/stat readings `wallMs` apart. */
export function cpuPercent(a: { utime: number; stime: number }, b: { utime: number; stime: number }, wallMs: number, clockTicksPerSec: number): number {
  const ticks = b.utime + b.stime - (a.utime + a.stime);
  return wallMs > 0 ? Math.round(((ticks / clockTicksPerSec) * 1000 * 1000) / wallMs) / 10 : NaN;
}

/** Cumulative bucket counts of one Prometheus histogram, summed over its label sets: upper bound (s) -> count. */
export function parsePromHistogram(text: string, name: string): Map<number, number> {
  const out = new Map<number, number>();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const m = /^[^{]*\{([^}]*)\}\s+([0-9.eE+-]+)/.exec(line);
    const leText = m ? /(?:^|,)le="([^"]+)"/.exec(m[1]!)?.[1] : undefined;
    if (!m || leText === undefined) continue;
    const le = leText === '+Inf' ? Infinity : Number(leText);
    out.set(le, (out.get(le) ?? 0) + Number(m[2]));
  }
  return out;
}

/** The aggregate `cpu` line of /proc/stat: busy and total jiffies over all cores (idle and iowait count as not busy). */
export function parseProcStatTotals(text: string): { busy: number; total: number } | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((x) => !Number.isFinite(x))) return undefined;
  // user nice system idle iowait irq softirq steal [guest guest_nice: already inside user and nice]
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** The share (0-100) of all cores' time that was busy between two /proc/stat readings. */
export function machineBusyPercent(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  const dt = b.total - a.total;
  return dt > 0 ? Math.round(((b.busy - a.busy) / dt) * 1000) / 10 : NaN;
}

/** How much an unlabelled Prometheus counter grew between two scrapes (0 when absent). */
export function promCounterDelta(before: string, after: string, name: string): number {
  // Summed over the counter's label sets (worldline_tick_overruns_total has one per world), 0 when it has none yet.
  const read = (text: string): number => {
    let sum = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)`, 'gm'))) sum += Number(m[1]);
    return sum;
  };
  return read(after) - read(before);
}

/**
 * How much a histogram's _sum grew between two scrapes, per value of one label (e.g. prom-client's
 * nodejs_gc_duration_seconds by `kind`), in the metric's unit.
 */
export function promSumDeltaByLabel(before: string, after: string, name: string, label: string): Record<string, number> {
  const read = (text: string): Map<string, number> => {
    const out = new Map<string, number>();
    const re = new RegExp(`^${name}_sum\\{([^}]*)\\}\\s+([0-9.eE+-]+)`, 'gm');
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const v = new RegExp(`(?:^|,)${label}="([^"]*)"`).exec(m[1]!)?.[1];
      if (v !== undefined) out.set(v, (out.get(v) ?? 0) + Number(m[2]));
    }
    return out;
  };
  const a = read(before);
  const out: Record<string, number> = {};
  for (const [k, v] of read(after)) out[k] = v - (a.get(k) ?? 0);
  return out;
}

/** An unlabelled Prometheus gauge's value in a scrape (NaN when absent). */
export function promGauge(text: string, name: string): number {
  const m = new RegExp(`^${name}\\s+([0-9.eE+-]+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Mean (ms) of a Prometheus histogram's observations between two scrapes (from _sum and _count); NaN when none. */
export function promMeanMs(before: string, after: string, name: string): number {
  const read = (text: string, suffix: string): number => {
    const m = new RegExp(`^${name}_${suffix}(?:\\{[^}]*\\})?\\s+([0-9.eE+-]+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const n = read(after, 'count') - read(before, 'count');
  return n > 0 ? ((read(after, 'sum') - read(before, 'sum')) / n) * 1000 : NaN;
}

/**
 * Quantile (ms) of the observations between two scrapes of a cumulative Prometheus histogram, interpolated
 * linearly within the bucket as Prometheus' histogram_quantile does. NaN when nothing was observed.
 */
export function promQuantile(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>, q: number): number {
  const les = [...after.keys()].sort((a, b) => a - b);
  const cum = les.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = cum[cum.length - 1] ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  for (let i = 0; i < les.length; i++) {
    if (cum[i]! >= rank) {
      const hi = les[i]!;
      const lo = i > 0 ? les[i - 1]! : 0;
      const below = i > 0 ? cum[i - 1]! : 0;
      if (!Number.isFinite(hi)) return lo * 1000;
      const inBucket = cum[i]! - below;
      const frac = inBucket > 0 ? (rank - below) / inBucket : 1;
      return Math.round((lo + (hi - lo) * frac) * 1e6) / 1000;
    }
  }
  return NaN;
}
