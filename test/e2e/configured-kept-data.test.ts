/**
 * A configured world whose id names the kept data of a world created at runtime and deleted without purge: that data
 * stays its tenant's (docs/server.md), so a configuration giving the id to another tenant stops the start instead of
 * serving that tenant the other's log; the same tenant carries on from it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTestServer, token } from './harness.js';

describe('a configured world on the kept data of a deleted created world', () => {
  it("is refused at start for another tenant (CONFIG_INVALID naming both), and carries on for the data's own tenant", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-kept-'));
    try {
      const first = await startTestServer({ world: 'default' }, dir);
      await first.createWorld({ id: 'kept', world: 'arena' });
      const agent = await token(first, 'ann', 'agent', { world: 'kept' });
      const r = await fetch(`${first.httpUrl}/v1/worlds/kept/intents`, { method: 'POST', headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' }, body: JSON.stringify({ intent: { req_id: 's', kind: 'Spawn', payload: { entity_id: 'ann', fields: { x: 5, y: 5 } }, context_seq: 0 } }) });
      expect(((await r.json()) as { status: string }).status).toBe('committed');
      await first.deleteWorld('kept');
      await first.shutdown();
      expect(fs.existsSync(path.join(dir, 'worlds', 'kept', 'created.json'))).toBe(true);

      await expect(startTestServer({ worlds: ['default', 'acme/kept=arena'] }, dir)).rejects.toMatchObject({
        codeName: 'CONFIG_INVALID',
        message: expect.stringMatching(/^world "kept" is configured for tenant acme, but .*kept holds the kept data of tenant default's world of that id, created at runtime and deleted without purge/),
      });

      const same = await startTestServer({ worlds: ['default', 'kept=arena'] }, dir);
      try {
        const host = same.worlds.find((w) => w.id === 'kept')?.host;
        expect(host?.runtime.observe('ann').view.entities['ann']).toBeDefined();
      } finally {
        await same.shutdown();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
