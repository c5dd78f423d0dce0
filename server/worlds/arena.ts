/**
 * The arena-v1 workload (../shared/workloads/arena-v1.md): a square plane, entities with id, x, y, hp, a random-walk
 * step for every entity each tick (dx, dy uniform in [-5, 5], clamped, drawn in entity-id order from a seedrandom
 * (alea) stream seeded 42), a distance policy of radius R, and agent Move intents of at most 2 per axis.
 * Agent i is bound to entity arenaEntityId(i). makeArena scales it (the core benchmark grows the plane with the
 * entity count to keep local density constant).
 */
import seedrandom from 'seedrandom';
import { defineWorld, type EffectKindHandler, type EntityRecord, type JsonObject, type JsonValue, type WorldDefinition } from '../core/index.js';
import { WorldlineError } from '../errors.js';

/** The largest random-walk step per axis. */
const WALK_STEP = 5;

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const round2 = (v: number): number => Math.round(v * 100) / 100;
const clamp = (v: number, lo: JsonValue | undefined, hi: JsonValue | undefined): number => Math.min(typeof hi === 'number' ? hi : Infinity, Math.max(typeof lo === 'number' ? lo : -Infinity, v));

/**
 * Walk {steps: [[entity_id, dx, dy], ...]}: the world's random walk for one tick, every step clamped to
 * metadata.bounds like Move. Only the world's own system may commit it (an agent's intent is refused).
 */
const Walk: EffectKindHandler = {
  shape(p, ctx) {
    if (ctx.agent_id !== undefined) return 'Walk is the world\'s random walk; agents move with Move.';
    const steps = (p as JsonObject | null)?.['steps'];
    if (!Array.isArray(steps)) return 'Walk needs steps: [[entity_id, dx, dy], ...].';
    for (const st of steps) {
      if (!Array.isArray(st) || st.length !== 3 || typeof st[0] !== 'string' || !finite(st[1]) || !finite(st[2]) || Math.abs(st[1]) > WALK_STEP || Math.abs(st[2]) > WALK_STEP) {
        return `each Walk step is [entity_id, dx, dy] with |dx|, |dy| <= ${WALK_STEP}.`;
      }
    }
    return undefined;
  },
  apply(p, m) {
    const b = m.meta('bounds');
    const bounds = b !== null && typeof b === 'object' && !Array.isArray(b) ? b : {};
    for (const st of (p as { steps: Array<[string, number, number]> }).steps) {
      const e = m.get(st[0]);
      if (e === undefined || !finite(e['x']) || !finite(e['y'])) throw new WorldlineError('INTENT_VALIDATION_FAILED', `Walk: ${st[0]} has no position`, { rule: 'has_position' });
      // Positions stay on a 0.01 grid: x + dx in doubles drifts off it (123.45 + 1.23 = 124.68000000000001), and
      // an off-grid coordinate costs a client 9 bytes on the wire instead of 2-3 (compact ops write short decimals).
      m.set(st[0], { x: round2(clamp(e['x'] + st[1], bounds['min_x'], bounds['max_x'])), y: round2(clamp(e['y'] + st[2], bounds['min_y'], bounds['max_y'])) });
    }
  },
};

export interface ArenaOptions {
  /** Number of entities (default 200). */
  readonly entities?: number;
  /** Side of the plane (default 1000). */
  readonly size?: number;
  /** Observation radius (default 150). */
  readonly radius?: number;
  /** Run the per-tick random walk (default true). */
  readonly randomWalk?: boolean;
  /**
   * How the random walk is committed: one Walk effect per tick carrying every entity's step ('batched', the
   * default), or one single-step Walk per entity ('per-entity'). Both draw the same steps in the same order and
   * produce the same states and the same deltas; batched is one event (one view_seq step) per tick for an agent
   * that sees any of it, and one log record instead of one per entity. Walked positions are kept on a 0.01 grid.
   */
  readonly walk?: 'batched' | 'per-entity';
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
  const batched = (opts.walk ?? 'batched') === 'batched';
  const place = seedrandom.alea('42/placement');
  const entities: Record<string, EntityRecord> = {};
  for (let i = 0; i < n; i++) entities[arenaEntityId(i)] = { x: Math.round(place() * size * 100) / 100, y: Math.round(place() * size * 100) / 100, hp: 100 };
  return defineWorld({
    name: opts.name ?? 'arena',
    seed: 42,
    handlers: { Walk },
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
                const steps: Array<[string, number, number]> = [];
                for (const id of ctx.entityIds()) {
                  const dx = Math.round((ctx.rng.next() * 10 - 5) * 100) / 100;
                  const dy = Math.round((ctx.rng.next() * 10 - 5) * 100) / 100;
                  steps.push([id, dx, dy]);
                }
                if (batched) return steps.length > 0 ? [{ kind: 'Walk', payload: { steps }, source_id: 'system:random-walk' }] : [];
                return steps.map((st) => ({ kind: 'Walk', payload: { steps: [st] }, source_id: 'system:random-walk' }));
              },
            },
          ],
    policies: { observation: { distance: { radius: opts.radius ?? 150 } }, timebase: 'ticks', stateHashEvery: 10_000, maxPatchOps: 1024, maxIntentsPerQuantum: 65_536, agentClasses: { default: { queueLimit: 4096, stalenessThreshold: 1_000_000 } } },
  });
}

/** arena-v1 at its defaults (200 entities). */
export const arena: WorldDefinition = makeArena();
