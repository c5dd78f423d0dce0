/**
 * The client SDK against a real server over real sockets: views that match the server's, resume with no gap after
 * a killed socket, idempotent submit retries across a reconnect, act() interrupted and regenerated when another
 * agent acts, and a digest mismatch resynchronised from a snapshot.
 */
import fs from 'node:fs';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, viewDigest, type Agent, type AgentEvents, type CodecName, type Observation } from '../../adapters/client/index.js';
import { startTestServer, token, type TestServer } from '../e2e/harness.js';
import { matchesServer as matchesServerOf, spawnAt, tapSockets, waitUntil } from './helpers.js';

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ quarantineAfter: 0, messagesPerSecond: 10_000 });
});

afterAll(async () => {
  await srv.shutdown();
  fs.rmSync(srv.dataDir, { recursive: true, force: true });
});

async function join(agentId: string, at: { x: number; y: number }, extra: Partial<Parameters<typeof connect>[1]> = {}): Promise<Agent> {
  return spawnAt(await connect(srv.wsUrl, { token: await token(srv, agentId), agentId, WebSocket, reconnect: { initialDelayMs: 5, maxDelayMs: 50 }, ...extra }), at);
}

const matchesServer = (agent: Agent): Promise<void> => matchesServerOf(srv, agent);

/**
 * The point of the plane farthest from every entity in the world now. The default world's NPCs wander, and earlier
 * tests' agents stay where they were: a test that must see only its own agents' events (act() is interrupted by any
 * visible event) starts there. At a fixed spot a wandering NPC came within the view radius now and then.
 */
function quietSpot(): { x: number; y: number } {
  const ents = Object.values(srv.host.runtime.state().entities) as Array<{ x?: unknown; y?: unknown }>;
  let best = { x: 500, y: 500 };
  let bestDist = -1;
  for (let x = 20; x <= 980; x += 40) {
    for (let y = 20; y <= 980; y += 40) {
      let d = Infinity;
      for (const e of ents) if (typeof e.x === 'number' && typeof e.y === 'number') d = Math.min(d, Math.hypot(e.x - x, e.y - y));
      if (d > bestDist) {
        bestDist = d;
        best = { x, y };
      }
    }
  }
  return best;
}

function move(agent: Agent, reqId: string, dx: number, dy = 0): ReturnType<Agent['submit']> {
  return agent.submit({ req_id: reqId, kind: 'Move', payload: { dx, dy } });
}

describe.each<CodecName>(['json', 'msgpack', 'proto'])('client SDK over %s', (codec) => {
  it('keeps a view equal to the server view, and its digest is the server context_digest', async () => {
    const a = await join(`view-a-${codec}`, { x: 80, y: 80 }, { codec });
    const b = await join(`view-b-${codec}`, { x: 90, y: 80 }, { codec });
    for (let i = 0; i < 5; i++) expect((await move(b, `vb${i}`, 1, 1)).status).toBe('accepted');
    await matchesServer(a);
    expect(a.view.entities[`view-b-${codec}`]).toMatchObject({ x: 95, y: 85 });
    expect(await viewDigest(a.view)).toBe(srv.host.runtime.observe(a.agentId).context_digest);
    a.close();
    b.close();
  });

  it('resumes after a killed socket with no gap and no duplicate', async () => {
    const taps = tapSockets();
    const a = await join(`res-a-${codec}`, { x: 150, y: 900 }, { codec, WebSocket: taps.WebSocket });
    const b = await join(`res-b-${codec}`, { x: 160, y: 900 }, { codec });
    await matchesServer(a);
    await a.settled();
    const seen: Observation[] = [];
    const abort = new AbortController();
    const reading = (async () => {
      for await (const o of a.observations({ signal: abort.signal })) seen.push(o);
    })();
    const reconnects: Array<AgentEvents['reconnect']> = [];
    const drops: Array<AgentEvents['drop']> = [];
    a.on('reconnect', (e) => reconnects.push(e));
    a.on('drop', (e) => drops.push(e));
    const start = a.viewSeq;
    for (let i = 0; i < 12; i++) {
      if (i === 4) taps.sockets.at(-1)!.kill();
      expect((await move(b, `rb${i}`, 1, -1)).status).toBe('accepted');
    }
    await matchesServer(a);
    await a.settled();
    abort.abort();
    await reading;
    expect(drops.length).toBe(1);
    expect(reconnects).toHaveLength(1);
    expect(reconnects[0]!.resumed).toBe(true);
    expect(taps.sockets.length).toBe(2);
    // Every delta chains from the previous one: no gap, no duplicate, and no snapshot was needed.
    expect(seen.every((o) => o.type === 'delta')).toBe(true);
    let prev = start;
    for (const o of seen) {
      expect(o.fromSeq).toBe(prev);
      prev = o.viewSeq;
    }
    expect(prev).toBe(a.viewSeq);
    expect(a.view.entities[`res-b-${codec}`]).toMatchObject({ x: 172, y: 888 });
    a.close();
    b.close();
  });

  it('retries a submit across a reconnect with the same req_id, and it commits once', async () => {
    let killOnResult: string | undefined;
    const taps = tapSockets((ev) => {
      // Lose the IntentResult of one request with the connection: the server committed it, the client never heard.
      if (killOnResult !== undefined && typeof ev.data === 'string' && ev.data.includes('"intent_result"') && ev.data.includes(`"${killOnResult}"`)) {
        killOnResult = undefined;
        return 'kill';
      }
      return 'deliver';
    });
    const id = `idem-${codec}`;
    // The tap reads JSON frames, so this agent speaks json whatever the suite's codec (the server side is the same).
    const a = await join(id, { x: 400, y: 880 }, { codec: 'json', WebSocket: taps.WebSocket });
    await matchesServer(a);
    const x0 = a.view.entities[id]!['x'] as number;
    killOnResult = `once-${codec}`;
    const r = await move(a, `once-${codec}`, 3);
    expect(killOnResult).toBeUndefined();
    expect(taps.sockets.length).toBe(2);
    // The SDK's retry found the recorded outcome: same global_seq as the commit. The caller submitted once, so it gets
    // the first send's outcome, accepted, not the server's 'duplicate' answer to a retry it never made.
    expect(r.status).toBe('accepted');
    const committed = [...srv.host.log.records()].filter((rec) => rec.kind === 'effect').map((rec) => JSON.parse(Buffer.from(rec.payload).toString()) as { req_id?: string; agent_id?: string; global_seq: number }).filter((e) => e.req_id === `once-${codec}` && e.agent_id === id);
    expect(committed).toHaveLength(1);
    expect(r.global_seq).toBe(committed[0]!.global_seq);
    // A submit of the same req_id that the caller makes itself is a retry: the server's answer is passed on as it is.
    expect(await move(a, `once-${codec}`, 3)).toMatchObject({ status: 'duplicate', global_seq: committed[0]!.global_seq });
    await matchesServer(a);
    expect(a.view.entities[id]!['x']).toBe(x0 + 3);
    a.close();
  });

  it('act(): the generation is cancelled when another agent acts, and regenerated against the new view', async () => {
    const at = quietSpot();
    const a = await join(`act-a-${codec}`, at, { codec });
    const b = await join(`act-b-${codec}`, { x: at.x + 10, y: at.y }, { codec });
    await matchesServer(a);
    const seenByAttempt: Array<{ contextSeq: number; bx: unknown }> = [];
    let bMoved = false;
    let abortReason: unknown;
    const acting = a.act(
      async ({ view, contextSeq, signal, attempt, reqId }) => {
        seenByAttempt.push({ contextSeq, bx: view.entities[`act-b-${codec}`]?.['x'] });
        signal.addEventListener('abort', () => (abortReason = attempt === 1 ? { reqId, reason: signal.reason } : abortReason), { once: true });
        if (attempt === 1) {
          if (!bMoved) {
            bMoved = true;
            void move(b, `act-b-move-${codec}`, 5);
          }
          // A long generation: only the server's Cancelled ends it.
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
        }
        return { kind: 'Move', payload: { dx: -1, dy: 0 } };
      },
      { maxAttempts: 3 },
    );
    const res = await acting;
    expect(res.attempts.map((x) => x.outcome)).toEqual(['interrupted', 'submitted']);
    expect(res.attempts[0]!.staleDueTo.some((c) => c.kind === 'Move')).toBe(true);
    // The SDK's error names the generation and the server's short reason.
    const aborted = abortReason as { reqId: string; reason: Error };
    expect(aborted.reason.message).toBe(`Generation ${aborted.reqId} was cancelled: the context became stale.`);
    expect(res.result?.status).toBe('accepted');
    expect(seenByAttempt[0]!.bx).toBe(at.x + 10);
    expect(seenByAttempt[1]!.bx).toBe(at.x + 15);
    expect(seenByAttempt[1]!.contextSeq).toBeGreaterThan(seenByAttempt[0]!.contextSeq);
    expect(res.intent?.context_seq).toBe(seenByAttempt[1]!.contextSeq);
    expect(a.stats().cancelToAbort.count).toBe(1);
    a.close();
    b.close();
  });
});

describe('client SDK resynchronisation, refusal and clock', () => {
  it('resynchronises from a snapshot when a delta does not produce the context_digest', async () => {
    let corruptNext = false;
    const taps = tapSockets((ev) => {
      if (corruptNext && typeof ev.data === 'string' && ev.data.startsWith('{"type":"observation_delta"') && /"value":\d+/.test(ev.data)) {
        corruptNext = false;
        // A number altered in transit: the patch still applies, but the view no longer hashes to the digest.
        ev.data = ev.data.replace(/"value":(\d+)/, (_m, n: string) => `"value":${Number(n) + 1000}`);
      }
      return 'deliver';
    });
    const a = await join('digest-a', { x: 300, y: 60 }, { codec: 'json', WebSocket: taps.WebSocket });
    const b = await join('digest-b', { x: 310, y: 60 });
    await matchesServer(a);
    const resyncs: Array<AgentEvents['resync']> = [];
    const reconnects: Array<AgentEvents['reconnect']> = [];
    a.on('resync', (e) => resyncs.push(e));
    a.on('reconnect', (e) => reconnects.push(e));
    corruptNext = true;
    await move(b, 'digest-b-1', 2);
    await waitUntil(() => reconnects.length === 1, 'the agent reconnects after the mismatch');
    expect(resyncs.map((r) => r.reason)).toEqual(['digest-mismatch']);
    expect(reconnects[0]!.resumed).toBe(false);
    await move(b, 'digest-b-2', 2);
    await matchesServer(a);
    expect(a.view.entities['digest-b']).toMatchObject({ x: 314 });
    expect(a.stats().digestMismatches).toBe(1);
    a.close();
    b.close();
  });

  it('refuses to connect as another agent with a typed error, and syncs clocks with ping/pong', async () => {
    await expect(connect(srv.wsUrl, { token: await token(srv, 'mallory'), agentId: 'victim', WebSocket })).rejects.toMatchObject({ codeName: 'FORBIDDEN', code: 5002 });
    const a = await join('clock-a', { x: 600, y: 60 });
    await waitUntil(() => (a.clock?.samples ?? 0) >= 3, 'three pongs arrive');
    const c = a.clock!;
    expect(c.rttMs).toBeGreaterThanOrEqual(0);
    // Same machine, same clock: the offset is near zero (a unit or sign mistake would be off by far more).
    expect(Math.abs(c.offsetMs)).toBeLessThan(50);
    expect(a.stats().rtt.count).toBeGreaterThanOrEqual(3);
    const left: Array<AgentEvents['leave']> = [];
    a.on('leave', (e) => left.push(e));
    a.close();
    expect(left).toHaveLength(1);
    await expect(a.submit({ kind: 'Move', payload: { dx: 1, dy: 0 } })).rejects.toMatchObject({ codeName: 'LOG_CLOSED' });
  });
});
