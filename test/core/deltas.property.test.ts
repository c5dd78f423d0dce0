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
import { viewDigest } from '../../server/core/canonical.js';
import type { ObservationDelta, View } from '../../server/core/types.js';
import { defineWorld } from '../../server/core/world.js';
import { buildPolicy, draftOf, expectedView, ids, coord, op, relate, team, type Ent } from './helpers/random-worlds.js';
import { openWorld } from './helpers/worlds.js';

const clone = <T>(v: T): T => structuredClone(v);
/** context_digest computed independently of the server: sum mod 2^256 of sha256("id":canonical record). */
const digestOf = (v: View): string => {
  let sum = 0n;
  for (const [id, rec] of Object.entries(v.entities)) sum += BigInt(`0x${createHash('sha256').update(`${JSON.stringify(id)}:${canonicalize(rec) as string}`).digest('hex')}`);
  return (sum % 2n ** 256n).toString(16).padStart(64, '0');
};

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
              expect(d.context_digest).toBe(viewDigest(applied));
              // The size estimate (read before the text) stays within a factor of two of the text it stands for.
              const sizes = d.fragments.map((f) => f.size);
              // The delta's opsSize is their sum, counted as it was built.
              expect(d.opsSize).toBe(sizes.reduce((a, b) => a + b, 0));
              expect(JSON.parse(`[${d.fragments.map((f) => f.text).join(',')}]`)).toEqual(JSON.parse(JSON.stringify(d.ops)));
              d.fragments.forEach((f, i) => {
                expect(sizes[i]).toBeGreaterThanOrEqual(f.text.length / 2);
                expect(sizes[i]).toBeLessThanOrEqual(f.text.length * 2 + 16);
              });
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
