/**
 * Agent classes on a served world: a client does not choose its class, the world's policies.agentClassOf does, by
 * agent id and tenant, when the agent first joins; the class is recorded with the agent, so a restart keeps it.
 * Before agentClassOf, sessions and REST registered every agent as 'default', and a world's other classes did nothing
 * over the server.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinFirstWorld, withServer } from './harness.js';

// Bots may send one intent, then wait a second; people are not rationed.
const WORLD = `export default {
  name: 'classy', seed: 'classy-1',
  initialState: { entities: {} },
  policies: {
    observation: { distance: { radius: 100 } },
    agentClasses: { default: {}, bot: { quota: { rate: 1, burst: 1 } } },
    agentClassOf: (agentId) => (agentId.startsWith('bot-') ? 'bot' : undefined),
  },
};
`;

describe('agent classes of a served world', () => {
  it("puts each joining agent in the class the world's agentClassOf names, and that class's policies apply to it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-classes-'));
    const file = path.join(dir, 'classy.mjs');
    fs.writeFileSync(file, WORLD);
    try {
      await withServer({ world: file, tickMs: 10 }, async (srv) => {
        const bot = await joinFirstWorld(srv, 'bot-7');
        const person = await joinFirstWorld(srv, 'ada');
        expect(srv.host.runtime.agents.get('bot-7')?.agent_class).toBe('bot');
        expect(srv.host.runtime.agents.get('ada')?.agent_class).toBe('default');
        // The bot's quota (burst 1): its spawn takes the token, the next intent at once is refused; ada's are not.
        expect((await bot.submit('spawn')).status).toBe('accepted');
        const refused = await bot.submit('m1');
        expect(refused.status).toBe('rejected');
        expect(refused.error).toMatchObject({ name: 'QUOTA_EXCEEDED', details: { scope: 'agent' } });
        expect((await person.submit('spawn')).status).toBe('accepted');
        expect((await person.submit('m1')).status).toBe('accepted');
        bot.c.close();
        person.c.close();
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
