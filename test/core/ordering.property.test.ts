/**
 * One quantum against a simple model: whatever mix of intents (priorities, agents), emitted effects, validator
 * rejections, apply functions that throw after changing state, deadlines that pass while queued and cancellations,
 * the committed effects are exactly the expected ones, ordered by (priority desc, source_id, draw order) and
 * numbered 1..k with no gap; every submitter learns its outcome; rejected ones leave no trace in state.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonBytes } from '../../server/core/canonical.js';
import type { Effect, IntentOutcome } from '../../server/core/types.js';
import { openWorld, planeWorld } from './helpers/worlds.js';

const world = planeWorld([[100, 100], [200, 200], [300, 300], [400, 400]], {
  handlers: {
    Boom: {
      shape: () => undefined,
      apply: (_p, m, ctx) => {
        m.set(ctx.agent_id ?? ctx.source_id, { hp: -1 });
        throw new Error('boom');
      },
    },
  },
  validators: [{ rule: 'no_seven', kinds: ['Move'], check: (d) => ((d.payload as { dx: number }).dx === 7 ? 'seven' : undefined) }],
  policies: { observation: { distance: { radius: 50 } }, stateHashEvery: 4, agentClasses: { default: { queueLimit: 1000, stalenessThreshold: 1000 } } },
});

type Item =
  | { t: 'intent'; a: number; dx: number; prio: number; boom: boolean; late: boolean; cancel: boolean }
  | { t: 'emit'; a: number; dx: number; prio: number; src: number };

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('intent' as const), a: fc.integer({ min: 0, max: 3 }), dx: fc.integer({ min: 1, max: 8 }), prio: fc.integer({ min: -2, max: 2 }), boom: fc.boolean(), late: fc.boolean(), cancel: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('emit' as const), a: fc.integer({ min: 0, max: 3 }), dx: fc.integer({ min: 1, max: 8 }), prio: fc.integer({ min: -2, max: 2 }), src: fc.integer({ min: 0, max: 4 }) }) },
);

describe('quantum order (property)', () => {
  it('commits exactly the expected effects in (priority, source_id, draw) order, numbered without gaps', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(itemArb, { maxLength: 25 }), async (items) => {
        const { rt, log, clock } = await openWorld(world, { agents: ['a0', 'a1', 'a2', 'a3'] });
        const start = log.lastSeq;
        interface Sub {
          item: Item;
          key: [number, string, number];
          expect: string;
          promise: Promise<unknown>;
          reqId?: string;
        }
        const subs: Sub[] = [];
        let emitDraw = 0;
        let arrival = 0;
        items.forEach((item, i) => {
          const boom = item.t === 'intent' && item.boom;
          if (item.t === 'emit') {
            // Emit sources sort among agents: 'a0' < 'a0x' < 'a1'...; src 4 is a narrator.
            const src = item.src === 4 ? 'narrator' : `a${item.src}x`;
            const promise = rt.emit({ kind: 'Move', payload: { entity_id: `a${item.a}`, dx: item.dx, dy: 0 }, source_id: src, priority: item.prio });
            subs.push({ item, key: [item.prio, src, emitDraw++], expect: item.dx === 7 ? 'rejected' : 'committed', promise });
          } else {
            const reqId = `q${i}`;
            const agent = `a${item.a}`;
            const intent = boom
              ? { req_id: reqId, agent_id: agent, kind: 'Boom', payload: {}, context_seq: 0, priority: item.prio, ...(item.late ? { deadline_ms: 5 } : {}) }
              : { req_id: reqId, agent_id: agent, kind: 'Move', payload: { dx: item.dx, dy: 0 }, context_seq: 0, priority: item.prio, ...(item.late ? { deadline_ms: 5 } : {}) };
            const promise = rt.submit(intent);
            const expected = item.cancel ? 'cancelled' : item.late ? 'OPERATION_TIMEOUT' : boom || item.dx === 7 ? 'INTENT_VALIDATION_FAILED' : 'committed';
            // Intents are drawn after every emit: 1e6 + arrival keeps that.
            subs.push({ item, key: [item.prio, agent, 1e6 + arrival++], expect: expected, promise, reqId });
          }
        });
        for (const s of subs) if (s.item.t === 'intent' && s.item.cancel && s.reqId) expect(rt.cancel(`a${s.item.a}`, s.reqId).status).toBe('cancelled');
        clock.advance(10);
        await rt.flush();
        const outcomes = await Promise.all(subs.map((s) => s.promise));
        const code = (o: unknown): string => {
          const x = o as IntentOutcome | { status: 'rejected'; error: { name: string } } | { status: string };
          if (x.status === 'rejected' && 'error' in x) return (x as { error: { name: string } }).error.name;
          return x.status;
        };
        subs.forEach((s, i) => {
          const got = code(outcomes[i]);
          if (s.item.t === 'emit') expect(got === 'committed' ? 'committed' : 'rejected').toBe(s.expect);
          else expect(got).toBe(s.expect);
        });
        const committed = subs.filter((s) => s.expect === 'committed');
        committed.sort((x, y) => y.key[0] - x.key[0] || (x.key[1] < y.key[1] ? -1 : x.key[1] > y.key[1] ? 1 : 0) || x.key[2] - y.key[2]);
        const seqOf = (o: unknown): number => ((o as { effect?: Effect; global_seq?: number }).global_seq ?? (o as { effect: Effect }).effect.global_seq);
        expect(committed.map((s) => seqOf(outcomes[subs.indexOf(s)]))).toEqual(committed.map((_, i) => i + 1));
        // The log holds the same effects, in that order, and one outcome record per rule rejection.
        const recs = [...log.records(start + 1)];
        const effects = recs.filter((r) => r.kind === 'effect').map((r) => parseJsonBytes(r.payload, 'effect') as Effect);
        expect(effects.map((e) => e.global_seq)).toEqual(committed.map((_, i) => i + 1));
        expect(recs.filter((r) => r.kind === 'outcome').length).toBe(subs.filter((s) => s.expect === 'INTENT_VALIDATION_FAILED').length);
        expect(recs.filter((r) => r.kind === 'state-hash').length).toBe(Math.floor(committed.length / 4));
        // State: each agent moved by exactly the committed steps; no Boom left hp -1.
        for (let a = 0; a < 4; a++) {
          const dx = committed.filter((s) => s.item.a === a).reduce((t, s) => t + s.item.dx, 0);
          expect(rt.entity(`a${a}`)).toEqual({ x: 100 * (a + 1) + dx, y: 100 * (a + 1), hp: 100 });
        }
      }),
      { numRuns: 200 },
    );
  });
});
