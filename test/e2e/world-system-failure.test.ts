/**
 * A served world whose own system throws stops with WORLD_SYSTEM_FAILED naming the system: intents are refused with
 * it (they were left waiting for a tick that never came, no answer at all), the log line says the world's code
 * failed (it said the log refused a write and that the world would reopen, which never happened), and /readyz
 * reports the world failed. In process, tick() rejects with the same error for every way a system can go wrong.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defineWorld, WorldRuntime, type EffectDraft, type WorldSystem } from '../../server/index.js';
import { Subprotocol } from '../../server/protocol/index.js';
import { ManualClock, MemoryLog } from '../core/helpers/memory-log.js';
import { startTestServer, TestClient, is, token } from './harness.js';

function ballWorld(system: WorldSystem): ReturnType<typeof defineWorld> {
  return defineWorld({ name: 'balls', seed: 'balls-1', initialState: { entities: { ball: { x: 0, y: 0 } } }, systems: [system], policies: { agentClasses: { default: { stalenessThreshold: 1_000_000 } } } });
}

describe('a world system that fails', () => {
  it.each([
    ['throws', (): readonly EffectDraft[] => { throw new TypeError("Cannot read properties of undefined (reading 'x')"); }, /World system gravity failed at tick 1: Cannot read properties of undefined/],
    ['returns undefined', (): readonly EffectDraft[] => undefined as unknown as EffectDraft[], /gravity failed at tick 1: run returned undefined, not a list of effect drafts/],
    ['drafts an effect without source_id', (): readonly EffectDraft[] => [{ kind: 'Move', payload: { entity_id: 'ball', dx: 1, dy: 0 } } as unknown as EffectDraft], /gravity failed at tick 1: source_id must be/],
    ['drafts an unknown kind', (): readonly EffectDraft[] => [{ kind: 'Fly', payload: {}, source_id: 'gravity' }], /gravity failed at tick 1: Unknown effect kind Fly/],
  ])('in process: tick() rejects with WORLD_SYSTEM_FAILED when it %s', async (_what, run, message) => {
    const world = ballWorld({ name: 'gravity', run });
    const rt = await WorldRuntime.open({ world, log: new MemoryLog('balls', world.seed), clock: new ManualClock(), autoQuantum: false });
    const err = await rt.tick().then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ codeName: 'WORLD_SYSTEM_FAILED', details: { system: 'gravity', tick: 1 } });
    expect((err as Error).message).toMatch(message);
  });

  it('in process: a generator system (*run) works, its random draws saved after it was iterated, as a list-returning one', async () => {
    const step = (rng: { next(): number }): EffectDraft => ({ kind: 'Move', payload: { entity_id: 'ball', dx: Math.floor(rng.next() * 10), dy: 0 }, source_id: 'wind' });
    const states = [];
    for (const run of [function* (ctx: { rng: { next(): number } }): Generator<EffectDraft> { yield step(ctx.rng); yield step(ctx.rng); }, (ctx: { rng: { next(): number } }): EffectDraft[] => [step(ctx.rng), step(ctx.rng)]]) {
      const world = ballWorld({ name: 'wind', run: run as WorldSystem['run'] });
      const rt = await WorldRuntime.open({ world, log: new MemoryLog('balls', world.seed), clock: new ManualClock(), autoQuantum: false });
      for (let i = 0; i < 3; i++) await rt.tick();
      states.push(rt.state());
    }
    expect(states[0]!.entities['ball']).toEqual(states[1]!.entities['ball']);
    expect(states[0]!.rng).toEqual(states[1]!.rng);
    expect((states[0]!.entities['ball'] as { x: number }).x).toBeGreaterThan(0);
  });

  it('served: the world stops, an intent is refused with the error, the log line and /readyz say so', async () => {
    let broken = false;
    const world = ballWorld({ name: 'gravity', run: (ctx): readonly EffectDraft[] => {
        // The bug: an entity the system expects is gone.
        if (broken) return [{ kind: 'Move', source_id: 'gravity', payload: { entity_id: 'ball', dx: (ctx.state.get('nope') as { x: number }).x, dy: 0 } }];
        return [{ kind: 'Move', source_id: 'gravity', payload: { entity_id: 'ball', dx: 1, dy: 0 } }];
      } });
    const srv = await startTestServer({ tickMs: 10 }, undefined, { world });
    try {
      const c = await TestClient.connect(srv.wsUrl, Subprotocol.JSON, await token(srv, 'alice', 'agent', { world: 'balls' }));
      c.hello('alice');
      await c.waitFor(is('welcome'));
      c.send({ type: 'submit_intent', intent: { req_id: 's1', kind: 'Spawn', payload: { entity_id: 'alice', fields: { x: 1, y: 1 } }, context_seq: 0, priority: 0 } });
      expect(await c.waitFor((m) => m.type === 'intent_result' && m.req_id === 's1')).toMatchObject({ status: 'accepted' });
      broken = true;
      const deadline = Date.now() + 5000;
      while (srv.host.healthy && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(srv.host.healthy).toBe(false);
      c.send({ type: 'submit_intent', intent: { req_id: 'm1', kind: 'Move', payload: { dx: 1, dy: 0 }, context_seq: 0, priority: 0 } });
      const r = await c.waitFor((m) => m.type === 'intent_result' && m.req_id === 'm1', 3000);
      expect(r).toMatchObject({ status: 'rejected', error: { name: 'WORLD_SYSTEM_FAILED', details: { system: 'gravity' } } });
      const fatal = srv.logLines.filter((l) => l['level'] === 60).map((l) => String(l['msg']));
      expect(fatal).toEqual([expect.stringMatching(/one of its systems failed/)]);
      expect((await fetch(`${srv.httpUrl}/readyz`)).status).toBe(503);
      c.close();
    } finally {
      await srv.shutdown();
      fs.rmSync(srv.dataDir, { recursive: true, force: true });
    }
  });
});
