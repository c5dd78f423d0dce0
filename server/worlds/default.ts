/**
 * The world the server runs by default: a 1000 x 1000 plane with a few NPCs wandering on it. An agent joins by
 * spawning its own entity (Spawn {entity_id: <agent id>, fields: {x, y}}), then moves, speaks and interacts with
 * whatever is within 200 of it.
 */
import { defineWorld, type EntityRecord, type JsonValue, type WorldDefinition } from '../core/index.js';

const SIZE = 1000;
const NPCS = 8;
/** How far an agent's one Move may take it, per axis. */
const MAX_AGENT_STEP = 10;

const entities: Record<string, EntityRecord> = {};
for (let i = 0; i < NPCS; i++) {
  const a = (2 * Math.PI * i) / NPCS;
  entities[`npc-${i}`] = { x: Math.round(SIZE / 2 + 300 * Math.cos(a)), y: Math.round(SIZE / 2 + 300 * Math.sin(a)), kind: 'npc', hp: 100 };
}

export const defaultWorld: WorldDefinition = defineWorld({
  name: 'default',
  seed: 'worldline-default',
  initialState: { entities, metadata: { bounds: { min_x: 0, min_y: 0, max_x: SIZE, max_y: SIZE } as JsonValue } },
  validators: [
    {
      rule: 'max_step',
      kinds: ['Move'],
      check(d, state) {
        if (d.agent_id === undefined) return undefined;
        const p = d.payload as { entity_id?: string; dx?: number; dy?: number; x?: number; y?: number };
        let sx = p.dx ?? 0;
        let sy = p.dy ?? 0;
        if (p.dx === undefined && p.dy === undefined) {
          // An absolute move ({x, y}) is a step from where the entity stands: no teleporting past the limit.
          const e = state.get(p.entity_id ?? d.agent_id);
          const ex = e?.['x'];
          const ey = e?.['y'];
          // No position: the Move's own check rejects it (has_position).
          if (typeof ex !== 'number' || typeof ey !== 'number') return undefined;
          sx = (p.x ?? ex) - ex;
          sy = (p.y ?? ey) - ey;
        }
        return Math.abs(sx) <= MAX_AGENT_STEP && Math.abs(sy) <= MAX_AGENT_STEP
          ? undefined
          : `agents move at most ${MAX_AGENT_STEP} per axis per Move: {dx, dy}, or {x, y} within ${MAX_AGENT_STEP} of where they stand`;
      },
    },
  ],
  systems: [
    {
      name: 'wander',
      run(ctx) {
        const out = [];
        for (const id of ctx.entityIds()) {
          if (ctx.state.get(id)?.['kind'] !== 'npc') continue;
          out.push({ kind: 'Move', payload: { entity_id: id, dx: ctx.rng.int(-3, 3), dy: ctx.rng.int(-3, 3) }, source_id: 'system:wander' });
        }
        return out;
      },
    },
  ],
  policies: { observation: { distance: { radius: 200 } }, timebase: 'ticks', stateHashEvery: 1000, snapshotEvery: 50_000, agentClasses: { default: { stalenessThreshold: 50 } } },
});
