/** Random worlds, observation policies and effect sequences for the core's property tests, and a brute-force policy. */
import fc from 'fast-check';
import type { StateMutator } from '../../../server/core/state.js';
import type { View, JsonValue } from '../../../server/core/types.js';
import type { ObservationPolicy, ObservedEntity } from '../../../server/core/world.js';

export type Ent = Record<string, JsonValue>;

export const relate = {
  shape: () => undefined,
  apply(p: JsonValue, m: StateMutator) {
    const o = p as { from: string; to: string; on: boolean };
    if (o.on) m.relate(o.from, o.to);
    else m.unrelate(o.from, o.to);
  },
};

export interface PolicyChoice {
  radius: number | null;
  depth: number | null;
  teamPredicate: boolean;
  hideHp: boolean;
}

export function buildPolicy(c: PolicyChoice): ObservationPolicy {
  const p: { -readonly [K in keyof ObservationPolicy]: ObservationPolicy[K] } = {};
  if (c.radius !== null) p.distance = { radius: c.radius, cellSize: Math.max(5, c.radius / 2) };
  if (c.depth !== null) p.relationships = { depth: c.depth };
  if (c.teamPredicate) p.predicates = [(o: ObservedEntity, t: ObservedEntity) => o.record?.['team'] === undefined || t.record?.['team'] !== 'ghost'];
  if (c.hideHp) p.fields = (o: ObservedEntity, t: ObservedEntity) => (o.record?.['team'] === t.record?.['team'] ? undefined : Object.keys(t.record ?? {}).filter((k) => k !== 'hp'));
  return p;
}

/** Brute-force view of `agent`, independent of the engine. */
export function expectedView(state: { entities: Record<string, Ent>; relationships: Record<string, readonly string[]> }, agent: string, c: PolicyChoice): View {
  const self = state.entities[agent];
  const reach = new Set<string>();
  if (c.depth !== null) {
    let frontier = [agent];
    for (let d = 0; d < c.depth; d++) {
      const next: string[] = [];
      for (const f of frontier) for (const t of state.relationships[f] ?? []) {
          if (t === agent || reach.has(t)) continue;
          reach.add(t);
          next.push(t);
        }
      frontier = next;
    }
  }
  const out: View = { entities: {} };
  for (const [id, rec] of Object.entries(state.entities)) {
    let vis: boolean;
    if (id === agent) vis = true;
    else {
      let base = c.radius === null && c.depth === null;
      if (!base && c.radius !== null && self && typeof self['x'] === 'number' && typeof rec['x'] === 'number') {
        const dx = (self['x'] as number) - (rec['x'] as number);
        const dy = (self['y'] as number) - (rec['y'] as number);
        base = dx * dx + dy * dy <= c.radius * c.radius;
      }
      if (!base && c.depth !== null) base = reach.has(id);
      vis = base && (!c.teamPredicate || self?.['team'] === undefined || rec['team'] !== 'ghost');
    }
    if (!vis) continue;
    if (c.hideHp && id !== agent && self?.['team'] !== rec['team']) {
      const { hp: _hp, ...rest } = rec;
      out.entities[id] = rest;
    } else out.entities[id] = { ...rec };
  }
  return out;
}

export const ids = ['a0', 'a1', 'a2', 'a3', 'e/1', 'e~2', 'e3'];
export const coord = fc.integer({ min: 0, max: 200 });
export const team = fc.constantFrom('red', 'blue', 'ghost');
export const op = fc.oneof(
  fc.record({ t: fc.constant('move' as const), id: fc.constantFrom(...ids), x: coord, y: coord }),
  fc.record({ t: fc.constant('set' as const), id: fc.constantFrom(...ids), team, hp: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ t: fc.constant('unset' as const), id: fc.constantFrom(...ids), field: fc.constantFrom('hp', 'team', 'note', 'x') }),
  fc.record({ t: fc.constant('note' as const), id: fc.constantFrom(...ids), note: fc.oneof(fc.string({ maxLength: 3 }), fc.array(fc.integer(), { maxLength: 2 })) }),
  fc.record({ t: fc.constant('spawn' as const), id: fc.constantFrom(...ids), x: coord, y: coord }),
  fc.record({ t: fc.constant('despawn' as const), id: fc.constantFrom(...ids) }),
  fc.record({ t: fc.constant('relate' as const), from: fc.constantFrom(...ids), to: fc.constantFrom(...ids), on: fc.boolean() }),
);

export function draftOf(o: fc.Arbitrary<unknown> extends never ? never : { t: string } & Record<string, unknown>): { kind: string; payload: JsonValue; source_id: string } {
  const s = 'tester';
  switch (o.t) {
    case 'move': return { kind: 'Move', payload: { entity_id: o['id'] as string, x: o['x'] as number, y: o['y'] as number }, source_id: s };
    case 'set': return { kind: 'SetAttributes', payload: { entity_id: o['id'] as string, set: { team: o['team'] as string, hp: o['hp'] as number } }, source_id: s };
    case 'unset': return { kind: 'SetAttributes', payload: { entity_id: o['id'] as string, unset: [o['field'] as string] }, source_id: s };
    case 'note': return { kind: 'SetAttributes', payload: { entity_id: o['id'] as string, set: { note: o['note'] as JsonValue } }, source_id: s };
    case 'spawn': return { kind: 'Spawn', payload: { entity_id: o['id'] as string, fields: { x: o['x'] as number, y: o['y'] as number, team: 'red' } }, source_id: s };
    case 'despawn': return { kind: 'Despawn', payload: { entity_id: o['id'] as string }, source_id: s };
    default: return { kind: 'Relate', payload: { from: o['from'] as string, to: o['to'] as string, on: o['on'] as boolean }, source_id: s };
  }
}

