/**
 * Replay on the real log (a temporary directory) after compaction removed the segments before the older kept
 * snapshot: the records from the first one are gone, which is a healthy log, not a corrupt one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WorldRuntime, replayWorld } from '../../server/core/index.js';
import { openLog, type EventLog } from '../../server/log/index.js';
import { ManualClock } from './helpers/memory-log.js';
import { move, planeWorld } from './helpers/worlds.js';

const dirs: string[] = [];
const logs: EventLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('replay of a compacted log', () => {
  it('verifies determinism from the oldest snapshot still backed by records instead of reporting corruption', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-core-compacted-'));
    dirs.push(dir);
    const world = planeWorld([[10, 10], [40, 40], [300, 300]]);
    const log = await openLog(dir, { create: { worldId: 'w-compact', worldSeed: world.seed }, durability: 'batch', segmentBytes: 4096 });
    logs.push(log);
    const clock = new ManualClock();
    const rt = await WorldRuntime.open({ world, log, clock });
    for (const a of ['a0', 'a1', 'a2']) await rt.registerAgent(a);
    const round = async (): Promise<void> => {
      const ps = ['a0', 'a1', 'a2'].map((a, i) => rt.submit(move(a, i + 1, 1, rt.viewSeq(a))));
      clock.advance(20);
      await rt.tick();
      await Promise.all(ps);
    };
    for (let i = 0; i < 40; i++) await round();
    await rt.snapshot();
    for (let i = 0; i < 40; i++) await round();
    await rt.snapshot();
    for (let i = 0; i < 10; i++) await round();
    await rt.drain();
    // What the log gives at seqs between the two kept snapshots, read while it still holds every record.
    const [newer, older] = log.snapshots();
    const between = [older!.anchorSeq, older!.anchorSeq + 7, newer!.anchorSeq - 1];
    const expected = await Promise.all(between.map(async (toSeq) => (await replayWorld(world, log, { toSeq })).stateHash));
    expect((await log.compact()).length).toBeGreaterThan(0);
    expect(log.firstSeq).toBeGreaterThan(1);
    const end = { globalSeq: rt.lastGlobalSeq, hash: rt.stateHash() };

    const plain = await replayWorld(world, log);
    expect(plain.ok).toBe(true);
    expect(plain.stateHash).toBe(end.hash);
    const verified = await replayWorld(world, log, { verifyDeterminism: true });
    expect(verified.ok).toBe(true);
    expect(verified.globalSeq).toBe(end.globalSeq);
    expect(verified.stateHash).toBe(end.hash);
    // A replay that must start from the initial state (to a seq before the oldest kept snapshot) says why it cannot,
    // and from where it can; a seq the log no longer holds too, not answered with the initial state as if nothing had
    // happened.
    expect(log.firstSeq).toBeLessThanOrEqual(older!.anchorSeq);
    for (const toSeq of [older!.anchorSeq - 1, log.firstSeq - 1, 1]) {
      for (const verifyDeterminism of [false, true]) {
        await expect(replayWorld(world, log, { toSeq, verifyDeterminism })).rejects.toMatchObject({ codeName: 'LOG_RANGE_UNAVAILABLE', message: expect.stringContaining(`replay to seq ${older!.anchorSeq} (the oldest kept snapshot) or later`) });
      }
    }
    // A seq between the kept snapshots replays from the older one, to the state the whole log gave there.
    for (const [i, toSeq] of between.entries()) {
      const r = await replayWorld(world, log, { toSeq, verifyDeterminism: true });
      expect([toSeq, r.ok, r.snapshotSeq, r.stateHash]).toEqual([toSeq, true, older!.anchorSeq, expected[i]]);
    }
  });
});
