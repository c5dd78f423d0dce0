/** Runs the arena-v1 load at several client counts (shared by the ws and sweep benches). */
import { parseArenaArgs, UsageError } from './options.js';
import { runArena, saturationNote, summaryRow, type ArenaOptions, type ArenaResult } from './runner.js';
import { referenceLoopUs } from './reference.js';
import { table } from '../lib.js';

export interface SuiteRun extends ArenaResult {
  /** Server CPU µs per delta delivered, and that over the reference loop's µs (a ratio the smoke check can use). */
  readonly serverCpuUsPerDelta: number | null;
  readonly cpuPerDeltaVsReference: number | null;
}

/** Runs each client count in turn (each with a fresh server), printing a row as each finishes. */
export async function runSuite(counts: readonly number[], args: readonly string[], overrides: Partial<ArenaOptions>): Promise<{ runs: SuiteRun[]; referenceUs: number; options: ArenaOptions }> {
  const base = parseArenaArgs(args);
  // ws and sweep run arena-v1's own counts with E = max(200, C): --clients and --entities would be silently replaced.
  for (const [given, flag] of [[base.clientsGiven, '--clients'], [base.entitiesGiven, '--entities']] as const) {
    if (given) throw new UsageError(`${flag} is not an option of ws or sweep: they run fixed client counts (${counts.join(', ')}) with entities = max(200, clients); for one run of your own size use \`npm run bench -- arena ${flag} N\``);
  }
  const referenceUs = referenceLoopUs();
  const runs: SuiteRun[] = [];
  for (const clients of counts) {
    const o: ArenaOptions = { ...base, entities: Math.max(200, clients), ...overrides, clients };
    console.log(`arena-v1: ${clients} clients, ${o.entities} entities, ${o.codec}, warm-up ${o.warmupMs / 1000} s, measured ${o.measureMs / 1000} s`);
    const r = await runArena(o);
    const deltasPerSec = r.delivery.count / r.measureS;
    const us = r.server.cpuPercent !== null && deltasPerSec > 0 ? Math.round(((r.server.cpuPercent / 100) * 1e6) / deltasPerSec * 10) / 10 : null;
    runs.push({ ...r, serverCpuUsPerDelta: us, cpuPerDeltaVsReference: us !== null ? Math.round((us / referenceUs) * 1000) / 1000 : null });
    console.log(table([summaryRow(r)]));
    const busy = saturationNote(r);
    if (busy) console.log(busy);
    if (r.correctness.examples.length || r.errors.total) console.log(`  errors ${JSON.stringify(r.errors)}\n  examples: ${r.correctness.examples.join('\n            ')}`);
  }
  return { runs, referenceUs, options: base };
}
