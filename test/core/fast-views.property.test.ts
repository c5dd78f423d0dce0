/**
 * Property, the observation engine's fast mode (a pure distance policy that includes the agent itself: observation.ts
 * rebuilds a moved agent's view from the grid and marks, and checks only what touched an agent that did not move).
 * On arena worlds of random size, crowding and radius, walked in one effect per tick, in one per entity, or not at all,
 * with agents joining at random ticks and moving by small steps or across the plane, and other entities despawned,
 * spawned and respawned (grid entries released and their indices reused): every delta chains from the
 * client's view_seq, applies strictly to the client's view, yields exactly the entities within the radius of the
 * agent's entity in the server's state with their records, and carries that view's context_digest. An agent that
 * got no delta in a tick still holds exactly that view.
 */
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { viewDigest } from '../../server/core/canonical.js';
import { WorldRuntime } from '../../server/core/runtime.js';
import type { ObservationDelta, View } from '../../server/core/types.js';
import { arenaEntityId, makeArena } from '../../server/worlds/arena.js';
import { ManualClock, MemoryLog } from './helpers/memory-log.js';
import { move } from './helpers/worlds.js';

const clone = <T>(v: T): T => structuredClone(v);

/** Brute force: the entities within `radius` of the agent's entity, as the distance policy states it. */
function withinRadius(entities: Record<string, Record<string, unknown>>, agent: string, radius: number): View {
  const self = entities[agent];
  const out: View = { entities: {} };
  if (!self) return out;
  const r2 = radius * radius;
  for (const [id, rec] of Object.entries(entities)) {
    const dx = (rec['x'] as number) - (self['x'] as number);
    const dy = (rec['y'] as number) - (self['y'] as number);
    if (dx * dx + dy * dy <= r2) out.entities[id] = rec as View['entities'][string];
  }
  return out;
}

describe('fast-mode views (property)', () => {
  it('every delta applies strictly and gives the entities within the radius, with their digest', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          entities: fc.integer({ min: 4, max: 40 }),
          size: fc.integer({ min: 60, max: 400 }),
          radius: fc.integer({ min: 10, max: 160 }),
          // Without the random walk only the agents' moves change the world: an agent that did not move then checks
          // only the entities that touched it (the ring of single changes), not its whole neighbourhood.
          randomWalk: fc.boolean(),
          walk: fc.constantFrom('batched' as const, 'per-entity' as const),
          maxStep: fc.constantFrom(2, 50, 400),
          // A small cap turns the larger deltas into snapshots, which needs every delta's ops counted, including
          // those of a change another view in the quantum pushed first.
          maxPatchOps: fc.constantFrom(3, 8, 1024),
        }),
        // Per agent (entity index): the tick it joins at.
        fc.array(fc.tuple(fc.nat(39), fc.nat(5)), { minLength: 1, maxLength: 12 }),
        // Per tick: the moves (agent slot, dx, dy as fractions of the largest step).
        fc.array(fc.array(fc.tuple(fc.nat(11), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true })), { maxLength: 8 }), { minLength: 2, maxLength: 10 }),
        // Per tick: entities other than agents' despawned (0), spawned with a new id (1) or respawned (2), at (fx, fy)
        // as fractions of the plane.
        fc.array(fc.array(fc.tuple(fc.nat(2), fc.nat(40), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })), { maxLength: 4 }), { maxLength: 10 }),
        async (w, joins, ticks, churn) => {
          const arena = makeArena({ entities: w.entities, size: w.size, radius: w.radius, randomWalk: w.randomWalk, walk: w.walk, maxAgentStep: w.maxStep, name: 'arena-fast' });
          const world = { ...arena, policies: { ...arena.policies, maxPatchOps: w.maxPatchOps } };
          const clock = new ManualClock();
          const rt = await WorldRuntime.open({ world, log: new MemoryLog('arena-fast', world.seed), clock });
          const agents = [...new Set(joins.map(([i]) => arenaEntityId(i % w.entities)))];
          const joinAt = new Map(joins.map(([i, t]) => [arenaEntityId(i % w.entities), t]));
          const client = new Map<string, { view: View; seq: number }>();
          let got: ObservationDelta[] = [];
          rt.onDelivery((d) => got.push(...d.deltas));
          const agentIds = new Set(agents);
          const despawned: string[] = [];
          let spawned = 0;
          for (let t = 0; t < ticks.length; t++) {
            for (const a of agents) {
              if (joinAt.get(a) !== t || client.has(a)) continue;
              await rt.registerAgent(a);
              const o = rt.observe(a);
              expect(o.view).toEqual(withinRadius(rt.state().entities as never, a, w.radius));
              client.set(a, { view: clone(o.view), seq: o.view_seq });
            }
            const joined = [...client.keys()];
            for (const [slot, fx, fy] of ticks[t] ?? []) {
              const a = joined[slot % Math.max(1, joined.length)];
              if (a === undefined) continue;
              // Whole hundredths, as a client sends them; the world clamps the step to its plane.
              const dx = Math.round(fx * w.maxStep * 100) / 100;
              const dy = Math.round(fy * w.maxStep * 100) / 100;
              void rt.submit(move(a, dx, dy, rt.obs.viewSeq(a)));
            }
            for (const [kind, slot, fx, fy] of churn[t] ?? []) {
              const at = { x: Math.round(fx * w.size * 100) / 100, y: Math.round(fy * w.size * 100) / 100, hp: 100 };
              if (kind === 0) {
                const others = Object.keys(rt.state().entities).filter((id) => !agentIds.has(id)).sort();
                const id = others[slot % Math.max(1, others.length)];
                if (id === undefined) continue;
                void rt.emit({ kind: 'Despawn', payload: { entity_id: id }, source_id: 'gm' });
                despawned.push(id);
              } else {
                const id = kind === 2 && despawned.length > 0 ? (despawned.splice(slot % despawned.length, 1)[0] as string) : `n${spawned++}`;
                void rt.emit({ kind: 'Spawn', payload: { entity_id: id, fields: at }, source_id: 'gm' });
              }
            }
            clock.advance(50);
            await rt.tick();
            const deltas = got;
            got = [];
            const state = rt.state().entities as never;
            const seen = new Set<string>();
            for (const d of deltas) {
              const c = client.get(d.agent_id);
              if (!c) continue;
              expect(seen.has(d.agent_id), `one delta per agent per tick (${d.agent_id})`).toBe(false);
              seen.add(d.agent_id);
              expect(d.from_seq).toBe(c.seq);
              expect(d.ops.length <= w.maxPatchOps || d.snapshot, `${d.ops.length} ops over the cap of ${w.maxPatchOps}, not a snapshot`).toBe(true);
              const applied = jsonpatch.applyPatch(clone(c.view), clone(d.ops) as jsonpatch.Operation[], true, true).newDocument;
              expect(applied).toEqual(withinRadius(state, d.agent_id, w.radius));
              expect(applied).toEqual(rt.observe(d.agent_id).view);
              expect(d.context_digest).toBe(viewDigest(applied));
              client.set(d.agent_id, { view: applied, seq: d.view_seq });
            }
            for (const [a, c] of client) {
              if (seen.has(a)) continue;
              expect(c.view, `${a} got no delta in tick ${t}`).toEqual(withinRadius(state, a, w.radius));
              expect(rt.observe(a).view_seq).toBe(c.seq);
            }
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});
