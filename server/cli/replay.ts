/**
 * `worldline replay DIR [--to SEQ] [--verify-determinism] [--world NAME|FILE]`: rebuilds the world recorded in a log
 * directory (from its newest snapshot) and reports the global_seq, state hash and views; with
 * --verify-determinism it replays from the first record twice in lockstep and names the first divergent seq.
 */
import { WorldlineError } from '../errors.js';
import { describeDivergence, replayWorld } from '../core/index.js';
import { isWorldModule, loadWorld, resolveWorld, worlds } from '../worlds/index.js';
import { openLogReadOnly } from '../log/index.js';
import { requireLogDir } from './log-commands.js';
import type { Out } from './main.js';

export async function runReplay(dir: string, opts: { to?: number | undefined; verify: boolean; world?: string | undefined; json: boolean }, io: Out): Promise<number> {
  requireLogDir(dir);
  const log = await openLogReadOnly(dir);
  const name = opts.world ?? log.meta.worldId;
  const world = isWorldModule(name) ? await loadWorld(name) : resolveWorld(name);
  if (!world) throw new WorldlineError('CONFIG_INVALID', `the log records world ${JSON.stringify(log.meta.worldId)}; pass --world with its definition: a built-in name (${Object.keys(worlds).join(', ')}) or the module file it was served from (./my-world.mjs)`);
  if (world.seed !== log.meta.worldSeed) {
    throw new WorldlineError('LOG_WORLD_MISMATCH', `the log was recorded with world seed ${JSON.stringify(log.meta.worldSeed)}, but world ${name} has seed ${JSON.stringify(world.seed)}; pass --world with the definition that wrote it`);
  }
  if (log.tornTailAt !== undefined) io.err(`warning: torn tail from seq ${log.tornTailAt} is not replayed (the next writable open cuts it)`);
  // A seq past the end would replay to the end and say "ok", as if the state at that seq had been shown.
  if (opts.to !== undefined && opts.to > log.lastSeq) throw new WorldlineError('CONFIG_INVALID', `--to ${opts.to} is past the end of the log (its last record is seq ${log.lastSeq}); pass a seq at most ${log.lastSeq}, or leave --to out to replay it all`, { key: 'to', last_seq: log.lastSeq });
  const t0 = performance.now();
  const r = await replayWorld(world, log, { ...(opts.to !== undefined ? { toSeq: opts.to } : {}), verifyDeterminism: opts.verify });
  const ms = performance.now() - t0;
  if (opts.json) {
    io.out(JSON.stringify({ ok: r.ok, world: r.worldId, records: r.records, global_seq: r.globalSeq, state_hash: r.stateHash, snapshot_seq: r.snapshotSeq, views: r.views, divergence: r.divergence ?? null, ms: Math.round(ms) }));
  } else if (r.ok) {
    const from = r.snapshotSeq ? `snapshot at seq ${r.snapshotSeq}` : 'the first record';
    io.out(`ok: replayed ${r.records} records from ${from} to global_seq ${r.globalSeq} in ${ms.toFixed(0)} ms; state ${r.stateHash.slice(0, 16)}..., ${Object.keys(r.views).length} agent views${opts.verify ? '; deterministic (two lockstep replays agree)' : ''}`);
  }
  if (!r.ok) {
    const d = r.divergence;
    if (!opts.json) io.err(`WORLD_STATE_CORRUPTED: replay ${d ? describeDivergence(d) : 'diverges'}`);
    return 1;
  }
  return 0;
}
