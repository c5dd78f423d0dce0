import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../server/cli/main.js';
import { WorldRuntime } from '../../server/core/index.js';
import { openLog } from '../../server/log/index.js';
import { defaultWorld } from '../../server/worlds/index.js';
import { rewriteChain, useTempDirs } from '../helpers/log.js';
import { Subprotocol } from '../../server/protocol/index.js';
import { TestClient, is, startTestServer, token } from '../e2e/harness.js';

const capture = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
};

describe('worldline replay', () => {
  const tempDir = useTempDirs('worldline-cli-replay-');
  it('rebuilds a served world from its log, identically, while the log is still in use', async () => {
    const srv = await startTestServer();
    try {
      const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'replayer'));
      c.hello('replayer');
      await c.waitFor(is('welcome'));
      c.send({ type: 'submit_intent', intent: { req_id: 'sp', kind: 'Spawn', payload: { entity_id: 'replayer', fields: { x: 10, y: 10 } }, context_seq: 0, priority: 0 } });
      for (let i = 0; i < 20; i++) c.send({ type: 'submit_intent', intent: { req_id: `m${i}`, kind: 'Move', payload: { dx: 1, dy: 1 }, context_seq: 0, priority: 0 } });
      await c.waitFor((m) => m.type === 'intent_result' && m.req_id === 'm19');
      c.close();
      await srv.host.runtime.drain();
      const live = { global: srv.host.runtime.lastGlobalSeq, hash: srv.host.runtime.stateHash() };
      // The server still holds the lock: replay reads without it.
      const dir = `${srv.dataDir}/worlds/default`;
      const r = capture();
      expect(await main(['replay', dir, '--json'], r.io)).toBe(0);
      const rep = JSON.parse(r.out[0]!) as { ok: boolean; global_seq: number; state_hash: string; views: Record<string, unknown> };
      expect(rep.ok).toBe(true);
      expect(rep.global_seq).toBeGreaterThanOrEqual(live.global);
      if (rep.global_seq === live.global) expect(rep.state_hash).toBe(live.hash);
      expect(Object.keys(rep.views)).toContain('replayer');
      const v = capture();
      expect(await main(['replay', dir, '--verify-determinism'], v.io)).toBe(0);
      expect(v.out[0]).toMatch(/^ok: replayed \d+ records .* deterministic/);
      const partial = capture();
      expect(await main(['replay', dir, '--to', '5', '--json'], partial.io)).toBe(0);
      expect((JSON.parse(partial.out[0]!) as { records: number }).records).toBeLessThanOrEqual(5);
      // Past the end: refused, not a replay to the end reported as the state at that seq.
      const past = capture();
      expect(await main(['replay', dir, '--to', '99999999'], past.io)).toBe(2);
      expect(past.err.join('\n')).toMatch(/--to 99999999 is past the end of the log \(its last record is seq \d+\)/);
      const wrong = capture();
      expect(await main(['replay', dir, '--world', 'arena'], wrong.io)).not.toBe(0);
      expect(wrong.err.join('\n')).toMatch(/LOG_WORLD_MISMATCH|seed/);
    } finally {
      await srv.shutdown();
      fs.rmSync(srv.dataDir, { recursive: true, force: true });
    }
  });

  it('names the effects that may hold the first divergence: those since the last state hash that matched', async () => {
    const dir = tempDir();
    const log = await openLog(dir, { create: { worldId: 'default', worldSeed: defaultWorld.seed } });
    const rt = await WorldRuntime.open({ world: defaultWorld, log, clock: { now: () => 0 } });
    // The default world records a state hash every 1,000 effects; its NPCs' walk commits one effect each per tick.
    for (let i = 0; i < 1000 && rt.lastGlobalSeq < 2100; i++) await rt.tick();
    await rt.drain();
    await log.close();
    // The second state hash (global_seq 2000) now says another state, as one written by different world code would.
    let hashes = 0;
    rewriteChain(dir, (_seq, kind, payload) => {
      if (kind !== 'state-hash' || ++hashes !== 2) return undefined;
      const rec = JSON.parse(payload.toString()) as { hash: string };
      return Buffer.from(payload.toString().replace(rec.hash, '0'.repeat(64)));
    });
    const c = capture();
    expect(await main(['replay', dir], c.io)).toBe(1);
    expect(c.err.join('\n')).toMatch(/^WORLD_STATE_CORRUPTED: replay diverges at global_seq 2000 \(log seq \d+\): state hash differs; the state last matched at global_seq 1000, so the first divergent effect is one of global_seq 1001\.\.2000$/);
    const j = capture();
    expect(await main(['replay', dir, '--json'], j.io)).toBe(1);
    expect((JSON.parse(j.out[0]!) as { divergence: unknown }).divergence).toMatchObject({ global_seq: 2000, matched_global_seq: 1000 });
  });
});
