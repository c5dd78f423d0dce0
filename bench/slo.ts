/**
 * `npm run bench -- slo`: judges bench/results/*.json against bench/slo.json, prints PASS / FAIL / MISSING per
 * service level and sets a non-zero exit code on any FAIL, and on any MISSING figure of a result file that is there
 * (its bench ran but did not measure it; a file not there yet is only reported). With --smoke (`npm run bench:smoke`) it judges the smoke
 * checks instead: large regressions, each a ratio measured within one run, never an absolute time; there a MISSING
 * figure fails too (the smoke run just wrote every file it checks, so a missing one means the check is broken).
 * Writes bench/results/slo.json (or slo-smoke.json).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resultsDir, table, writeResult, type BenchOptions } from './lib.js';
import { evaluateAll, exitCodeFor, type Slo } from './arena/slo-eval.js';

const sloFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'slo.json');

/** Every result file there is, parsed, by file name. */
export function loadResults(dir = resultsDir): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    try {
      out[f] = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    } catch {
      // a half-written file is as good as missing
    }
  }
  return out;
}

export async function run(opts: BenchOptions): Promise<unknown> {
  const slos = (JSON.parse(fs.readFileSync(sloFile, 'utf8')) as { slos: Slo[] }).slos;
  const outcomes = evaluateAll(slos, loadResults(), opts.smoke);
  console.log(table(outcomes.map((o) => ({
    verdict: o.verdict,
    slo: o.slo.id,
    measured: o.measured === undefined ? '-' : `${o.measured}${o.slo.unit ? ' ' + o.slo.unit : ''}`,
    goal: `${o.slo.op} ${o.slo.threshold}`,
    note: o.note,
  }))));
  const fails = outcomes.filter((o) => o.verdict === 'FAIL');
  const missing = outcomes.filter((o) => o.verdict === 'MISSING');
  console.log(`\n${outcomes.length - fails.length - missing.length} PASS, ${fails.length} FAIL, ${missing.length} MISSING`);
  writeResult(opts.smoke ? 'slo-smoke' : 'slo', { smoke: opts.smoke, outcomes: outcomes.map((o) => ({ id: o.slo.id, source: o.slo.source, verdict: o.verdict, measured: o.measured ?? null, op: o.slo.op, threshold: o.slo.threshold, unit: o.slo.unit ?? '', note: o.note })) });
  if (exitCodeFor(outcomes, opts.smoke) !== 0) process.exitCode = 1;
  return outcomes;
}
