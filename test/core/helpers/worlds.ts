/** Small worlds for core tests. */
import { defineWorld, type WorldSpec } from '../../../server/core/world.js';
import { WorldRuntime, type RuntimeOptions } from '../../../server/core/runtime.js';
import type { ObservationDelta } from '../../../server/core/types.js';
import { MemoryLog, ManualClock } from './memory-log.js';

/** A plane with agents a0..a(n-1) at the given positions and a distance policy. */
export function planeWorld(positions: Array<[number, number]>, over: Partial<WorldSpec> = {}): ReturnType<typeof defineWorld> {
  const entities: Record<string, { x: number; y: number; hp: number }> = {};
  positions.forEach(([x, y], i) => (entities[`a${i}`] = { x, y, hp: 100 }));
  return defineWorld({
    name: 'plane',
    seed: 7,
    initialState: { entities, metadata: { bounds: { min_x: 0, min_y: 0, max_x: 1000, max_y: 1000 } } },
    policies: { observation: { distance: { radius: 100 } }, stateHashEvery: 5 },
    ...over,
  });
}

export async function openWorld(
  world: ReturnType<typeof defineWorld>,
  opts: { log?: MemoryLog; clock?: ManualClock; agents?: string[]; auto?: boolean; extra?: Partial<RuntimeOptions> } = {},
): Promise<{ rt: WorldRuntime; log: MemoryLog; clock: ManualClock }> {
  const log = opts.log ?? new MemoryLog('w1', world.seed);
  const clock = opts.clock ?? new ManualClock();
  const rt = await WorldRuntime.open({ world, log, clock, autoQuantum: opts.auto ?? false, ...opts.extra });
  for (const a of opts.agents ?? []) await rt.registerAgent(a);
  return { rt, log, clock };
}

let n = 0;
/** A Move intent with a fresh req_id. */
export function move(agent: string, dx: number, dy: number, contextSeq: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { req_id: `r${++n}`, agent_id: agent, kind: 'Move', payload: { dx, dy }, context_seq: contextSeq, ...extra };
}

/**
 * Three agents a0, a1, a2 in sight of each other, each moved once by a game master in one quantum: the quantum's
 * deltas (every agent gets one, sharing fragments).
 */
export async function oneQuantumOfMoves(): Promise<{ rt: WorldRuntime; deltas: ObservationDelta[] }> {
  const { rt } = await openWorld(planeWorld([[0, 0], [10, 0], [20, 0]]), { agents: ['a0', 'a1', 'a2'] });
  const deltas: ObservationDelta[] = [];
  rt.onDelivery((d) => deltas.push(...d.deltas));
  const ps = ['a0', 'a1', 'a2'].map((id, i) => rt.emit({ kind: 'Move', payload: { entity_id: id, dx: i, dy: 1 }, source_id: 'gm' }));
  await rt.flush();
  await Promise.all(ps);
  return { rt, deltas };
}
