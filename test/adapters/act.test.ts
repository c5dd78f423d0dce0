/**
 * act() against an in-process fake socket (fake-socket.ts), for frame orders a real server produces only in a race:
 * a STALE_CONTEXT result read before the deltas that made the intent stale. And act()'s options, checked before
 * anything is sent.
 */
import { describe, expect, it } from 'vitest';
import { connect, viewDigest, type Agent } from '../../adapters/client/index.js';
import { deltaX, fakeSockets, welcome, type FakeSocket } from './fake-socket.js';
import { waitUntil } from './helpers.js';

async function connected(): Promise<{ agent: Agent; socket: FakeSocket }> {
  const f = fakeSockets();
  const p = connect('ws://fake/v1/worlds/w/ws', { token: 't', agentId: 'a', codec: 'json', WebSocket: f.WebSocket, pingIntervalMs: 0, verifyDigests: false, reconnect: { initialDelayMs: 1, maxDelayMs: 5 } });
  await waitUntil(() => (f.sockets[0]?.of('hello').length ?? 0) === 1, 'the first hello');
  const view = { entities: { e: { x: 0 } } };
  f.sockets[0]!.deliver(welcome(0, { view, digest: await viewDigest(view) }));
  return { agent: await p, socket: f.sockets[0]! };
}

const stale = (reqId: string, viewSeq: number): Record<string, unknown> => ({
  type: 'intent_result',
  req_id: reqId,
  status: 'rejected',
  error: { code: 1001, name: 'STALE_CONTEXT', message: 'stale', recovery: 'REGENERATE', details: { stale_due_to: [{ view_seq: viewSeq, global_seq: 40, kind: 'Move' }] } },
});

describe('act() (fake socket)', () => {
  it('after a STALE_CONTEXT read before its deltas, regenerates from the view they produce, not the stale one again', async () => {
    const { agent, socket } = await connected();
    const seen: Array<{ contextSeq: number; x: unknown }> = [];
    const acting = agent.act(async ({ view, contextSeq }) => {
      seen.push({ contextSeq, x: view.entities['e']?.['x'] });
      return { kind: 'Move', payload: { dx: 1 } };
    }, { maxAttempts: 3 });
    await waitUntil(() => socket.of('submit_intent').length === 1, 'the first submit');
    // The server refuses the intent at once; the delta of the event that made it stale comes after.
    socket.deliver(stale(socket.of('submit_intent')[0]!.intent.req_id, 1));
    await new Promise((r) => setTimeout(r, 20));
    socket.deliver(deltaX(0, 1, 7));
    await waitUntil(() => socket.of('submit_intent').length === 2, 'the second submit');
    const second = socket.of('submit_intent')[1]!.intent;
    socket.deliver({ type: 'intent_result', req_id: second.req_id, status: 'accepted', global_seq: 41 });
    const res = await acting;
    expect(res.attempts.map((a) => a.outcome)).toEqual(['stale', 'submitted']);
    expect(res.attempts[0]!.staleDueTo).toEqual([{ view_seq: 1, global_seq: 40, kind: 'Move' }]);
    expect(seen).toEqual([
      { contextSeq: 0, x: 0 },
      { contextSeq: 1, x: 7 },
    ]);
    expect(second.context_seq).toBe(1);
    agent.close();
  });

  it('refuses maxAttempts and debounceMs that make no sense with CONFIG_INVALID, before generating or sending anything', async () => {
    const { agent, socket } = await connected();
    let generated = 0;
    const generate = async (): Promise<null> => {
      generated++;
      return null;
    };
    for (const maxAttempts of [0, -1, Number.NaN, 1.5]) {
      await expect(agent.act(generate, { maxAttempts })).rejects.toMatchObject({ codeName: 'CONFIG_INVALID', details: { option: 'maxAttempts' } });
    }
    for (const debounceMs of [-5, Number.NaN, Infinity]) {
      await expect(agent.act(generate, { debounceMs })).rejects.toMatchObject({ codeName: 'CONFIG_INVALID', details: { option: 'debounceMs' } });
    }
    expect(generated).toBe(0);
    expect(socket.of('begin_generation')).toEqual([]);
    // The limits themselves are fine.
    await expect(agent.act(generate, { maxAttempts: 1, debounceMs: 0 })).resolves.toMatchObject({ result: undefined });
    expect(generated).toBe(1);
    agent.close();
  });

  it('an agent closed while act() waits out debounceMs ends that wait at once: act() rejects then, not a debounce later', async () => {
    const { agent, socket } = await connected();
    const acting = agent.act(async () => ({ kind: 'Move', payload: { dx: 1 } }), { maxAttempts: 3, debounceMs: 5000 });
    const outcome = acting.then(() => 'resolved', () => 'rejected');
    await waitUntil(() => socket.of('submit_intent').length === 1, 'the first submit');
    socket.deliver(stale(socket.of('submit_intent')[0]!.intent.req_id, 1));
    socket.deliver(deltaX(0, 1, 7));
    // The second attempt now waits for 5 s of quiet.
    await new Promise((r) => setTimeout(r, 50));
    agent.close();
    const first = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('still waiting'), 1000))]);
    expect(first).toBe('rejected');
  });
});
