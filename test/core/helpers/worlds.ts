/** Small worlds for core tests. */
import { defineWorld, type WorldSpec } from '../../../server/core/world.js';
import { WorldRuntime, type RuntimeOptions } from '../../../server/core/runtime.js';
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
