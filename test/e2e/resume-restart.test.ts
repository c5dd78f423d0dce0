/**
 * Resume across a server restart: a client connected before a graceful shutdown or a crash (SIGKILL, no final
 * snapshot) reconnects to the restarted server with its last view_seq and gets the deltas it missed, rebuilt from
 * the log, never a snapshot, no gap, no duplicate, identical to what a session that stayed connected received live;
 * a client further behind than the rebuilt tail gets a snapshot.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../server/core/index.js';
import { Subprotocol, type ServerMessage } from '../../server/protocol/index.js';
import { TestClient, ViewTracker, is, startTestServer, token, type TestServer } from './harness.js';

type Delta = Extract<ServerMessage, { type: 'observation_delta' }>;
type IntentResult = Extract<ServerMessage, { type: 'intent_result' }>;

const codecs = [Subprotocol.JSON, Subprotocol.MSGPACK, Subprotocol.PROTO];
const CHILD = fileURLToPath(new URL('./fixtures/server-child.ts', import.meta.url));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-resume-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Where a test's clients connect, and how they get tokens (in process, or from the child that printed them). */
interface Endpoint {
  readonly wsUrl: string;
  token(agent: string): Promise<string>;
}

const inProcess = (srv: TestServer): Endpoint => ({ wsUrl: srv.wsUrl, token: (agent) => token(srv, agent) });

/** A server in a child process (see fixtures/server-child.ts), to be killed with SIGKILL. */
async function startChild(dataDir: string, agents: string[]): Promise<{ endpoint: Endpoint; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, ...agents], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => void child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`server child exited (${code}): ${err}`)));
  });
  const { wsUrl, tokens } = JSON.parse(line) as { wsUrl: string; tokens: Record<string, string> };
  return { child, endpoint: { wsUrl, token: async (agent) => tokens[agent] ?? Promise.reject(new Error(`no token for ${agent}`)) } };
}

async function connect(ep: Endpoint, codec: Subprotocol, agent: string, resume?: { view: ViewTracker }): Promise<{ c: TestClient; v: ViewTracker }> {
  const c = await TestClient.connect(ep.wsUrl, codec, await ep.token(agent));
  cleanups.push(() => c.close());
  const v = new ViewTracker(c);
  if (resume) {
    v.view = resume.view.view;
    v.viewSeq = resume.view.viewSeq;
    c.hello(agent, { resume: { view_seq: v.viewSeq } });
  } else c.hello(agent);
  await c.waitFor(is('welcome'));
  v.sync();
  return { c, v };
}

let reqs = 0;
/** Submits an intent against the client's current view and waits for its result; returns the result. */
async function submit(t: { c: TestClient; v: ViewTracker }, kind: string, payload: JsonObject): Promise<IntentResult> {
  const { c, v } = t;
  const req = `q${++reqs}`;
  const from = c.received.length;
  v.sync();
  c.send({ type: 'submit_intent', intent: { req_id: req, kind, payload, context_seq: Math.max(0, v.viewSeq), priority: 0 } });
  const r = await c.waitFor((m): m is IntentResult => m.type === 'intent_result' && m.req_id === req, 5000, from);
  expect(r.status).toBe('accepted');
  return r;
}

/** Waits until a client holds a delta committed at or after globalSeq, then applies what it has. */
async function until(t: { c: TestClient; v: ViewTracker }, globalSeq: number): Promise<void> {
  await t.c.waitFor((m) => m.type === 'observation_delta' && m.global_seq >= globalSeq);
  t.v.sync();
}

const deltas = (c: TestClient): Delta[] => c.received.filter((m): m is Delta => m.type === 'observation_delta');

/**
 * The scenario both restart tests share: `watcher` (agent ra) and `stayer` (ra too, another session) see `mover` (rb)
 * move; the watcher leaves; the mover moves on; the stayer receives those deltas live until the server goes down.
 */
async function beforeRestart(ep: Endpoint, codec: Subprotocol) {
  const watcher = await connect(ep, codec, 'ra');
  const stayer = await connect(ep, codec, 'ra');
  const mover = await connect(ep, codec, 'rb');
  await submit(watcher, 'Spawn', { entity_id: 'ra', fields: { x: 500, y: 500 } });
  let last = await submit(mover, 'Spawn', { entity_id: 'rb', fields: { x: 520, y: 500 } });
  for (let i = 0; i < 3; i++) last = await submit(mover, 'Move', { dx: 1, dy: 1 });
  await until(watcher, last.global_seq!);
  await until(stayer, last.global_seq!);
  watcher.c.close();
  await watcher.c.waitClosed();
  const left = watcher.v.viewSeq;
  for (let i = 0; i < 6; i++) {
    last = await submit(mover, 'Move', { dx: i % 2 ? 2 : -1, dy: 1 });
    // A Speak changes a field the watcher sees too (the "said" field).
    if (i === 3) last = await submit(mover, 'Speak', { text: `hello ${i}` });
  }
  await until(stayer, last.global_seq!);
  // What the stayer received live after the watcher left: what the watcher must get again after the restart.
  const missed = deltas(stayer.c).filter((d) => d.from_seq >= left);
  expect(missed.length).toBeGreaterThanOrEqual(7);
  return { watcher, stayer, mover, missed };
}

/** The watcher resumes on the restarted server: deltas only, chained, equal to the live ones, ending at the server view. */
async function resumeAfterRestart(srv: TestServer, codec: Subprotocol, watcher: { v: ViewTracker }, missed: Delta[]): Promise<void> {
  const again = await connect(inProcess(srv), codec, 'ra', { view: watcher.v });
  const welcome = again.c.received.find((m): m is Extract<ServerMessage, { type: 'welcome' }> => m.type === 'welcome')!;
  expect(welcome.snapshot, 'resumed with deltas, not a snapshot').toBeUndefined();
  expect(welcome.view_seq).toBe(watcher.v.viewSeq);
  await again.v.matchesServer(srv, 'ra');
  expect(again.c.received.some((m) => m.type === 'snapshot')).toBe(false);
  const got = deltas(again.c);
  for (const live of missed) {
    const rebuilt = got.find((d) => d.from_seq === live.from_seq);
    expect(rebuilt, `a delta from view_seq ${live.from_seq}`).toBeDefined();
    // Same header (server_time included: the quantum's wall time) and the same ops in the same order.
    expect(rebuilt).toEqual(live);
  }
  expect(again.v.view.entities['rb']).toMatchObject({ said: { text: 'hello 3' } });
}

describe.each(codecs)('resume across a restart over %s', (codec) => {
  it('after a graceful shutdown, a client resumes with exactly the deltas it missed, rebuilt from the log', async () => {
    const dir = tempDir();
    const srv = await startTestServer({ quarantineAfter: 0 }, dir);
    let stopped = false;
    cleanups.push(async () => void (stopped || (await srv.shutdown())));
    const { watcher, stayer, missed } = await beforeRestart(inProcess(srv), codec);
    await srv.shutdown();
    stopped = true;
    expect((await stayer.c.waitClosed()).code).toBe(1001);
    // The graceful shutdown's final snapshot is the log's end: the restart replays from before it.
    expect(fs.readdirSync(path.join(dir, 'worlds', 'default', 'snapshots')).length).toBe(1);
    const srv2 = await startTestServer({ quarantineAfter: 0 }, dir);
    cleanups.push(() => srv2.shutdown());
    const open = srv2.logLines.find((l) => l['msg'] === 'world open');
    expect(open?.['restoredDeltas']).toBeGreaterThan(0);
    await resumeAfterRestart(srv2, codec, watcher, missed);
  });

  it('after a crash (SIGKILL, no final snapshot), a client resumes with exactly the deltas it missed', async () => {
    const dir = tempDir();
    const { endpoint, child } = await startChild(dir, ['ra', 'rb']);
    const { watcher, stayer, missed } = await beforeRestart(endpoint, codec);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    await stayer.c.waitClosed();
    expect(fs.existsSync(path.join(dir, 'worlds', 'default', 'snapshots')) ? fs.readdirSync(path.join(dir, 'worlds', 'default', 'snapshots')) : []).toEqual([]);
    const srv = await startTestServer({ quarantineAfter: 0 }, dir);
    cleanups.push(() => srv.shutdown());
    await resumeAfterRestart(srv, codec, watcher, missed);
  });
});

describe('resume across a restart, too far behind', () => {
  it('a client whose view_seq is before the rebuilt tail gets a snapshot; one inside it gets deltas', async () => {
    const dir = tempDir();
    const srv = await startTestServer({ quarantineAfter: 0 }, dir);
    let stopped = false;
    cleanups.push(async () => void (stopped || (await srv.shutdown())));
    const ep = inProcess(srv);
    const early = await connect(ep, Subprotocol.JSON, 'ea');
    const late = await connect(ep, Subprotocol.JSON, 'la');
    const mover = await connect(ep, Subprotocol.JSON, 'mb');
    await submit(early, 'Spawn', { entity_id: 'ea', fields: { x: 100, y: 100 } });
    await submit(late, 'Spawn', { entity_id: 'la', fields: { x: 110, y: 100 } });
    let last = await submit(mover, 'Spawn', { entity_id: 'mb', fields: { x: 105, y: 110 } });
    await until(early, last.global_seq!);
    early.c.close();
    await early.c.waitClosed();
    // The early client misses this move (its record is at or before missedAt), then ticks go by (9 effects a tick at
    // 20 ms): at least 600 records, and twice as many as came before, so the log ends up shorter than 4 tails.
    last = await submit(mover, 'Move', { dx: 1, dy: 0 });
    const missedAt = srv.host.log.lastSeq;
    const passed = missedAt + Math.max(600, 2 * missedAt);
    while (srv.host.log.lastSeq < passed) await new Promise((r) => setTimeout(r, 20));
    await until(late, last.global_seq!);
    late.c.close();
    await late.c.waitClosed();
    // The late client misses only the last move, right before the shutdown: inside a tail that starts 100 records
    // after the early client's move. The log is shorter than 4 such tails, so the restart replays from the first
    // record (the snapshot the shutdown writes is the log's end).
    last = await submit(mover, 'Move', { dx: 1, dy: 0 });
    await srv.shutdown();
    stopped = true;
    const resumeTail = srv.host.log.lastSeq - missedAt - 100;
    expect(4 * resumeTail).toBeGreaterThanOrEqual(srv.host.log.lastSeq);
    const srv2 = await startTestServer({ quarantineAfter: 0, resumeTail }, dir);
    cleanups.push(() => srv2.shutdown());
    const e2 = await connect(inProcess(srv2), Subprotocol.JSON, 'ea', { view: early.v });
    expect(e2.c.received.find((m) => m.type === 'welcome')).toMatchObject({ snapshot: { view_seq: expect.any(Number) } });
    await e2.v.matchesServer(srv2, 'ea');
    const l2 = await connect(inProcess(srv2), Subprotocol.JSON, 'la', { view: late.v });
    expect(l2.c.received.find((m) => m.type === 'welcome')).not.toHaveProperty('snapshot');
    await l2.v.matchesServer(srv2, 'la');
    expect(deltas(l2.c).some((d) => d.global_seq >= last.global_seq!)).toBe(true);
    expect(l2.v.view.entities['mb']).toMatchObject({ x: 107 });
  });
});
