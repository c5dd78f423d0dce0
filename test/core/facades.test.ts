import { describe, expect, it } from 'vitest';
import jsonpatch from 'fast-json-patch';
import { MessageEnv, RlEnv } from '../../server/core/facades.js';
import type { AgentMessage } from '../../server/core/facades.js';
import { isWorldlineError } from '../../server/errors.js';
import { openWorld, planeWorld } from './helpers/worlds.js';

describe('facades', () => {
  it('RL step returns the agent’s own committed effect and the delta that carries it', async () => {
    const { rt, log } = await openWorld(planeWorld([[10, 10], [20, 20]]), { agents: ['a0', 'a1'] });
    const env = new RlEnv(rt);
    const obs = env.observe('a0');
    const [effect, delta] = await env.step('a0', { kind: 'Move', payload: { dx: 5, dy: 0 } });
    expect(effect.agent_id).toBe('a0');
    expect(effect.global_seq).toBe(rt.lastGlobalSeq);
    expect([...log.records()].some((r) => r.kind === 'effect')).toBe(true);
    expect(delta.from_seq).toBe(obs.view_seq);
    const next = jsonpatch.applyPatch(obs.view, delta.ops as jsonpatch.Operation[], true, true).newDocument;
    expect(next).toEqual(env.observe('a0').view);
    expect(next.entities['a0']?.['x']).toBe(15);
    await expect(env.step('a0', { kind: 'Move', payload: { dx: 'x' } as never })).rejects.toSatisfy((e: unknown) => isWorldlineError(e, 'INVALID_INTENT'));
  });

  it('RL step retried with the req_id of a committed step gets the same effect (read back from the log), also after a restart, and an empty delta at the current view', async () => {
    const { rt, log, clock } = await openWorld(planeWorld([[10, 10], [20, 20]]), { agents: ['a0', 'a1'] });
    const env = new RlEnv(rt);
    const [first] = await env.step('a0', { req_id: 'ep1-t1', kind: 'Move', payload: { dx: 5, dy: 0 } });
    await env.step('a1', { kind: 'Speak', payload: { text: 'later' } });
    const [again, delta] = await env.step('a0', { req_id: 'ep1-t1', kind: 'Move', payload: { dx: 5, dy: 0 } });
    expect(again).toEqual(first);
    const now = env.observe('a0');
    expect(delta).toMatchObject({ agent_id: 'a0', from_seq: now.view_seq, view_seq: now.view_seq, ops: [], context_digest: now.context_digest });
    expect(rt.entity('a0')?.['x']).toBe(15);
    const reopened = await openWorld(planeWorld([[10, 10], [20, 20]]), { log: log.reopen(), clock });
    const [afterRestart] = await new RlEnv(reopened.rt).step('a0', { req_id: 'ep1-t1', kind: 'Move', payload: { dx: 5, dy: 0 } });
    expect(afterRestart).toEqual(first);
    // The same req_id for another intent is still refused.
    await expect(env.step('a0', { req_id: 'ep1-t1', kind: 'Move', payload: { dx: 1, dy: 0 } })).rejects.toSatisfy((e: unknown) => isWorldlineError(e, 'DUPLICATE_REQ_ID'));
  });

  it('message style: emit broadcasts through the policies; subscribe yields visible effects and deltas', async () => {
    const { rt } = await openWorld(planeWorld([[10, 10], [20, 20], [900, 900]]), { agents: ['a0', 'a2'] });
    const env = new MessageEnv(rt);
    const near = env.subscribe('a0');
    const far = env.subscribe('a2');
    const got: AgentMessage[] = [];
    const reader = (async () => {
      for await (const m of near) {
        got.push(m);
        if (got.length === 2) break;
      }
    })();
    const out = env.emit({ kind: 'Speak', payload: { entity_id: 'a1', text: 'hello' }, source_id: 'narrator' });
    await rt.flush();
    expect((await out).status).toBe('committed');
    await reader;
    expect(got.map((m) => m.type)).toEqual(['effect', 'delta']);
    expect(got[0]?.type === 'effect' && got[0].effect.kind).toBe('Speak');
    expect(got[1]?.type === 'delta' && got[1].delta.ops[0]).toEqual({ op: 'add', path: '/entities/a1/said', value: { text: 'hello', tick: 0 } });
    // The far agent saw nothing: closing its stream ends it empty.
    far.close();
    const farGot: AgentMessage[] = [];
    for await (const m of far) farGot.push(m);
    expect(farGot).toEqual([]);
  });

  it('subscribe after a view taken with observe: a delta that view already holds (its quantum still being delivered) is not given again', async () => {
    const { rt, log } = await openWorld(planeWorld([[10, 10], [20, 20]]), { agents: ['a0', 'a1'] });
    const env = new MessageEnv(rt);
    log.hold = true;
    const moved = env.emit({ kind: 'Move', payload: { entity_id: 'a1', dx: 3, dy: 0 }, source_id: 'narrator' });
    const flushed = rt.flush();
    await new Promise((r) => setTimeout(r, 10));
    // The quantum's deltas are built, its log write is held: observe already shows the move.
    const seen = rt.observe('a0');
    expect(seen.view.entities['a1']?.['x']).toBe(23);
    await expect(async () => env.subscribe('a0', { after: -1 })).rejects.toSatisfy((e: unknown) => isWorldlineError(e, 'INVALID_VIEW_SEQ'));
    const naive = env.subscribe('a0');
    const sub = env.subscribe('a0', { after: seen.view_seq });
    log.hold = false;
    log.release();
    await flushed;
    await moved;
    const again = env.emit({ kind: 'Move', payload: { entity_id: 'a1', dx: 1, dy: 0 }, source_id: 'narrator' });
    await rt.flush();
    await again;
    const take = async (s: ReturnType<MessageEnv['subscribe']>, n: number): Promise<AgentMessage[]> => {
      const out: AgentMessage[] = [];
      for await (const m of s) {
        out.push(m);
        if (out.length === n) break;
      }
      return out;
    };
    // Without after, the held quantum's delta comes too, though the view already holds it (its effects were gathered
    // before the subscription was made, so they do not).
    const all = await take(naive, 3);
    expect(all.filter((m) => m.type === 'delta').map((m) => m.type === 'delta' && m.delta.view_seq)).toEqual([seen.view_seq, seen.view_seq + 1]);
    // With it, the deltas start past the view: each applies to what the caller holds.
    const got = await take(sub, 2);
    expect(got.map((m) => m.type)).toEqual(['effect', 'delta']);
    const d = got[1]!;
    expect(d.type === 'delta' && d.delta.from_seq).toBe(seen.view_seq);
    const next = jsonpatch.applyPatch(structuredClone(seen.view), d.type === 'delta' ? (d.delta.ops as jsonpatch.Operation[]) : [], true, true).newDocument;
    expect(next.entities['a1']?.['x']).toBe(24);
  });

  it('two loops over one subscription share its messages, and neither waits for ever', async () => {
    const { rt } = await openWorld(planeWorld([[10, 10], [20, 20]]), { agents: ['a0', 'a1'] });
    const env = new MessageEnv(rt);
    const sub = env.subscribe('a0');
    const got: string[] = [];
    const loop = async (name: string): Promise<void> => {
      for await (const m of sub) got.push(`${name}:${m.type}`);
    };
    const both = Promise.all([loop('one'), loop('two')]);
    for (let i = 0; i < 3; i++) {
      const e = env.emit({ kind: 'Speak', payload: { entity_id: 'a1', text: `hi ${i}` }, source_id: 'narrator' });
      await rt.flush();
      await e;
      await new Promise((r) => setTimeout(r, 5));
    }
    sub.close();
    const ended = await Promise.race([both.then(() => 'ended'), new Promise((r) => setTimeout(() => r('hung'), 2000))]);
    expect(ended).toBe('ended');
    // Every message reached one loop or the other, once: 3 effects and 3 deltas.
    expect(got.length).toBe(6);
  });
});
