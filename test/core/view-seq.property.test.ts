/**
 * Property: view_seq counts the events an agent could see, whatever the quantum boundaries. A runtime that commits
 * several effects per quantum (where an agent's own moves are judged once per quantum) ends with the same views,
 * view_seqs and stale causes as one that commits the same effects one per quantum, and in the latter every change
 * of an agent's brute-force view advances its view_seq by exactly one.
 */
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { View } from '../../server/core/types.js';
import { defineWorld } from '../../server/core/world.js';
import { buildPolicy, coord, draftOf, expectedView, ids, op, relate, team, type Ent } from './helpers/random-worlds.js';
import { openWorld } from './helpers/worlds.js';

const agents = ['a0', 'a1', 'a2', 'a3'];

describe('view_seq (property)', () => {
  it('is the same when effects share a quantum as when each has its own, and counts every visible change', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          radius: fc.option(fc.integer({ min: 10, max: 150 })),
          depth: fc.option(fc.integer({ min: 1, max: 2 })),
          teamPredicate: fc.boolean(),
          hideHp: fc.boolean(),
        }),
        fc.boolean(),
        fc.array(fc.tuple(fc.constantFrom(...ids), coord, coord, team), { minLength: 2, maxLength: 7 }),
        fc.array(fc.array(op, { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 6 }),
        async (choice, includeSelf, initial, quanta) => {
          const entities: Record<string, Ent> = {};
          for (const [id, x, y, t] of initial) entities[id] = { x, y, hp: 5, team: t };
          const make = (): ReturnType<typeof defineWorld> =>
            defineWorld({
              name: 'vs',
              seed: 3,
              initialState: { entities },
              handlers: { Relate: relate },
              policies: { observation: { ...buildPolicy(choice), includeSelf }, maxPatchOps: 1000, stateHashEvery: 0 },
            });
          const batched = (await openWorld(make(), { agents })).rt;
          const single = (await openWorld(make(), { agents })).rt;
          for (const q of quanta) {
            const emits = q.map((o) => batched.emit(draftOf(o as never)));
            await batched.flush();
            await Promise.all(emits);
            for (const o of q) {
              const before = new Map<string, { seq: number; view: View }>();
              for (const a of agents) before.set(a, { seq: single.viewSeq(a), view: expectedView(single.state() as never, a, choice) });
              const e = single.emit(draftOf(o as never));
              await single.flush();
              await e;
              for (const a of agents) {
                const b = before.get(a) as { seq: number; view: View };
                const step = single.viewSeq(a) - b.seq;
                expect(step === 0 || step === 1).toBe(true);
                if (includeSelf && canonicalize(expectedView(single.state() as never, a, choice)) !== canonicalize(b.view)) expect(step).toBe(1);
              }
            }
            for (const a of agents) {
              expect(batched.viewSeq(a)).toBe(single.viewSeq(a));
              expect(batched.observe(a)).toEqual(single.observe(a));
              expect(batched.obs.causesSince(a, 0)).toEqual(single.obs.causesSince(a, 0));
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
