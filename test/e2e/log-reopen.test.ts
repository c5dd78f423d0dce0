/**
 * A world whose log refused a write (a full disk, injected through the log's file layer) reopens by itself once the
 * disk takes writes again, without a restart: while failed, /readyz says failed and Hellos and REST intents get
 * LOG_WRITE_FAILED; once the log's probe succeeds the world is rebuilt from its log, its sockets are closed with
 * going-away, /readyz is ready again, a client resuming from its view_seq gets exactly the deltas it missed, an intent
 * acknowledged before the failure answers duplicate with its global_seq, the one refused was never committed, and new
 * intents commit after them, the log's global_seqs running on without a gap or a repeat.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultWorld } from '../../server/worlds/index.js';
import { openLogReadOnly, verifyLog } from '../../server/log/index.js';
import { worldDataDir } from '../../server/transport/world-host.js';
import { Subprotocol, type ClientMessage, type ServerMessage } from '../../server/protocol/index.js';
import { FaultyFiles } from '../helpers/faulty-files.js';
import { TestClient, ViewTracker, is, startTestServer, token, type TestServer } from './harness.js';

type IntentResult = Extract<ServerMessage, { type: 'intent_result' }>;
type Intent = Extract<ClientMessage, { type: 'submit_intent' }>['intent'];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The default world without its NPCs' wandering: every global_seq then belongs to an intent of this test. */
const quietWorld = { ...defaultWorld, systems: [] };

async function start(files: FaultyFiles): Promise<TestServer> {
  const srv = await startTestServer({}, undefined, { world: quietWorld, logIo: { files, probeIntervalMs: 50 } });
  cleanups.push(async () => {
    await srv.shutdown();
    fs.rmSync(srv.dataDir, { recursive: true, force: true });
  });
  return srv;
}

async function join(srv: TestServer, agent: string, resume?: ViewTracker): Promise<{ c: TestClient; v: ViewTracker }> {
  const c = await TestClient.connect(srv.wsUrl, Subprotocol.MSGPACK, await token(srv, agent));
  cleanups.push(() => c.close());
  const v = new ViewTracker(c);
  if (resume) {
    v.view = resume.view;
    v.viewSeq = resume.viewSeq;
    c.hello(agent, { resume: { view_seq: v.viewSeq } });
  } else c.hello(agent);
  await c.waitFor(is('welcome'));
  v.sync();
  return { c, v };
}

async function submit(c: TestClient, intent: Intent): Promise<IntentResult> {
  const from = c.received.length;
  c.send({ type: 'submit_intent', intent });
  return c.waitFor((m): m is IntentResult => m.type === 'intent_result' && m.req_id === intent.req_id, 5000, from);
}

async function readyz(srv: TestServer): Promise<{ http: number; status: string }> {
  const res = await fetch(`${srv.httpUrl}/readyz`);
  return { http: res.status, status: ((await res.json()) as { status: string }).status };
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a world whose log refused a write', () => {
  it('reopens by itself from its log once the disk takes writes again', async () => {
    const files = new FaultyFiles();
    const srv = await start(files);
    const a = await join(srv, 'a');
    const move = (req: string, dx: number): Intent => ({ req_id: req, kind: 'Move', payload: { entity_id: 'a', dx, dy: 0 }, context_seq: srv.host.runtime.viewSeq('a'), priority: 0 });
    const spawnA: Intent = { req_id: 'spawn-a', kind: 'Spawn', payload: { entity_id: 'a', fields: { x: 100, y: 100 } }, context_seq: 0, priority: 0 };
    const acked: Array<{ intent: Intent; globalSeq: number }> = [];
    const spawned = await submit(a.c, spawnA);
    expect(spawned.status).toBe('accepted');
    acked.push({ intent: spawnA, globalSeq: spawned.global_seq as number });

    // b watches a, then goes away and misses a's next moves.
    const b = await join(srv, 'b');
    const spawnB: Intent = { req_id: 'spawn-b', kind: 'Spawn', payload: { entity_id: 'b', fields: { x: 110, y: 100 } }, context_seq: 0, priority: 0 };
    expect((await submit(b.c, spawnB)).status).toBe('accepted');
    for (const [i, dx] of [1, 2].entries()) {
      const m = move(`m${i}`, dx);
      const r = await submit(a.c, m);
      expect(r.status).toBe('accepted');
      acked.push({ intent: m, globalSeq: r.global_seq as number });
    }
    await b.v.matchesServer(srv, 'b');
    b.c.close();
    await b.c.waitClosed();
    for (const [i, dx] of [3, -1].entries()) {
      const m = move(`missed${i}`, dx);
      const r = await submit(a.c, m);
      expect(r.status).toBe('accepted');
      acked.push({ intent: m, globalSeq: r.global_seq as number });
    }
    const lastAcked = acked[acked.length - 1]!.globalSeq;
    const bMissedFrom = b.v.viewSeq;

    // The disk fills up: the intent's quantum is refused, the world fails.
    files.writeError = 'ENOSPC';
    const lost = move('lost', 1);
    const refused = await submit(a.c, lost);
    expect(refused.status).toBe('rejected');
    expect(refused.error?.name).toBe('LOG_WRITE_FAILED');
    await until('readyz says failed', async () => (await readyz(srv)).status === 'failed');
    expect((await readyz(srv)).http).toBe(503);
    const failedHost = srv.host;
    const c = await TestClient.connect(srv.wsUrl, Subprotocol.MSGPACK, await token(srv, 'c'));
    cleanups.push(() => c.close());
    c.hello('c');
    const refusal = await c.waitFor(is('error'));
    expect(refusal).toMatchObject({ code: 7006, name: 'LOG_WRITE_FAILED', recovery: 'RETRY_WITH_DELAY' });
    const rest = await fetch(`${srv.httpUrl}/v1/worlds/default/intents`, {
      method: 'POST', headers: { authorization: `Bearer ${await token(srv, 'r')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ intent: { req_id: 'r1', kind: 'Spawn', payload: { entity_id: 'r', fields: { x: 1, y: 1 } }, context_seq: 0 } }),
    });
    expect(rest.status).toBe(503);
    expect(((await rest.json()) as { error: { name: string } }).error.name).toBe('LOG_WRITE_FAILED');
    // Still full: the log's probe keeps failing, and the world stays failed.
    await new Promise((r) => setTimeout(r, 300));
    expect((await readyz(srv)).status).toBe('failed');

    // Space returns: the log's probe succeeds, and the world is reopened from its log.
    files.heal();
    await until('readyz says ready', async () => (await readyz(srv)).status === 'ready');
    expect((await readyz(srv)).http).toBe(200);
    expect(srv.host).not.toBe(failedHost);
    expect(srv.host.healthy).toBe(true);
    // The failed world's sockets were closed with going-away, telling their clients to reconnect and resume.
    for (const old of [a.c, c]) {
      const closed = await old.waitClosed();
      expect(closed.code).toBe(1001);
      expect(closed.reason).toMatch(/reopened after a log write failure: reconnect and resume/);
    }
    const reopened = srv.logLines.find((l) => l['msg'] === 'world reopened from its log after a write failure; serving again');
    expect(reopened).toMatchObject({ world: 'default', attempt: 1 });
    // Rebuilt from the log: what was acknowledged (and the ticks committed with it), nothing of the refused quantum.
    const reopenedAt = reopened?.['globalSeq'] as number;
    expect(reopenedAt).toBeGreaterThanOrEqual(lastAcked);
    expect(typeof reopened?.['lastSeq']).toBe('number');

    // b resumes from its view_seq: exactly the deltas it missed (a's two moves), no gap, no duplicate.
    const b2 = await join(srv, 'b', b.v);
    const welcome = b2.c.received.find(is('welcome'));
    expect(welcome?.snapshot).toBeUndefined();
    await b2.v.matchesServer(srv, 'b');
    const missed = b2.c.received.filter(is('observation_delta'));
    expect(missed.length).toBeGreaterThan(0);
    expect(missed[0]!.from_seq).toBe(bMissedFrom);
    expect(b2.v.view.entities['a']).toMatchObject({ x: 100 + 1 + 2 + 3 - 1, y: 100 });

    // a reconnects: what was acknowledged keeps its global_seq; the refused intent was never committed.
    const a2 = await join(srv, 'a');
    for (const { intent, globalSeq } of acked) {
      const r = await submit(a2.c, intent);
      expect(r, intent.req_id).toMatchObject({ status: 'duplicate', global_seq: globalSeq });
    }
    // Never committed, so it commits now, after everything acknowledged before the failure; new intents follow.
    const again = await submit(a2.c, { ...lost, context_seq: srv.host.runtime.viewSeq('a') });
    expect(again.status).toBe('accepted');
    const after = [again.global_seq as number];
    for (const [i, dx] of [1, 1].entries()) {
      const r = await submit(a2.c, move(`after${i}`, dx));
      expect(r.status).toBe('accepted');
      after.push(r.global_seq as number);
    }
    expect(after[0]).toBeGreaterThan(reopenedAt);
    expect(after[1]).toBeGreaterThan(after[0]!);
    expect(after[2]).toBeGreaterThan(after[1]!);
    await b2.v.matchesServer(srv, 'b');
    expect(b2.v.view.entities['a']).toMatchObject({ x: 100 + 1 + 2 + 3 - 1 + 1 + 1 + 1 });

    // The log on disk holds one unbroken chain, with nothing of the refused write.
    await srv.shutdown();
    const dir = worldDataDir(srv.dataDir, 'default');
    const report = await verifyLog(dir);
    expect(report.ok).toBe(true);
    const log = await openLogReadOnly(dir);
    let expected = log.firstSeq;
    const effects: Array<{ global_seq: number; req_id?: string; kind: string }> = [];
    for (const r of log.records()) {
      expect(r.seq).toBe(expected++);
      if (r.kind === 'effect') effects.push(JSON.parse(Buffer.from(r.payload).toString('utf8')) as (typeof effects)[number]);
    }
    expect(expected - 1).toBe(log.lastSeq);
    // Every committed effect has its own global_seq, in one contiguous run across the failure and the reopen.
    expect(effects.map((e) => e.global_seq)).toEqual(effects.map((_, i) => i + 1));
    const byReq = (req: string) => effects.filter((e) => e.req_id === req).map((e) => e.global_seq);
    for (const { intent, globalSeq } of acked) expect(byReq(intent.req_id)).toEqual([globalSeq]);
    expect(byReq('lost')).toEqual([after[0]]);
    expect([...byReq('after0'), ...byReq('after1')]).toEqual(after.slice(1));
  });

  it('fails again when the disk fills again after a reopen, and reopens again (after a backoff) once space returns', async () => {
    const files = new FaultyFiles();
    const srv = await start(files);
    const a = await join(srv, 'a');
    const spawn = await submit(a.c, { req_id: 'spawn-a', kind: 'Spawn', payload: { entity_id: 'a', fields: { x: 100, y: 100 } }, context_seq: 0, priority: 0 });
    expect(spawn.status).toBe('accepted');
    let c = a.c;
    for (const round of [1, 2]) {
      files.writeError = 'ENOSPC';
      const r = await submit(c, { req_id: `lost${round}`, kind: 'Move', payload: { entity_id: 'a', dx: 1, dy: 0 }, context_seq: srv.host.runtime.viewSeq('a'), priority: 0 });
      expect(r.error?.name).toBe('LOG_WRITE_FAILED');
      await until(`readyz says failed (round ${round})`, async () => (await readyz(srv)).status === 'failed');
      files.heal();
      await until(`readyz says ready (round ${round})`, async () => (await readyz(srv)).status === 'ready', 8000);
      await c.waitClosed();
      c = (await join(srv, 'a')).c;
      expect(await submit(c, { req_id: 'spawn-a', kind: 'Spawn', payload: { entity_id: 'a', fields: { x: 100, y: 100 } }, context_seq: 0, priority: 0 })).toMatchObject({ status: 'duplicate', global_seq: spawn.global_seq });
    }
    const reopens = srv.logLines.filter((l) => l['msg'] === 'world reopened from its log after a write failure; serving again');
    expect(reopens.map((l) => l['attempt'])).toEqual([1, 2]);
    // The second reopen of the streak waited about a second after the first.
    expect((reopens[1]!['time'] as number) - (reopens[0]!['time'] as number)).toBeGreaterThanOrEqual(900);
    expect(srv.logLines.filter((l) => l['msg'] === 'the log takes writes again: reopening the failed world from its log')).toHaveLength(2);
  });
});
