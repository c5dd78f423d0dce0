/**
 * The arena-v1 workload (../shared/workloads/arena-v1.md): a square plane, entities with id, x, y, hp, a random-walk
 * step for every entity each tick (dx, dy uniform in [-5, 5], clamped, drawn in entity-id order from a seedrandom
 * (alea) stream seeded 42), a distance policy of radius R, and agent Move intents of at most 2 per axis.
 * Agent i is bound to entity arenaEntityId(i). makeArena scales it (the core benchmark grows the plane with the
 * entity count to keep local density constant).
 */
import seedrandom from 'seedrandom';
import { defineWorld, type EntityRecord, type JsonValue, type WorldDefinition } from '../core/index.js';

export interface ArenaOptions {
  /** Number of entities (default 200). */
  readonly entities?: number;
  /** Side of the plane (default 1000). */
  readonly size?: number;
  /** Observation radius (default 150). */
  readonly radius?: number;
  /** Run the per-tick random walk (default true). */
  readonly randomWalk?: boolean;
  /** Largest |dx|, |dy| an agent's Move may ask for (default 2). */
  readonly maxAgentStep?: number;
  readonly name?: string;
}

/** The id of entity i: zero-padded so id order is numeric order. */
export function arenaEntityId(i: number): string {
  return `e${String(i).padStart(6, '0')}`;
}

export function makeArena(opts: ArenaOptions = {}): WorldDefinition {
  const n = opts.entities ?? 200;
  const size = opts.size ?? 1000;
  const maxStep = opts.maxAgentStep ?? 2;
  const place = seedrandom.alea('42/placement');
  const entities: Record<string, EntityRecord> = {};
  for (let i = 0; i < n; i++) entities[arenaEntityId(i)] = { x: Math.round(place() * size * 100) / 100, y: Math.round(place() * size * 100) / 100, hp: 100 };
  return defineWorld({
    name: opts.name ?? 'arena',
    seed: 42,
    initialState: { entities, metadata: { bounds: { min_x: 0, min_y: 0, max_x: size, max_y: size } as JsonValue, workload: 'arena-v1' } },
    validators: [
      {
        rule: 'max_step',
        kinds: ['Move'],
        check(d) {
          if (d.agent_id === undefined) return undefined;
          const p = d.payload as { dx?: number; dy?: number };
          if (p.dx === undefined) return 'agents move with {dx, dy}';
          return Math.abs(p.dx) <= maxStep && Math.abs(p.dy ?? 0) <= maxStep ? undefined : `|dx| and |dy| must be at most ${maxStep}`;
        },
      },
    ],
    systems:
      opts.randomWalk === false
        ? []
        : [
            {
              name: 'random-walk',
              seed: '42',
              run(ctx) {
                const out = [];
                for (const id of ctx.entityIds()) {
                  const dx = Math.round((ctx.rng.next() * 10 - 5) * 100) / 100;
                  const dy = Math.round((ctx.rng.next() * 10 - 5) * 100) / 100;
                  out.push({ kind: 'Move', payload: { entity_id: id, dx, dy }, source_id: 'system:random-walk' });
                }
                return out;
              },
            },
          ],
    policies: { observation: { distance: { radius: opts.radius ?? 150 } }, timebase: 'ticks', stateHashEvery: 10_000, maxPatchOps: 1024, maxIntentsPerQuantum: 65_536, agentClasses: { default: { queueLimit: 4096, stalenessThreshold: 1_000_000 } } },
  });
}

/** arena-v1 at its defaults (200 entities). */
export const arena: WorldDefinition = makeArena();
