/**
 * The core on the real log (server/log, group commit under `batch`, in a temporary directory): a restart from the
 * files reproduces the global_seq order, the state, the views and view_seqs, and the idempotency index.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordKind, WorldRuntime, replayWorld, type Effect, type IntentOutcome } from '../../server/core/index.js';
import { openLog, type EventLog } from '../../server/log/index.js';
import { arenaEntityId, makeArena } from '../../server/worlds/index.js';
import { ManualClock } from './helpers/memory-log.js';

const dirs: string[] = [];
const logs: EventLog[] = [];

afterEach(async () => {
  for (const l of logs.splice(0)) await l.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function open(dir: string, seed: string): Promise<EventLog> {
  const log = await openLog(dir, { create: { worldId: 'arena-real', worldSeed: seed }, durability: 'batch' });
  logs.push(log);
  return log;
}

describe('core on the real log', () => {
  it('restarts from the log files with the same global_seq order, state, views and outcomes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-core-real-'));
    dirs.push(dir);
    const world = makeArena({ entities: 40, size: 400 });
    const agents = Array.from({ length: 12 }, (_, i) => arenaEntityId(i));
    const clock = new ManualClock();
    const log = await open(dir, world.seed);
    const rt = await WorldRuntime.open({ world, log, clock });
    for (const a of agents) await rt.registerAgent(a);
    const delivered: Effect[] = [];
    rt.onDelivery((d) => delivered.push(...d.effects));
    const outcomes = new Map<string, IntentOutcome>();
    const intents = new Map<string, Record<string, unknown>>();
    let n = 0;
    for (let t = 0; t < 12; t++) {
      const pending: Array<Promise<void>> = [];
      for (const a of agents) {
        for (let k = 0; k < 3; k++) {
          const req = `r${++n}`;
          // Every 7th intent asks for a step the arena forbids: rejected at commit and recorded.
          const dx = n % 7 === 0 ? 9 : ((n * 37) % 5) - 2;
          const intent = { req_id: req, agent_id: a, kind: 'Move', payload: { dx, dy: ((n * 11) % 5) - 2 }, context_seq: rt.viewSeq(a) };
          intents.set(req, intent);
          pending.push(rt.submit(intent).then((o) => void outcomes.set(req, o)));
        }
      }
      clock.advance(50);
      await rt.tick();
      await Promise.all(pending);
      if (t === 5) await rt.snapshot();
    }
    await rt.drain();
    const before = {
      globalSeq: rt.lastGlobalSeq,
      stateHash: rt.stateHash(),
      views: agents.map((a) => ({ ...rt.observe(a), seq: rt.viewSeq(a) })),
    };
    expect(delivered.map((e) => e.global_seq)).toEqual(Array.from({ length: delivered.length }, (_, i) => i + 1));
    expect([...outcomes.values()].some((o) => o.status === 'rejected')).toBe(true);
    await log.close();

    const reopened = await open(dir, world.seed);
    const logged = [...reopened.records()].filter((r) => r.kind === RecordKind.EFFECT).map((r) => JSON.parse(Buffer.from(r.payload).toString('utf8')) as Effect);
    expect(logged.map((e) => [e.global_seq, e.uuid, e.kind])).toEqual(delivered.map((e) => [e.global_seq, e.uuid, e.kind]));
    const rt2 = await WorldRuntime.open({ world, log: reopened, clock });
    expect(rt2.lastGlobalSeq).toBe(before.globalSeq);
    expect(rt2.stateHash()).toBe(before.stateHash);
    expect(agents.map((a) => ({ ...rt2.observe(a), seq: rt2.viewSeq(a) }))).toEqual(before.views);
    for (const [req, o] of outcomes) {
      // A retry after the restart gets the recorded outcome (global_seq included), committed or rejected at commit.
      const again = await rt2.submit(intents.get(req));
      if (o.status === 'committed') {
        const { effect: _effect, ...recorded } = o;
        expect(again).toEqual(recorded);
      } else {
        expect(again).toEqual(o);
      }
    }
    const replay = await replayWorld(world, reopened, { verifyDeterminism: true });
    expect(replay.ok).toBe(true);
    expect(replay.stateHash).toBe(before.stateHash);
    expect(replay.snapshotSeq).toBeGreaterThan(0);

    // The restarted world goes on numbering where the first one stopped.
    const pendingNext = rt2.submit({ req_id: 'after-restart', agent_id: agents[0] as string, kind: 'Move', payload: { dx: 1, dy: 1 }, context_seq: rt2.viewSeq(agents[0] as string) });
    await rt2.tick();
    const next = await pendingNext;
    expect(next).toMatchObject({ status: 'committed' });
    expect(next.status === 'committed' && next.global_seq).toBeGreaterThan(before.globalSeq);
  });
});
