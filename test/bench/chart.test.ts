import { describe, expect, it } from 'vitest';
import { niceMax, renderChart } from '../../bench/arena/chart.js';

describe('SVG chart', () => {
  const spec = {
    title: 'sweep <arena> & more',
    xLabel: 'clients',
    xs: [50, 100, 200],
    leftLabel: 'ms',
    rightLabel: '% CPU',
    series: [
      { name: 'p99', values: [5, 12, 40], axis: 'left' as const, color: '#d95f02' },
      { name: 'cpu', values: [10, NaN, 30], axis: 'right' as const, color: '#444', dashed: true },
    ],
    guides: [{ axis: 'left' as const, value: 50, label: 'limit', color: 'red' }],
  };

  it('is a standalone SVG document with escaped text', () => {
    const svg = renderChart(spec);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('sweep &lt;arena&gt; &amp; more');
    expect(svg).not.toContain('<arena>');
    // Every opened element is closed or self-closed.
    const opened = (svg.match(/<(?!\/)[a-z]+[^>]*[^/]>/g) ?? []).length;
    const closed = (svg.match(/<\/[a-z]+>/g) ?? []).length;
    expect(opened).toBe(closed);
  });

  it('draws one line per series and leaves a gap at a missing value', () => {
    const svg = renderChart(spec);
    // p99: one polyline of 3 points; cpu: the NaN splits it into single points, so no polyline.
    expect((svg.match(/<polyline/g) ?? []).length).toBe(1);
    expect((svg.match(/<circle/g) ?? []).length).toBe(5);
    expect(svg).not.toContain('NaN');
  });

  it('scales the axes to round maxima that include the guides', () => {
    expect(niceMax(40)).toBe(50);
    expect(niceMax(51)).toBe(100);
    expect(niceMax(0.3)).toBe(0.5);
    expect(niceMax(0)).toBe(1);
    expect(niceMax(NaN)).toBe(1);
    const svg = renderChart(spec);
    expect(svg).toContain('>50<'); // left axis top = 50 (guide), not 40
  });

  it('caps the left axis at leftCap and writes the value of a point beyond it', () => {
    const far = { ...spec, series: [{ name: 'p99', values: [5, 12, 2611], axis: 'left' as const, color: '#d95f02' }], leftCap: 200 };
    const svg = renderChart(far);
    expect(svg).toContain('>200<'); // the axis top, not 5,000
    expect(svg).not.toContain('>5000<');
    expect(svg).toContain('↑ p99 2611<');
    // Without the cap the axis reaches past the point.
    const { leftCap: _cap, ...uncapped } = far;
    expect(renderChart(uncapped)).toContain('>5000<');
    // A cap above every value changes nothing.
    expect(renderChart({ ...spec, leftCap: 1000 })).toBe(renderChart(spec));
  });
});
