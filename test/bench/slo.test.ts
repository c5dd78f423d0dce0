import { describe, expect, it } from 'vitest';
import { compare, evaluateAll, evaluateSlo, exitCodeFor, resolvePath, splitPath, type Slo } from '../../bench/arena/slo-eval.js';
import { agentFor, localAddressFor, saturationNote, shares } from '../../bench/arena/runner.js';
import { headline, medianRun, nearLimit } from '../../bench/sweep.js';
import { parseArenaArgs, UsageError } from '../../bench/arena/options.js';

const ws = {
  smoke: false,
  runs: [
    { clients: 100, sharedAgents: false, delivery: { p50: 3, p99: 8 }, server: { cpuPercent: 12 }, errors: { total: 0 } },
    { clients: 1000, sharedAgents: true, delivery: { p50: 9, p99: 31 }, server: { cpuPercent: 70 }, errors: { total: 2 } },
  ],
};
const log = { append: [{ durability: 'always', appenders: 256, recordsPerSec: 6000 }, { durability: 'batch', appenders: 256, recordsPerSec: 300_000 }], recovery: { referenceMBps: 250 } };
const slo = (over: Partial<Slo>): Slo => ({ id: 't', source: 's', description: 'd', file: 'ws.json', path: 'runs[clients=100].delivery.p50', op: '<=', threshold: 20, ...over });

describe('SLO paths', () => {
  it('splits at dots outside selectors', () => {
    expect(splitPath('bytes[codec=worldline.v1.proto,form=two decimals].bytes')).toEqual(['bytes[codec=worldline.v1.proto,form=two decimals]', 'bytes']);
  });

  it('selects array elements by fields and by index', () => {
    expect(resolvePath(log, 'append[durability=batch,appenders=256].recordsPerSec').value).toBe(300_000);
    expect(resolvePath(ws, 'runs[1].clients').value).toBe(1000);
    expect(resolvePath(ws, 'runs[clients=500].delivery.p99').value).toBeUndefined();
    expect(resolvePath(ws, 'nope.deeper').value).toBeUndefined();
  });

  it('compares with every operator', () => {
    expect(compare(10, '<=', 10)).toBe(true);
    expect(compare(10, '<', 10)).toBe(false);
    expect(compare(10, '>=', 10)).toBe(true);
    expect(compare(10, '>', 10)).toBe(false);
    expect(compare(0, '==', 0)).toBe(true);
  });
});

describe('SLO evaluation', () => {
  const files = { 'ws.json': ws, 'log-smoke.json': { smoke: true, ...log } };

  it('passes, fails, and says when a figure or a file is missing', () => {
    expect(evaluateSlo(slo({}), files).verdict).toBe('PASS');
    expect(evaluateSlo(slo({ path: 'runs[clients=100].delivery.p99', threshold: 5 }), files)).toMatchObject({ verdict: 'FAIL', measured: 8 });
    expect(evaluateSlo(slo({ path: 'runs[clients=2000].delivery.p99' }), files).verdict).toBe('MISSING');
    expect(evaluateSlo(slo({ file: 'cancel.json' }), files)).toMatchObject({ verdict: 'MISSING', note: expect.stringContaining('cancel.json') as string });
  });

  it('flags a run where clients shared agents, and a figure from a smoke run', () => {
    expect(evaluateSlo(slo({ path: 'runs[clients=1000].errors.total', op: '==', threshold: 0 }), files)).toMatchObject({ verdict: 'FAIL', note: expect.stringContaining('shared') as string });
    expect(evaluateSlo(slo({ file: 'log-smoke.json', path: 'recovery.referenceMBps', op: '>=', threshold: 1 }), files).note).toContain('smoke');
  });

  it('divides by a figure of the same run and scales', () => {
    const ratio = slo({ file: 'log-smoke.json', path: 'append[durability=batch,appenders=256].recordsPerSec', per: 'recovery.referenceMBps', op: '>=', threshold: 1000, mode: 'smoke' });
    expect(evaluateSlo(ratio, files)).toMatchObject({ verdict: 'PASS', measured: 1200, note: '' });
    expect(evaluateSlo(slo({ path: 'runs[clients=100].server.cpuPercent', scale: 0.5, threshold: 6 }), files).measured).toBe(6);
  });

  it("a smoke check reads only a smoke run's file; every smoke SLO in bench/slo.json names one", async () => {
    const core = { smoke: false, delta_cost_ratio_largest_to_smallest: 3.02 };
    const check = slo({ file: 'core.json', path: 'delta_cost_ratio_largest_to_smallest', op: '<=', threshold: 3, mode: 'smoke' });
    expect(evaluateSlo(check, { 'core.json': core })).toMatchObject({ verdict: 'MISSING', note: expect.stringContaining('not from a smoke run') as string });
    expect(evaluateSlo({ ...check, file: 'core-smoke.json' }, { 'core-smoke.json': { ...core, smoke: true, delta_cost_ratio_largest_to_smallest: 1.7 } }).verdict).toBe('PASS');
    const fs = await import('node:fs');
    const listed = (JSON.parse(fs.readFileSync(new URL('../../bench/slo.json', import.meta.url), 'utf8')) as { slos: Slo[] }).slos;
    for (const s of listed.filter((x) => x.mode === 'smoke')) expect(s.file, s.id).toMatch(/-smoke\.json$/);
  });

  it('exits non-zero on a FAIL, and on a figure missing from a file that is there (a measurement that did not happen)', () => {
    const judge = (over: Partial<Slo>, smoke = false) => exitCodeFor([evaluateSlo(slo(over), files)], smoke);
    expect(judge({})).toBe(0);
    expect(judge({ threshold: 1 })).toBe(1);
    // ws.json is there, its 1,000-client run has no such figure (as a null CPU or a NaN share is written): not a pass.
    expect(judge({ path: 'runs[clients=1000].server.rssMB' })).toBe(1);
    expect(judge({ path: 'runs[clients=100].delivery.p50', per: 'runs[clients=100].nope' })).toBe(1);
    // No file yet (its bench not run): reported, fails only a smoke run, which writes every file it judges.
    expect(judge({ file: 'cancel.json' })).toBe(0);
    expect(judge({ file: 'cancel.json' }, true)).toBe(1);
  });

  it('judges only the SLOs of the mode', () => {
    const list = [slo({ id: 'full' }), slo({ id: 'smoke', mode: 'smoke' })];
    expect(evaluateAll(list, files, false).map((o) => o.slo.id)).toEqual(['full']);
    expect(evaluateAll(list, files, true).map((o) => o.slo.id)).toEqual(['smoke']);
  });
});

describe('load layout', () => {
  it('splits clients over workers evenly and contiguously', () => {
    expect(shares(10, 3)).toEqual([[0, 4], [4, 7], [7, 10]]);
    expect(shares(2, 2)).toEqual([[0, 1], [1, 2]]);
  });

  it('binds client i to entity i, sharing agents only when the world is smaller', () => {
    expect(agentFor(7, 200)).toBe('e000007');
    expect(agentFor(205, 200)).toBe('e000005');
    expect(localAddressFor(0)).toBe('127.0.0.1');
    expect(localAddressFor(1999)).toBe('127.0.0.10');
  });

  it('parses options with arena-v1 defaults and refuses bad ones', () => {
    const o = parseArenaArgs(['--clients', '500']);
    expect(o).toMatchObject({ clients: 500, entities: 500, warmupMs: 5000, measureMs: 20_000, moveHz: 10, radius: 150, maxStep: 2, tickMs: 50 });
    expect(parseArenaArgs([]).entities).toBe(200);
    expect(() => parseArenaArgs(['--codec', 'xml'])).toThrow(UsageError);
    expect(() => parseArenaArgs(['--clients', '-1'])).toThrow(UsageError);
    expect(parseArenaArgs(['--gen-nice', '0']).genNice).toBe(0);
    expect(parseArenaArgs([]).genNice).toBeUndefined();
    expect(() => parseArenaArgs(['--gen-nice', '20'])).toThrow(UsageError);
    expect(() => parseArenaArgs(['--gen-nice', '1.5'])).toThrow(UsageError);
  });
});

describe('sweep headline', () => {
  const run = (clients: number, p99: number, cpu: number | null) => ({ clients, delivery: { count: 1, p50: 1, p90: 1, p99, max: p99 }, server: { pid: 1, cpuPercent: cpu, peakRssMB: 1, rssMB: 1 }, errors: { total: 0, connectFailed: 0, closes: 0, errorFrames: {}, viewErrors: {}, radiusViolations: 0, intentsRejected: 0, intentsUnanswered: 0 }, correctness: { samples: 10, correct: 10, share: 1, lagging: 0, failedFetch: 0, examples: [] } });

  it('is the largest count with every smaller count within the limits', () => {
    expect(headline([run(50, 5, 10), run(100, 8, 20), run(200, 60, 40), run(500, 20, 50)])).toBe(100);
    expect(headline([run(50, 5, 95)])).toBe(0);
    expect(headline([run(100, 5, null)])).toBe(0);
  });

  it('does not count a run with errors or wrong views, however fast it was', () => {
    const closed = { ...run(100, 8, 20), errors: { ...run(100, 8, 20).errors, total: 3, closes: 3 } };
    expect(headline([run(50, 5, 10), closed])).toBe(50);
    const wrong = { ...run(100, 8, 20), correctness: { samples: 10, correct: 8, share: 0.8, lagging: 1, failedFetch: 0, examples: [] } };
    expect(headline([run(50, 5, 10), wrong])).toBe(50);
    // Lagging samples are latency (the p99 judges it), not wrong views.
    const lagging = { ...run(100, 8, 20), correctness: { samples: 10, correct: 7, share: 0.7, lagging: 3, failedFetch: 0, examples: [] } };
    expect(headline([run(50, 5, 10), lagging])).toBe(100);
  });

  it('repeats counts whose p99 lands within 25% of the limit, and judges them on the median run', () => {
    expect([30, 37.4, 37.5, 50, 62.5, 62.6, 90].map((p) => nearLimit(run(500, p, 50)))).toEqual([false, false, true, true, true, false, false]);
    const runs = [run(500, 52.9, 51), run(500, 43.2, 50), run(500, 57.5, 49)];
    expect(medianRun(runs)).toBe(runs[0]);
    expect(headline([run(200, 20, 25), medianRun([run(500, 48, 50), run(500, 43.2, 50), run(500, 57.5, 49)])])).toBe(500);
  });
});

describe('saturationNote', () => {
  it('warns only when nearly every core was busy over the window', () => {
    expect(saturationNote({ machineBusyPercent: 97.5 })).toContain('97.5% busy');
    expect(saturationNote({ machineBusyPercent: 90 })).toBeDefined();
    expect(saturationNote({ machineBusyPercent: 89.9 })).toBeUndefined();
    expect(saturationNote({ machineBusyPercent: null })).toBeUndefined();
    expect(saturationNote({ machineBusyPercent: NaN })).toBeUndefined();
  });
});
