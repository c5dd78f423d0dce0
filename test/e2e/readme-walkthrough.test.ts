/**
 * The README's "What a client does", followed to the letter: the frames are read out of README.md itself (the Hello
 * in the text, the Spawn in the JSON block), sent over a real socket with the JSON codec to a server hosting the
 * default world, and what the README says comes back is checked: a Welcome, the Spawn accepted with its global_seq,
 * and deltas that apply to the view, the NPC it names among them, moving. A README edit that breaks the walkthrough
 * fails here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Subprotocol, type ServerMessage } from '../../server/protocol/index.js';
import { TestClient, ViewTracker, is, sharedTestServer, token } from './harness.js';

const readme = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## What a client does'), readme.indexOf('## Your own world'));

describe('the README walkthrough', () => {
  const srv = sharedTestServer({ tickMs: 50 });

  it('has the frames it says to send', () => {
    expect(section.length).toBeGreaterThan(0);
    expect(section).toMatch(/`(\{"type":"hello".*?\})`/);
    expect(section).toMatch(/```json\n(\{"type":"submit_intent".*\})\n```/);
  });

  it('gives what it says: a Welcome, the Spawn accepted, then deltas in which the named NPC wanders', async () => {
    const hello = JSON.parse(/`(\{"type":"hello".*?\})`/.exec(section)![1]!) as Record<string, unknown>;
    const spawn = JSON.parse(/```json\n(\{"type":"submit_intent".*\})\n```/.exec(section)![1]!) as { intent: { req_id: string; payload: { entity_id: string } } };
    const npc = /the NPC `([^`]+)`/.exec(section)?.[1];
    expect(npc, 'the README names the NPC the agent sees').toBeDefined();
    const agent = hello['agent_id'] as string;
    expect(spawn.intent.payload.entity_id).toBe(agent);

    const world = srv().worlds.find((w) => w.id === 'default');
    expect(world?.wsUrl).toMatch(/\/v1\/worlds\/default\/ws$/);
    const c = await TestClient.connect(world!.wsUrl, Subprotocol.JSON, await token(srv(), agent));
    try {
      // The frames as the README prints them (its Hello carries no token: the query parameter has it).
      c.send(hello as never);
      const welcome = await c.waitFor(is('welcome'));
      expect(welcome.world).toBe('default');
      c.send(spawn as never);
      const result = await c.waitFor((m): m is Extract<ServerMessage, { type: 'intent_result' }> => m.type === 'intent_result' && m.req_id === spawn.intent.req_id);
      expect(result.status).toBe('accepted');
      expect(result.global_seq).toBeGreaterThan(0);

      const view = new ViewTracker(c);
      const positions: string[] = [];
      const deadline = Date.now() + 10_000;
      while (positions.length < 3 && Date.now() < deadline) {
        // The next delta after everything applied so far; each one applies strictly to the view before it.
        await c.waitFor(is('observation_delta'), 5000, c.received.length);
        view.sync();
        const e = view.view.entities[npc!];
        if (e) {
          const at = `${String(e['x'])},${String(e['y'])}`;
          if (positions.at(-1) !== at) positions.push(at);
        }
      }
      expect(view.view.entities[agent], 'its own entity is in its view').toBeDefined();
      expect(positions.length, `${npc} is seen at three different positions`).toBeGreaterThanOrEqual(3);
    } finally {
      c.close();
    }
  });
});
