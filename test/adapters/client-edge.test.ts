/**
 * The client SDK against an in-process fake socket (fake-socket.ts), for cases a real server does not produce on
 * demand: frames delivered back to back in one task, a server that never answers, a gap at a chosen view_seq.
 */
import { getEventListeners } from 'node:events';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { connect, viewDigest, type Agent, type Observation } from '../../adapters/client/index.js';
import { deltaX, fakeSockets, welcome, type FakeSocket } from './fake-socket.js';
import { waitUntil } from './helpers.js';

async function connected(extra: Partial<Parameters<typeof connect>[1]> = {}): Promise<{ agent: Agent; sockets: FakeSocket[] }> {
  const f = fakeSockets();
  const p = connect('ws://fake/v1/worlds/w/ws', { token: 't', agentId: 'a', codec: 'json', WebSocket: f.WebSocket, pingIntervalMs: 0, reconnect: { initialDelayMs: 1, maxDelayMs: 5 }, ...extra });
  await waitUntil(() => (f.sockets[0]?.of('hello').length ?? 0) === 1, 'the first hello');
  const view = { entities: { e: { x: 0 } } };
  f.sockets[0]!.deliver(welcome(0, { view, digest: await viewDigest(view) }));
  const agent = await p;
  return { agent, sockets: f.sockets };
}

const digestOfX = (x: number): Promise<string> => viewDigest({ entities: { e: { x } } });

describe('client SDK edge cases (fake socket)', () => {
  it('a second submit() with the same req_id rejects too when no result comes in time', async () => {
    const { agent } = await connected({ submitTimeoutMs: 50 });
    const first = agent.submit({ req_id: 'r1', kind: 'Move', payload: { dx: 1 } });
    const second = agent.submit({ req_id: 'r1', kind: 'Move', payload: { dx: 1 } });
    const settled = await Promise.race([Promise.allSettled([first, second]), new Promise((r) => setTimeout(() => r('hung'), 1000))]);
    expect(settled).not.toBe('hung');
    expect((settled as PromiseSettledResult<unknown>[]).map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect((settled as PromiseRejectedResult[])[1]!.reason).toMatchObject({ codeName: 'OPERATION_TIMEOUT' });
    agent.close();
  });

  it('submit() refuses at once, sending nothing, a payload no codec carries exactly or a field out of range', async () => {
    const { agent, sockets } = await connected({ submitTimeoutMs: 5000 });
    const circular: Record<string, unknown> = { a: 1 };
    circular['self'] = circular;
    const bad: Array<[string, Parameters<Agent['submit']>[0], string]> = [
      ['NaN', { kind: 'Move', payload: { dx: Number.NaN } }, 'intent.payload'],
      ['Infinity', { kind: 'Move', payload: { dx: Number.POSITIVE_INFINITY } }, 'intent.payload'],
      ['a lone surrogate', { kind: 'Say', payload: { text: 'a\ud800b' } }, 'intent.payload'],
      ['a BigInt', { kind: 'Move', payload: { dx: 1n } as never }, 'intent.payload'],
      ['a cycle', { kind: 'Move', payload: circular as never }, 'intent.payload'],
      ['a Date', { kind: 'Move', payload: { at: new Date(0) } as never }, 'intent.payload'],
      ['a priority out of range', { kind: 'Move', payload: {}, priority: 5000 }, 'intent.priority'],
      ['an empty req_id', { req_id: '', kind: 'Move', payload: {} }, 'intent.req_id'],
    ];
    for (const [what, intent, field] of bad) {
      const t0 = performance.now();
      const err = await agent.submit(intent).then(() => undefined, (e: unknown) => e);
      expect(err, what).toMatchObject({ codeName: 'INVALID_INTENT' });
      expect((err as Error).message, what).toContain(field);
      expect(performance.now() - t0, what).toBeLessThan(1000);
    }
    // Nothing was sent, nothing is pending: a reconnect resends nothing.
    expect(sockets[0]!.of('submit_intent')).toHaveLength(0);
    const ok = agent.submit({ req_id: 'fine', kind: 'Move', payload: { dx: 1 } });
    await waitUntil(() => sockets[0]!.of('submit_intent').length === 1, 'the valid submit sent');
    expect(sockets[0]!.of('submit_intent')[0]!.intent.req_id).toBe('fine');
    agent.close();
    await ok.catch(() => undefined);
  });

  it("resumes naming the incarnation of the world its view came from (the last Welcome's)", async () => {
    const f = fakeSockets();
    const p = connect('ws://fake/v1/worlds/w/ws', { token: 't', agentId: 'a', codec: 'json', WebSocket: f.WebSocket, pingIntervalMs: 0, reconnect: { initialDelayMs: 1, maxDelayMs: 5 } });
    await waitUntil(() => (f.sockets[0]?.of('hello').length ?? 0) === 1, 'the first hello');
    const view = { entities: { e: { x: 0 } } };
    f.sockets[0]!.deliver({ ...welcome(0, { view, digest: await viewDigest(view) }), incarnation: 'log-1' } as never);
    const agent = await p;
    f.sockets[0]!.drop(1006);
    await waitUntil(() => (f.sockets[1]?.of('hello').length ?? 0) === 1, 'the reconnect');
    expect(f.sockets[1]!.of('hello')[0]!.resume).toEqual({ view_seq: 0, incarnation: 'log-1' });
    agent.close();
  });

  it('gaps spread over a long session do not add up to WORLD_STATE_CORRUPTED without digest checks', async () => {
    const { agent, sockets } = await connected({ verifyDigests: false });
    let seq = 0;
    for (let i = 0; i < 12; i++) {
      const s = sockets[sockets.length - 1]!;
      s.deliver(deltaX(seq, seq + 1, seq + 1));
      seq++;
      // A gap: the next delta skips one; the SDK resumes from `seq`.
      s.deliver(deltaX(seq + 1, seq + 2, seq + 2));
      await waitUntil(() => agent.closed || (sockets.length === i + 2 && sockets[i + 1]!.of('hello').length === 1), `reconnect ${i + 1}`);
      expect(agent.closed).toBe(false);
      expect(sockets[i + 1]!.of('hello')[0]!.resume).toEqual({ view_seq: seq });
      sockets[i + 1]!.deliver(welcome(seq));
      await waitUntil(() => agent.connected, 'welcomed');
    }
    expect(agent.closed).toBe(false);
    agent.close();
  });

  it('a delta delivered just before a gap is still observed once, and the resumed ones follow it', async () => {
    const { agent, sockets } = await connected();
    const seen: Observation[] = [];
    const ac = new AbortController();
    const done = (async () => {
      for await (const o of agent.observations({ signal: ac.signal })) seen.push(o);
    })();
    const s0 = sockets[0]!;
    // Delta 1 and delta 3 arrive in one task (ws delivers the frames of one TCP read synchronously): 3 is a gap.
    const d1 = await digestOfX(1);
    const d3 = await digestOfX(3);
    s0.deliver(deltaX(0, 1, 1, d1));
    s0.deliver(deltaX(2, 3, 3, d3));
    await waitUntil(() => sockets.length === 2 && sockets[1]!.of('hello').length === 1, 'the resume hello');
    expect(sockets[1]!.of('hello')[0]!.resume).toEqual({ view_seq: 1 });
    sockets[1]!.deliver(welcome(1));
    sockets[1]!.deliver(deltaX(1, 2, 2, await digestOfX(2)));
    sockets[1]!.deliver(deltaX(2, 3, 3, d3));
    await agent.settled();
    await waitUntil(() => seen.length >= 3 || agent.viewSeq === 3, 'observations');
    await agent.settled();
    ac.abort();
    await done;
    expect(seen.map((o) => o.viewSeq)).toEqual([1, 2, 3]);
    expect(seen.map((o) => o.view.entities['e']?.['x'])).toEqual([1, 2, 3]);
    agent.close();
  });

  it('a delta is applied at once and observed, digest-checked, on the next turn, after frames read in the same one', async () => {
    const { agent, sockets } = await connected();
    const order: string[] = [];
    agent.on('observation', (o) => order.push(`observed ${o.viewSeq}`));
    agent.on('cancelled', (c) => order.push(`cancelled ${c.req_id}`));
    const s0 = sockets[0]!;
    const d1 = await digestOfX(1);
    // One task: a delta, then a Cancelled (ws delivers the frames of one read synchronously).
    s0.deliver(deltaX(0, 1, 1, d1));
    expect(agent.viewSeq).toBe(1);
    expect(agent.view.entities['e']?.['x']).toBe(1);
    s0.deliver({ type: 'cancelled', req_id: 'g1', reason: 'stale', stale_due_to: [{ view_seq: 1, global_seq: 1, kind: 'Say' }], server_time: 0 });
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(order).toEqual(['cancelled g1']);
    await agent.settled();
    expect(order).toEqual(['cancelled g1', 'observed 1']);
    // A wrong digest is still caught on that turn: the SDK resynchronises from a snapshot.
    const resync = new Promise((resolve) => agent.once('resync', resolve));
    s0.deliver(deltaX(1, 2, 2, d1));
    expect(await resync).toMatchObject({ reason: 'digest-mismatch' });
    agent.close();
  });

  it("keeps ws's nodebuffer frames and asks any other socket (a browser's) for arraybuffer, never for a type it does not know", async () => {
    const f = fakeSockets();
    const asked: string[] = [];
    class BrowserLike extends f.WebSocket {
      constructor(url: string) {
        super(url);
        let type = 'blob';
        // A browser's WebSocket ignores a binaryType it does not know.
        Object.defineProperty(this, 'binaryType', {
          get: () => type,
          set: (v: string) => {
            asked.push(v);
            if (v === 'blob' || v === 'arraybuffer') type = v;
          },
        });
      }
    }
    const p = connect('ws://fake/v1/worlds/w/ws', { token: 't', agentId: 'a', codec: 'json', WebSocket: BrowserLike, pingIntervalMs: 0, reconnect: false });
    await waitUntil(() => (f.sockets[0]?.of('hello').length ?? 0) === 1, 'the first hello');
    // A browser warns in the page's console about a binaryType it does not know: the SDK never sets 'nodebuffer'.
    expect(asked).toEqual(['arraybuffer']);
    expect(f.sockets[0]!.binaryType).toBe('arraybuffer');
    const view = { entities: {} };
    f.sockets[0]!.deliver(welcome(0, { view, digest: await viewDigest(view) }));
    (await p).close();
    // ws hands over Buffers by default, which the SDK keeps.
    const ws = new WebSocket('ws://127.0.0.1:9');
    ws.on('error', () => {});
    expect(ws.binaryType).toBe('nodebuffer');
    ws.terminate();
  });

  it('drops a connection the server fell silent on, judged only on ping ticks that came on time', async () => {
    let skew = 0;
    const now = (): number => performance.timeOrigin + performance.now() + skew;
    const { agent, sockets } = await connected({ pingIntervalMs: 20, deadAfterMs: 300, now });
    const drops: number[] = [];
    agent.on('drop', (e) => drops.push(e.code));
    const s0 = sockets[0]!;
    const pong = (): void => s0.deliver({ type: 'pong', client_time: 0, server_time: 0 });
    // The clock jumps 10 s, as when the process (or a frozen page) was asleep: the tick after it is late, and the
    // server's answers, already read, have not been handled yet. It pings rather than judge.
    skew += 10_000;
    const before = s0.of('ping').length;
    await waitUntil(() => s0.of('ping').length > before, 'a ping on the late tick');
    for (let i = 0; i < 10; i++) {
      pong();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(drops).toEqual([]);
    // Then nothing more comes: past deadAfterMs the connection counts as lost, and the agent reconnects.
    await waitUntil(() => drops.length === 1, 'the silent connection dropped');
    expect(drops).toEqual([4004]);
    await waitUntil(() => sockets.length === 2 && s0.readyState === 3, 'a new socket, the old one closed');
    agent.close();
  });

  it('observations() leaves no listener on a long-lived signal once its stream ends (break or close)', async () => {
    const { agent, sockets } = await connected({ verifyDigests: false });
    const life = new AbortController();
    for (let i = 0; i < 3; i++) {
      const it = agent.observations({ signal: life.signal });
      sockets[0]!.deliver(deltaX(i, i + 1, i + 1));
      for await (const o of it) {
        expect(o.viewSeq).toBe(i + 1);
        break;
      }
    }
    const open = agent.observations({ signal: life.signal });
    agent.close();
    expect(await open.next()).toEqual({ value: undefined, done: true });
    expect(getEventListeners(life.signal, 'abort')).toHaveLength(0);
  });

  it('act(): the last attempt interrupted gives STALENESS_DETECTED at once, without waiting for the view to catch up', async () => {
    const { agent, sockets } = await connected();
    const t0 = performance.now();
    const p = agent.act(async ({ signal, reqId }) => {
      // The server cancels; the deltas it names (view_seq 5) are not coming (the connection is about to drop, say).
      sockets[0]!.deliver({ type: 'cancelled', req_id: reqId, reason: 'stale', stale_due_to: [{ view_seq: 5, global_seq: 9, kind: 'Move' }], server_time: 0 });
      signal.throwIfAborted();
      return null;
    }, { maxAttempts: 1 });
    await expect(p).rejects.toMatchObject({ codeName: 'STALENESS_DETECTED' });
    expect(performance.now() - t0).toBeLessThan(1000);
    agent.close();
  });

  it('act(): a regeneration starts on the next turn of the event loop, not inside the frame that allowed it', async () => {
    const { agent, sockets } = await connected();
    const s = sockets[0]!;
    const views: number[] = [];
    const p = agent.act(async ({ signal, attempt, contextSeq }) => {
      views.push(contextSeq);
      if (attempt === 1) await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
      return null;
    }, { reqIdBase: 'g' });
    await waitUntil(() => s.of('begin_generation').length === 1, 'the first generation');
    // Read back to back, as one socket read finds them: the Cancelled frame, the delta it names, and the next delta.
    s.deliver({ type: 'cancelled', req_id: 'g.1', reason: 'stale', stale_due_to: [{ view_seq: 1, global_seq: 1, kind: 'Move' }], server_time: 0 });
    s.deliver(deltaX(0, 1, 5));
    // Everything the frames set off in microtasks has run: the regeneration has not started.
    for (let i = 0; i < 50; i++) await Promise.resolve();
    expect(views).toEqual([0]);
    expect(s.of('begin_generation')).toHaveLength(1);
    // A frame read before the next turn is in the view the regeneration starts from.
    s.deliver(deltaX(1, 2, 6));
    const res = await p;
    expect(views).toEqual([0, 2]);
    expect(s.of('begin_generation').map((m) => [m.req_id, m.context_seq])).toEqual([['g.1', 0], ['g.2', 2]]);
    expect(res.attempts.map((a) => a.outcome)).toEqual(['interrupted', 'skipped']);
    agent.close();
  });

  it('act(): an outer abort while generate() ignores its signal still closes the generation on the server', async () => {
    const { agent, sockets } = await connected();
    const outer = new AbortController();
    const p = agent.act(async () => {
      outer.abort(new Error('caller gave up'));
      await new Promise((r) => setTimeout(r, 5));
      return { kind: 'Move', payload: { dx: 1 } };
    }, { signal: outer.signal, reqIdBase: 'g' });
    await expect(p).rejects.toThrow('caller gave up');
    const s = sockets[0]!;
    expect(s.of('begin_generation').map((m) => m.req_id)).toEqual(['g.1']);
    expect(s.of('submit_intent')).toHaveLength(0);
    expect(s.of('cancel_intent').map((m) => m.req_id)).toEqual(['g.1']);
    agent.close();
  });

  it("act(): the caller's abort while the intent is being submitted ends act() at once (the intent was sent)", async () => {
    const { agent, sockets } = await connected({ submitTimeoutMs: 10_000 });
    const outer = new AbortController();
    const p = agent.act(async () => ({ kind: 'Move', payload: { dx: 1 } }), { signal: outer.signal, reqIdBase: 'g' });
    const s = sockets[0]!;
    await waitUntil(() => s.of('submit_intent').length === 1, 'the submit');
    const t0 = Date.now();
    outer.abort(new Error('caller gave up'));
    await expect(p).rejects.toThrow('caller gave up');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(s.of('submit_intent').map((m) => m.intent.req_id)).toEqual(['g.1']);
    agent.close();
  });

  it('a server that never welcomes fails the connection after welcomeTimeoutMs, and the reconnect policy applies', async () => {
    const f = fakeSockets();
    const opts = { token: 't', agentId: 'a', codec: 'json' as const, WebSocket: f.WebSocket, pingIntervalMs: 0, welcomeTimeoutMs: 40, reconnect: { initialDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 } };
    const t0 = Date.now();
    const err = await connect('ws://fake/v1/worlds/w/ws', opts).then(() => undefined, (e: unknown) => e);
    expect((err as { codeName?: string }).codeName).toBe('ADAPTER_UNAVAILABLE');
    expect(String((err as Error).message)).toContain('no welcome within 40 ms');
    // The first connection and two reconnects, each sent its hello and was given up after ~40 ms.
    expect(f.sockets).toHaveLength(3);
    expect(f.sockets.map((x) => x.of('hello').length)).toEqual([1, 1, 1]);
    expect(Date.now() - t0).toBeLessThan(5000);
    // A welcome that does come in time is taken: the second connection is welcomed.
    const g = fakeSockets();
    const p = connect('ws://fake/v1/worlds/w/ws', { ...opts, WebSocket: g.WebSocket });
    await waitUntil(() => (g.sockets[1]?.of('hello').length ?? 0) === 1, 'the second hello');
    const view = { entities: { e: { x: 0 } } };
    g.sockets[1]!.deliver(welcome(0, { view, digest: await viewDigest(view) }));
    const agent = await p;
    expect(agent.view).toEqual(view);
    // No timer is left behind once welcomed (or once closed): the socket stays up past the limit.
    await new Promise((r) => setTimeout(r, 80));
    expect(g.sockets).toHaveLength(2);
    agent.close();
  });

  it('a server that welcomes and drops at once is retried with growing delays until maxAttempts; a connection that lasts resets the count', async () => {
    const view = { entities: { e: { x: 0 } } };
    const digest = await viewDigest(view);
    const f = fakeSockets();
    // Every socket is welcomed as soon as it says hello, and dropped right after unless `keep` says otherwise.
    let keep = false;
    const serve = setInterval(() => {
      for (const s of f.sockets) {
        if (s.readyState !== 1 || s.of('hello').length === 0 || (s as FakeSocket & { served?: boolean }).served) continue;
        (s as FakeSocket & { served?: boolean }).served = true;
        s.deliver(welcome(0, { view, digest }));
        if (!keep) s.drop(1011, 'server restarting');
      }
    }, 1);
    try {
      const drops: boolean[] = [];
      const left: string[] = [];
      const agent = await connect('ws://fake/v1/worlds/w/ws', { token: 't', agentId: 'a', codec: 'json', WebSocket: f.WebSocket, pingIntervalMs: 0, reconnect: { initialDelayMs: 1, maxDelayMs: 4, maxAttempts: 4, minUptimeMs: 40 } });
      agent.on('drop', (e) => drops.push(e.willReconnect));
      agent.on('leave', (e) => left.push(e.reason));
      await waitUntil(() => left.length === 1, 'the agent gives up');
      // The first connection and four reconnects, each welcomed and dropped: the count never started again.
      expect(f.sockets).toHaveLength(5);
      expect(drops.at(-1)).toBe(false);
      expect(left[0]).toContain('connection lost');
      expect(agent.stats().reconnects).toBe(4);

      // A connection that stays up past minUptimeMs counts as a success: the next drops start from attempt 1.
      const g = fakeSockets();
      const served = new Set<FakeSocket>();
      const serve2 = setInterval(() => {
        for (const s of g.sockets) {
          if (s.readyState !== 1 || s.of('hello').length === 0 || served.has(s)) continue;
          served.add(s);
          s.deliver(welcome(0, { view, digest }));
        }
      }, 1);
      try {
        const b = await connect('ws://fake/v1/worlds/w/ws', { token: 't', agentId: 'a', codec: 'json', WebSocket: g.WebSocket, pingIntervalMs: 0, reconnect: { initialDelayMs: 1, maxDelayMs: 4, maxAttempts: 2, minUptimeMs: 20 } });
        const attempts: number[] = [];
        b.on('reconnect', (e) => attempts.push(e.attempt));
        for (let i = 1; i <= 3; i++) {
          await new Promise((r) => setTimeout(r, 60));
          g.sockets.at(-1)!.drop(1006, 'network');
          await waitUntil(() => attempts.length === i, `reconnect ${i}`);
        }
        // Three drops with maxAttempts 2 and the agent is still here: each came after a connection that lasted.
        expect(attempts).toEqual([1, 1, 1]);
        b.close();
      } finally {
        clearInterval(serve2);
      }
    } finally {
      clearInterval(serve);
      keep = true;
    }
  });
});
