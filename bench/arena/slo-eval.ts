/**
 * Service-level evaluation: each SLO in bench/slo.json names a result file, a path to one figure in it, a
 * comparison and a threshold. A path walks object keys and selects array elements by their fields:
 * `runs[clients=1000].delivery.p99`, `append[durability=batch,appenders=256].recordsPerSec`.
 */

export interface Slo {
  readonly id: string;
  /** Where the threshold comes from (gunn, issue 4, ...). */
  readonly source: string;
  readonly description: string;
  /** A file in bench/results. */
  readonly file: string;
  readonly path: string;
  readonly op: '<=' | '<' | '>=' | '>' | '==';
  readonly threshold: number;
  readonly unit?: string;
  /** Divide the figure by this other figure of the same file first (a ratio measured in one run). */
  readonly per?: string;
  /** Multiply the figure first (e.g. 1/200 for intents/s per agent from the total with 200 agents). */
  readonly scale?: number;
  /** Only in `npm run bench:smoke` (regression checks on ratios), or only in full runs. */
  readonly mode?: 'smoke' | 'full';
}

export type Verdict = 'PASS' | 'FAIL' | 'MISSING';

export interface SloOutcome {
  readonly slo: Slo;
  readonly verdict: Verdict;
  readonly measured: number | undefined;
  /** Why a figure is missing, or a caveat about how it was measured. */
  readonly note: string;
  /** For a MISSING verdict: the result file is absent, or it is there without the figure (a broken measurement). */
  readonly missing?: 'file' | 'figure';
}

/**
 * The exit code of a judgement: 1 on any FAIL, and on any MISSING figure of a result file that is there (its bench
 * ran and did not measure it: a null CPU, no correctness sample, a renamed field), which must not pass a gate
 * silently. A file not there at all fails only in smoke mode (the smoke run writes every file it judges).
 */
export function exitCodeFor(outcomes: readonly SloOutcome[], smoke: boolean): 0 | 1 {
  return outcomes.some((o) => o.verdict === 'FAIL' || (o.verdict === 'MISSING' && (smoke || o.missing === 'figure'))) ? 1 : 0;
}

const seg = /^([^[\]]+)?((?:\[[^\]]+\])*)$/;

/** Splits a path at the dots outside selectors (a selector may hold dots: `[codec=worldline.v1.proto]`). */
export function splitPath(path: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of path) {
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    if (ch === '.' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Resolves a path in a parsed result; undefined when any step is missing. Returns the value and the objects passed. */
export function resolvePath(root: unknown, path: string): { value: unknown; trail: unknown[] } {
  let cur: unknown = root;
  const trail: unknown[] = [];
  for (const part of splitPath(path)) {
    const m = seg.exec(part);
    if (!m) return { value: undefined, trail };
    if (m[1] !== undefined) {
      if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return { value: undefined, trail };
      cur = (cur as Record<string, unknown>)[m[1]];
    }
    for (const sel of m[2]?.match(/\[[^\]]+\]/g) ?? []) {
      const inner = sel.slice(1, -1);
      if (!Array.isArray(cur)) return { value: undefined, trail };
      if (/^\d+$/.test(inner)) {
        cur = cur[Number(inner)];
        continue;
      }
      const conds = inner.split(',').map((c) => {
        const i = c.indexOf('=');
        return [c.slice(0, i).trim(), c.slice(i + 1).trim()] as const;
      });
      cur = cur.find((el) => typeof el === 'object' && el !== null && conds.every(([k, v]) => String((el as Record<string, unknown>)[k]) === v));
    }
    trail.push(cur);
  }
  return { value: cur, trail };
}

export function compare(measured: number, op: Slo['op'], threshold: number): boolean {
  switch (op) {
    case '<=': return measured <= threshold;
    case '<': return measured < threshold;
    case '>=': return measured >= threshold;
    case '>': return measured > threshold;
    case '==': return measured === threshold;
  }
}

/** Judges one SLO against the parsed result files (by file name; a file not there is undefined). */
export function evaluateSlo(slo: Slo, files: Readonly<Record<string, unknown>>): SloOutcome {
  const data = files[slo.file];
  if (data === undefined) return { slo, verdict: 'MISSING', measured: undefined, note: `no bench/results/${slo.file} (run its bench)`, missing: 'file' };
  // A smoke check judges the smoke run's own figures, never a full run's file that happens to be on disk (committed
  // results would otherwise be judged in place of this run's).
  if (slo.mode === 'smoke' && (typeof data !== 'object' || data === null || (data as Record<string, unknown>)['smoke'] !== true)) {
    return { slo, verdict: 'MISSING', measured: undefined, note: `bench/results/${slo.file} is not from a smoke run; a smoke check reads its smoke run's file (*-smoke.json)`, missing: 'file' };
  }
  const { value, trail } = resolvePath(data, slo.path);
  let raw = typeof value === 'boolean' ? Number(value) : value;
  if (typeof raw !== 'number' || Number.isNaN(raw)) return { slo, verdict: 'MISSING', measured: undefined, note: `${slo.path} not found in ${slo.file}`, missing: 'figure' };
  if (slo.per !== undefined) {
    const d = resolvePath(data, slo.per).value;
    if (typeof d !== 'number' || !(d !== 0)) return { slo, verdict: 'MISSING', measured: undefined, note: `${slo.per} not found (or zero) in ${slo.file}`, missing: 'figure' };
    raw /= d;
  }
  const measured = Math.round(raw * (slo.scale ?? 1) * 1000) / 1000;
  // A run that was not the real workload is judged, but says so.
  const shared = trail.some((t) => typeof t === 'object' && t !== null && (t as Record<string, unknown>)['sharedAgents'] === true);
  const smoke = typeof data === 'object' && data !== null && (data as Record<string, unknown>)['smoke'] === true && slo.mode !== 'smoke';
  const notes = [shared ? 'clients shared the 200-entity arena\'s agents (server lacks larger arenas)' : '', smoke ? 'from a smoke run' : ''].filter(Boolean);
  return { slo, verdict: compare(measured, slo.op, slo.threshold) ? 'PASS' : 'FAIL', measured, note: notes.join('; ') };
}

/** The SLOs that apply in this mode, judged. */
export function evaluateAll(slos: readonly Slo[], files: Readonly<Record<string, unknown>>, smoke: boolean): SloOutcome[] {
  return slos.filter((s) => (s.mode ?? 'full') === (smoke ? 'smoke' : 'full')).map((s) => evaluateSlo(s, files));
}
