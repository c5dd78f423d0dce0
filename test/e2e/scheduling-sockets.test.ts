/**
 * Scheduling as several agents on real sockets meet it (docs/core.md stages 5-6): one agent floods while two others
 * send one intent each; a quantum takes maxIntentsPerQuantum by weighted round-robin, so the quiet agents' intents
 * commit in the first quantum, the higher priority first; the commit order is the log's, and a replay with
 * verifyDeterminism reproduces it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineWorld, replayWorld } from '../../server/core/index.js';
import { openLogReadOnly } from '../../server/log/index.js';
import { Subprotocol, type ServerMessage } from '../../server/protocol/index.js';
import { worldDataDir } from '../../server/transport/world-host.js';
import { TestClient, is, startTestServer, token, type TestServer } from './harness.js';

type Result = Extract<ServerMessage, { type: 'intent_result' }>;

const SPEC = {
  name: 'queue', seed: 'queue-1',
  initialState: { entities: {}, metadata: { bounds: { min_x: 0, min_y: 0, max_x: 10000, max_y: 10000 } } },
  policies: {
    timebase: 'ticks', maxIntentsPerQuantum: 4,
    observation: { distance: { radius: 10 } },
    agentClasses: { default: { queueLimit: 64, backpressure: 'defer', stalenessThreshold: 1000 } },
  },
};

async function agent(srv: TestServer, id: string, x: number): Promise<TestClient> {
  const c = await TestClient.connect(srv.wsUrl, Subprotocol.MSGPACK, await token(srv, id, 'agent', { world: 'queue' }));
  c.hello(id);
  const w = await c.waitFor(is('welcome'));
  c.send({ type: 'submit_intent', intent: { req_id: 'spawn', kind: 'Spawn', payload: { entity_id: id, fields: { x, y: 100 } }, context_seq: w.view_seq, priority: 0 } });
  expect((await c.waitFor((m): m is Result => m.type === 'intent_result' && m.req_id === 'spawn')).status).toBe('accepted');
  return c;
}

describe('scheduling over sockets', () => {
  it('a flooding agent delays two quiet ones by at most one round; priority orders the quantum; replay agrees', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-sched-'));
    const file = path.join(dir, 'queue.mjs');
    fs.writeFileSync(file, `export default ${JSON.stringify(SPEC)};\n`);
    const srv = await startTestServer({ world: file, tickMs: 20 }, path.join(dir, 'data'));
    try {
      const flooder = await agent(srv, 'flooder', 100);
      const quiet1 = await agent(srv, 'quiet1', 300);
      const quiet2 = await agent(srv, 'quiet2', 500);
      const rt = srv.host.runtime;
      // An engine drives the world from here on: no quantum runs until it ticks, so every intent below waits for the
      // same first quantum whatever the machine's speed.
      const engine = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, undefined, 'engine', { world: 'queue' }));
      engine.send({ type: 'hello', token: '', agent_id: '', role: 'engine', client_version: 'e2e/1', schema_version: '1.0.0' });
      await engine.waitFor(is('welcome'));
      const send = (c: TestClient, id: string, req: string, priority: number): void =>
        c.send({ type: 'submit_intent', intent: { req_id: req, kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: rt.viewSeq(id), priority } });
      for (let i = 0; i < 40; i++) send(flooder, 'flooder', `f${i}`, 0);
      send(quiet1, 'quiet1', 'q1', 0);
      send(quiet2, 'quiet2', 'q2', 5);
      for (let i = 0; i < 500 && rt.pendingIntents < 42; i++) await new Promise((r) => setTimeout(r, 10));
      expect(rt.pendingIntents).toBe(42);
      // 42 intents, 4 a quantum: 11 ticks take them all (bounded).
      for (let frame = 1; frame <= 11; frame++) engine.send({ type: 'time_tick', sim_time: frame, delta_time: 0.02, frame_number: frame });
      const seqOf = async (c: TestClient, req: string): Promise<number> => {
        const r = await c.waitFor((m): m is Result => m.type === 'intent_result' && m.req_id === req, 30_000);
        expect(r.status).toBe('accepted');
        return r.global_seq as number;
      };
      const q1 = await seqOf(quiet1, 'q1');
      const q2 = await seqOf(quiet2, 'q2');
      const flood = [];
      for (let i = 0; i < 40; i++) flood.push(await seqOf(flooder, `f${i}`));
      // The flooder's intents commit in submission order, 4 per quantum at most (maxIntentsPerQuantum).
      expect(flood).toEqual([...flood].sort((a, b) => a - b));
      // One round: flooder, quiet1, quiet2, then flooder again fill the first quantum of 4.
      const effects = [...srv.host.log.records()].filter((r) => r.kind === 'effect').map((r) => JSON.parse(Buffer.from(r.payload).toString()) as { global_seq: number; sim_time: number; req_id?: string; agent_id?: string });
      const tickOf = new Map(effects.map((e) => [e.global_seq, e.sim_time]));
      const first = tickOf.get(flood[0]!);
      expect(tickOf.get(q1)).toBe(first);
      expect(tickOf.get(q2)).toBe(first);
      expect(flood.filter((g) => tickOf.get(g) === first)).toHaveLength(2);
      // Within the quantum: priority 5 first, then (equal priority) by source id: flooder's two, then quiet1.
      expect(q2).toBeLessThan(flood[0]!);
      expect(flood[1]!).toBeLessThan(q1);
      engine.close();
    } finally {
      await srv.shutdown();
    }
    try {
      const world = defineWorld(SPEC as Parameters<typeof defineWorld>[0]);
      const log = await openLogReadOnly(worldDataDir(path.join(dir, 'data'), 'queue'));
      const r = await replayWorld(world, log, { verifyDeterminism: true });
      expect(r.ok).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
