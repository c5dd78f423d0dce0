/**
 * Property: for random worlds, policies and effect sequences, every delta applies with fast-json-patch's strict
 * applyPatch to the agent's previous view and yields exactly the server's view, which equals a brute-force
 * evaluation of the policy, and the result equals applying fast-json-patch's own `compare` patch.
 */
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { StateMutator } from '../../server/core/state.js';
import type { ObservationDelta, View, JsonValue } from '../../server/core/types.js';
import { defineWorld, type ObservationPolicy, type ObservedEntity } from '../../server/core/world.js';
import { openWorld } from './helpers/worlds.js';

type Ent = Record<string, JsonValue>;

const relate = {
  shape: () => undefined,
  apply(p: JsonValue, m: StateMutator) {
    const o = p as { from: string; to: string; on: boolean };
    if (o.on) m.relate(o.from, o.to);
    else m.unrelate(o.from, o.to);
  },
};

interface PolicyChoice {
  radius: number | null;
  depth: number | null;
  teamPredicate: boolean;
  hideHp: boolean;
}

function buildPolicy(c: PolicyChoice): ObservationPolicy {
  const p: { -readonly [K in keyof ObservationPolicy]: ObservationPolicy[K] } = {};
  if (c.radius !== null) p.distance = { radius: c.radius, cellSize: Math.max(5, c.radius / 2) };
  if (c.depth !== null) p.relationships = { depth: c.depth };
  if (c.teamPredicate) p.predicates = [(o: ObservedEntity, t: ObservedEntity) => o.record?.['team'] === undefined || t.record?.['team'] !== 'ghost'];
  if (c.hideHp) p.fields = (o: ObservedEntity, t: ObservedEntity) => (o.record?.['team'] === t.record?.['team'] ? undefined : Object.keys(t.record ?? {}).filter((k) => k !== 'hp'));
  return p;
}

/** Brute-force view of `agent`, independent of the engine. */
function expectedView(state: { entities: Record<string, Ent>; relationships: Record<string, readonly string[]> }, agent: string, c: PolicyChoice): View {
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

const ids = ['a0', 'a1', 'a2', 'a3', 'e/1', 'e~2', 'e3'];
const coord = fc.integer({ min: 0, max: 200 });
const team = fc.constantFrom('red', 'blue', 'ghost');
const op = fc.oneof(
  fc.record({ t: fc.constant('move' as const), id: fc.constantFrom(...ids), x: coord, y: coord }),
  fc.record({ t: fc.constant('set' as const), id: fc.constantFrom(...ids), team, hp: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ t: fc.constant('unset' as const), id: fc.constantFrom(...ids), field: fc.constantFrom('hp', 'team', 'note') }),
  fc.record({ t: fc.constant('note' as const), id: fc.constantFrom(...ids), note: fc.oneof(fc.string({ maxLength: 3 }), fc.array(fc.integer(), { maxLength: 2 })) }),
  fc.record({ t: fc.constant('spawn' as const), id: fc.constantFrom(...ids), x: coord, y: coord }),
  fc.record({ t: fc.constant('despawn' as const), id: fc.constantFrom(...ids) }),
  fc.record({ t: fc.constant('relate' as const), from: fc.constantFrom(...ids), to: fc.constantFrom(...ids), on: fc.boolean() }),
);

function draftOf(o: fc.Arbitrary<unknown> extends never ? never : { t: string } & Record<string, unknown>): { kind: string; payload: JsonValue; source_id: string } {
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

const clone = <T>(v: T): T => structuredClone(v);
const digestOf = (v: unknown): string => createHash('sha256').update(canonicalize(v) as string).digest('hex');

describe('observation deltas (property)', () => {
  it('apply strictly, match the server view, the brute-force policy and the compare reference', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          radius: fc.option(fc.integer({ min: 10, max: 150 })),
          depth: fc.option(fc.integer({ min: 1, max: 2 })),
          teamPredicate: fc.boolean(),
          hideHp: fc.boolean(),
        }),
        fc.array(fc.tuple(fc.constantFrom(...ids), coord, coord, team), { minLength: 2, maxLength: 7 }),
        fc.array(fc.array(op, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 2, max: 40 }),
        async (choice, initial, quanta, maxPatchOps) => {
          const entities: Record<string, Ent> = {};
          for (const [id, x, y, t] of initial) entities[id] = { x, y, hp: 5, team: t };
          const world = defineWorld({
            name: 'prop',
            seed: 1,
            initialState: { entities },
            handlers: { Relate: relate },
            policies: { observation: buildPolicy(choice), maxPatchOps, stateHashEvery: 3 },
          });
          const agents = ['a0', 'a1', 'a2', 'a3'];
          const { rt } = await openWorld(world, { agents });
          const client = new Map<string, { view: View; seq: number }>();
          for (const a of agents) {
            const o = rt.observe(a);
            expect(o.view).toEqual(expectedView(rt.state() as never, a, choice));
            client.set(a, { view: clone(o.view), seq: o.view_seq });
          }
          const got: ObservationDelta[][] = [];
          rt.onDelivery((d) => got.push([...d.deltas]));
          for (const q of quanta) {
            const emits = q.map((o) => rt.emit(draftOf(o as never)));
            await rt.flush();
            await Promise.all(emits);
            const deltas = got.shift() ?? [];
            const seen = new Set<string>();
            for (const d of deltas) {
              seen.add(d.agent_id);
              const c = client.get(d.agent_id);
              if (!c) throw new Error('delta for unknown agent');
              expect(d.from_seq).toBe(c.seq);
              expect(d.ops.length <= maxPatchOps || d.snapshot).toBe(true);
              const applied = jsonpatch.applyPatch(clone(c.view), clone(d.ops) as jsonpatch.Operation[], true, true).newDocument;
              const server = rt.observe(d.agent_id).view;
              expect(applied).toEqual(server);
              const ref = jsonpatch.applyPatch(clone(c.view), jsonpatch.compare(c.view, server), true, true).newDocument;
              expect(applied).toEqual(ref);
              expect(d.context_digest).toBe(digestOf(server));
              expect(JSON.parse(`[${d.fragments.join(',')}]`)).toEqual(JSON.parse(JSON.stringify(d.ops)));
              client.set(d.agent_id, { view: applied, seq: d.view_seq });
            }
            for (const a of agents) {
              const expected = expectedView(rt.state() as never, a, choice);
              expect(rt.observe(a).view).toEqual(expected);
              if (!seen.has(a)) expect(client.get(a)?.view).toEqual(expected);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
