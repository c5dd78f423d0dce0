/**
 * The weighted round-robin across quanta. Where quantum boundaries fall must not change which intents are taken in
 * which order: a round that a quantum's budget cuts short resumes, in the next quantum, at the same agent with the
 * picks it has left, and an agent whose queue empties does not shift the resume point onto the agent after it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntentScheduler, PendingIntent } from '../../server/core/scheduler.js';
import { agentClass, type AgentClassPolicy } from '../../server/core/world.js';

let arrival = 0;
function intent(agent: string, cls: AgentClassPolicy, tag: string): PendingIntent {
  return new PendingIntent({ req_id: tag, agent_id: agent, kind: 'Move', payload: {}, context_seq: 0, priority: 0 }, 'd', 't', arrival++, undefined, cls, () => undefined);
}

function takeAll(s: IntentScheduler, budget: number): string[] {
  const out: string[] = [];
  for (let guard = 0; s.size > 0 && guard < 10_000; guard++) out.push(...s.take(budget).map((p) => p.reqId));
  return out;
}

describe('weighted round-robin', () => {
  it('resumes at the agent after the last one served, even when an earlier agent ran out of intents', () => {
    const cls = agentClass({ queueLimit: 100 });
    const s = new IntentScheduler();
    for (const [agent, n] of [['a', 1], ['b', 3], ['c', 3]] as const) for (let i = 0; i < n; i++) s.enqueue(intent(agent, cls, `${agent}${i}`), cls);
    expect(takeAll(s, 1)).toEqual(['a0', 'b0', 'c0', 'b1', 'c1', 'b2', 'c2']);
  });

  it('gives an agent its full weight per round when the quantum budget is smaller than the weight', () => {
    const heavy = agentClass({ queueLimit: 100, weight: 2 });
    const light = agentClass({ queueLimit: 100 });
    const s = new IntentScheduler();
    for (let i = 0; i < 4; i++) {
      s.enqueue(intent('h', heavy, `h${i}`), heavy);
      s.enqueue(intent('l', light, `l${i}`), light);
    }
    expect(takeAll(s, 1)).toEqual(['h0', 'h1', 'l0', 'h2', 'h3', 'l1', 'l2', 'l3']);
  });

  it('skips an agent whose intents were all removed between quanta, and resumes after it', () => {
    const cls = agentClass({ queueLimit: 100 });
    const s = new IntentScheduler();
    const b: PendingIntent[] = [];
    for (let i = 0; i < 2; i++) {
      s.enqueue(intent('a', cls, `a${i}`), cls);
      const p = intent('b', cls, `b${i}`);
      b.push(p);
      s.enqueue(p, cls);
      s.enqueue(intent('c', cls, `c${i}`), cls);
    }
    expect(s.take(1).map((p) => p.reqId)).toEqual(['a0']);
    for (const p of b) expect(s.remove(p)).toBe(true);
    expect(s.take(1).map((p) => p.reqId)).toEqual(['c0']);
    // b comes back with new work: it rejoins at the end of the round.
    s.enqueue(intent('b', cls, 'b2'), cls);
    expect(takeAll(s, 1)).toEqual(['a1', 'c1', 'b2']);
  });

  it('takes the same sequence whatever the quantum budget (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ weight: fc.integer({ min: 1, max: 3 }), n: fc.integer({ min: 0, max: 6 }), limit: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 7 }),
        (agents, order, budget) => {
          const build = (): IntentScheduler => {
            const s = new IntentScheduler();
            const classes = agents.map((a) => agentClass({ queueLimit: a.limit, weight: a.weight }));
            const left = agents.map((a) => a.n);
            const sent = agents.map(() => 0);
            // Interleave arrivals: `order` says whose intent comes next, then the rest in agent order.
            const seq = [...order.filter((i) => i < agents.length), ...agents.flatMap((a, i) => Array<number>(a.n).fill(i))];
            for (const i of seq) {
              if ((left[i] as number) === 0) continue;
              left[i] = (left[i] as number) - 1;
              const tag = `${i}:${(sent[i] = (sent[i] as number) + 1)}`;
              s.enqueue(intent(`g${i}`, classes[i] as AgentClassPolicy, tag), classes[i] as AgentClassPolicy);
            }
            return s;
          };
          const all = takeAll(build(), Number.MAX_SAFE_INTEGER);
          expect(takeAll(build(), budget)).toEqual(all);
          // Each agent's intents keep their order, and everything admitted is taken once.
          expect(all.length).toBe(agents.reduce((t, a) => t + Math.min(a.n, 2 * a.limit), 0));
        },
      ),
      { numRuns: 300 },
    );
  });
});
