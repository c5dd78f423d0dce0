import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { main } from '../../server/cli/main.js';
import { Subprotocol } from '../../server/protocol/index.js';
import { TestClient, is, startTestServer, token } from '../e2e/harness.js';

const capture = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
};

describe('worldline replay', () => {
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
      const wrong = capture();
      expect(await main(['replay', dir, '--world', 'arena'], wrong.io)).not.toBe(0);
      expect(wrong.err.join('\n')).toMatch(/LOG_WORLD_MISMATCH|seed/);
    } finally {
      await srv.shutdown();
      fs.rmSync(srv.dataDir, { recursive: true, force: true });
    }
  });
});
