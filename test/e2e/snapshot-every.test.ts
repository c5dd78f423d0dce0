/**
 * The server's snapshotEvery setting replaces the world's own snapshot policy (the default world's is 50,000
 * effects): with it set low, the wandering agents' effects make periodic snapshots within a few ticks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTestServer } from './harness.js';

const snapshots = (dataDir: string): string[] => {
  try {
    return fs.readdirSync(path.join(dataDir, 'worlds', 'default', 'snapshots')).filter((f) => f.endsWith('.wlsnap'));
  } catch {
    return [];
  }
};

describe('snapshotEvery', () => {
  it('set: snapshots are written every N effects; unset: the world policy (none this early)', async () => {
    const set = await startTestServer({ snapshotEvery: 5, tickMs: 10 });
    const unset = await startTestServer({ tickMs: 10 });
    try {
      const deadline = Date.now() + 10_000;
      while (snapshots(set.dataDir).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(snapshots(set.dataDir).length).toBeGreaterThanOrEqual(2);
      expect(set.host.runtime.lastGlobalSeq).toBeGreaterThan(5);
      // The other server has committed as many effects (past several snapshot points had the setting applied to it).
      while (unset.host.runtime.lastGlobalSeq <= 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(unset.host.runtime.lastGlobalSeq).toBeGreaterThan(10);
      expect(snapshots(unset.dataDir)).toEqual([]);
    } finally {
      await set.shutdown();
      await unset.shutdown();
    }
  });
});
