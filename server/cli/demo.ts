/**
 * `worldline demo`: runs a small seeded world (agents on a random walk) for N steps, persisting every move as a
 * canonical-JSON effect in a real log with signed checkpoints and a snapshot, then verifies it. Run it again and it
 * recovers the log, resumes from the snapshot and appends more.
 */
import fs from 'node:fs';
import path from 'node:path';
import seedrandom from 'seedrandom';
import { canonicalBytes, openLog, verifyLog } from '../log/index.js';
import { runKeygen } from './log-commands.js';
import type { Out } from './main.js';

interface DemoState {
  step: number;
  agents: Array<{ id: string; x: number; y: number }>;
  rng: seedrandom.State.Arc4;
}

const WORLD = { id: 'demo', seed: '42', agents: 50, size: 1000 };

export async function runDemo(dataDir: string, records: number, io: Out): Promise<number> {
  const logDir = path.join(dataDir, 'demo');
  const keyDir = path.join(dataDir, 'keys');
  if (!fs.existsSync(path.join(keyDir, 'checkpoint.key'))) runKeygen(keyDir, { out: () => {}, err: io.err });
  const privateKey = fs.readFileSync(path.join(keyDir, 'checkpoint.key'), 'utf8');
  const t0 = performance.now();
  const log = await openLog(logDir, {
    create: { worldId: WORLD.id, worldSeed: WORLD.seed },
    durability: 'batch',
    checkpoint: { privateKey, everyRecords: 1000 },
    onEvent: (e, d) => {
      if (e !== 'segment-rolled') io.out(`  log: ${e} ${JSON.stringify(d)}`);
    },
  });
  const snap = log.latestSnapshot();
  let state: DemoState;
  if (snap) {
    state = JSON.parse(Buffer.from(snap.state).toString('utf8')) as DemoState;
    io.out(`resuming from snapshot at seq ${snap.anchorSeq} (step ${state.step})`);
  } else {
    const init = seedrandom(WORLD.seed, { state: true });
    state = {
      step: 0,
      agents: Array.from({ length: WORLD.agents }, (_, i) => ({ id: `agent-${i}`, x: Math.floor(init() * WORLD.size), y: Math.floor(init() * WORLD.size) })),
      rng: init.state(),
    };
  }
  const rng = seedrandom('', { state: state.rng });
  const pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < records; i++) {
    const a = state.agents[i % state.agents.length]!;
    const dx = Math.round((rng() - 0.5) * 10);
    const dy = Math.round((rng() - 0.5) * 10);
    a.x = Math.min(WORLD.size, Math.max(0, a.x + dx));
    a.y = Math.min(WORLD.size, Math.max(0, a.y + dy));
    if (i % state.agents.length === 0) state.step++;
    const effect = { kind: 'Move', source_id: a.id, agent_id: a.id, world_id: WORLD.id, sim_time: state.step * 50, payload: { dx, dy, x: a.x, y: a.y } };
    pending.push(log.append('effect', canonicalBytes(effect)));
    if (pending.length >= 512) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  state.rng = rng.state();
  await log.writeSnapshot(canonicalBytes(state), log.lastSeq);
  const lastSeq = log.lastSeq;
  await log.close();
  const ms = performance.now() - t0;
  const report = await verifyLog(logDir, { publicKey: fs.readFileSync(path.join(keyDir, 'checkpoint.pub'), 'utf8') });
  io.out(`appended ${records} effects in ${ms.toFixed(0)} ms; log ends at seq ${lastSeq}`);
  if (!report.ok) {
    io.err(`verify FAILED at seq ${report.problem?.seq}: ${report.problem?.reason}`);
    return 1;
  }
  io.out(`verify: ok, ${report.records} records, head ${report.headHash.slice(0, 16)}..., ${report.checkpoints?.verified ?? 0} signed checkpoints`);
  io.out(`next: npx worldline inspect ${logDir} --from ${Math.max(1, lastSeq - 4)}   |   npx worldline verify ${logDir} --pubkey ${path.join(keyDir, 'checkpoint.pub')}`);
  return 0;
}
