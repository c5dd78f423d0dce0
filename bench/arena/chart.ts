/**
 * A hand-written SVG line chart (no chart library): delivery latency percentiles on the left axis and server CPU
 * on the right, against client count (evenly spaced categories, since the sweep's counts are roughly geometric).
 */

export interface ChartSeries {
  readonly name: string;
  readonly values: readonly number[];
  readonly axis: 'left' | 'right';
  readonly color: string;
  readonly dashed?: boolean;
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly xs: readonly number[];
  readonly leftLabel: string;
  readonly rightLabel: string;
  readonly series: readonly ChartSeries[];
  /** Horizontal guide lines (e.g. the 50 ms and 90% limits). */
  readonly guides?: ReadonlyArray<{ readonly axis: 'left' | 'right'; readonly value: number; readonly label: string; readonly color: string }>;
  /**
   * The left axis goes no higher than this (rounded up like any axis top): a point above it is drawn on the top edge
   * with its value written beside it. Keeps a limit line readable when one run is far past it (a p99 of seconds
   * against a 50 ms limit).
   */
  readonly leftCap?: number;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 1 : 0));

/** A round upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten, at least `max`. */
export function niceMax(max: number): number {
  if (!(max > 0) || !Number.isFinite(max)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** Renders the chart as a standalone SVG document. Non-finite values leave a gap in their line. */
export function renderChart(spec: ChartSpec, width = 760, height = 420): string {
  const m = { top: 48, right: 72, bottom: 64, left: 64 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const finite = (axis: 'left' | 'right'): number[] => [
    ...spec.series.filter((s) => s.axis === axis).flatMap((s) => s.values.filter(Number.isFinite)),
    ...(spec.guides ?? []).filter((g) => g.axis === axis).map((g) => g.value),
  ];
  const leftTop = niceMax(Math.max(0, ...finite('left')));
  const top = { left: spec.leftCap !== undefined ? Math.min(leftTop, niceMax(spec.leftCap)) : leftTop, right: niceMax(Math.max(0, ...finite('right'))) };
  const n = spec.xs.length;
  const x = (i: number): number => m.left + (n <= 1 ? w / 2 : (i * w) / (n - 1));
  const y = (v: number, axis: 'left' | 'right'): number => m.top + h - (Math.min(v, top[axis]) / top[axis]) * h;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`);
  // Grid and axis ticks: five steps on each axis.
  for (let k = 0; k <= 5; k++) {
    const yy = m.top + h - (k * h) / 5;
    out.push(`<line x1="${m.left}" y1="${yy}" x2="${m.left + w}" y2="${yy}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${yy + 4}" text-anchor="end">${fmt((top.left * k) / 5)}</text>`);
    out.push(`<text x="${m.left + w + 6}" y="${yy + 4}">${fmt((top.right * k) / 5)}</text>`);
  }
  out.push(`<line x1="${m.left}" y1="${m.top + h}" x2="${m.left + w}" y2="${m.top + h}" stroke="black"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + h}" stroke="black"/>`);
  out.push(`<line x1="${m.left + w}" y1="${m.top}" x2="${m.left + w}" y2="${m.top + h}" stroke="black"/>`);
  spec.xs.forEach((v, i) => out.push(`<text x="${x(i)}" y="${m.top + h + 18}" text-anchor="middle">${fmt(v)}</text>`));
  out.push(`<text x="${m.left + w / 2}" y="${height - 28}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.top + h / 2}) rotate(-90)" text-anchor="middle">${esc(spec.leftLabel)}</text>`);
  out.push(`<text transform="translate(${width - 14} ${m.top + h / 2}) rotate(90)" text-anchor="middle">${esc(spec.rightLabel)}</text>`);
  for (const g of spec.guides ?? []) {
    const yy = y(g.value, g.axis);
    out.push(`<line x1="${m.left}" y1="${yy}" x2="${m.left + w}" y2="${yy}" stroke="${g.color}" stroke-dasharray="2 4"/>`);
    out.push(`<text x="${g.axis === 'left' ? m.left + 4 : m.left + w - 4}" y="${yy - 4}" fill="${g.color}" text-anchor="${g.axis === 'left' ? 'start' : 'end'}">${esc(g.label)}</text>`);
  }
  /** Per x, the points drawn on the top edge though their value is above it. */
  const offAxis: string[][] = [];
  for (const s of spec.series) {
    // Split the line at missing values so a gap shows instead of a line across it.
    let run: string[] = [];
    const flush = (): void => {
      if (run.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${run.join(' ')}"/>`);
      run = [];
    };
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) return flush();
      const p = `${x(i).toFixed(1)},${y(v, s.axis).toFixed(1)}`;
      run.push(p);
      out.push(`<circle cx="${x(i).toFixed(1)}" cy="${y(v, s.axis).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(`${s.name} at ${spec.xs[i]}: ${fmt(v)}`)}</title></circle>`);
      if (v > top[s.axis]) (offAxis[i] ??= []).push(`${s.name} ${fmt(v)}`);
    });
    flush();
  }
  // Above the plot, over each x with points off the axis: their real values.
  offAxis.forEach((labels, i) => {
    const anchor = i === n - 1 ? 'end' : i === 0 ? 'start' : 'middle';
    out.push(`<text x="${x(i).toFixed(1)}" y="${m.top - 8}" text-anchor="${anchor}" font-size="11">${esc(`↑ ${labels.join(', ')}`)}</text>`);
  });
  // Legend along the bottom.
  let lx = m.left;
  for (const s of spec.series) {
    out.push(`<line x1="${lx}" y1="${height - 10}" x2="${lx + 18}" y2="${height - 10}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${lx + 22}" y="${height - 6}">${esc(s.name)}</text>`);
    lx += 30 + s.name.length * 7;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
