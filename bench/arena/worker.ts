/**
 * A load-generator process: drives its share of arena-v1 clients over real WebSockets (the `ws` client, the public
 * protocol codecs), keeps every client's view strictly patched, samples views against the server's, and reports
 * histograms and counts to the runner. Started by runner.ts with child_process.fork; never in the server's process.
 */
import { SignJWT } from 'jose';
import seedrandom from 'seedrandom';
import WebSocket from 'ws';
import { createWorldCodecs, splitChannel, withChannel, WireSession, type ChannelSplit, type ClientMessage, type Frame, type ServerMessage, type WireCodec } from '../../server/protocol/index.js';
import { latencyHistogram } from '../lib.js';
import type { FromWorker, ToWorker, WorkerConfig, WorkerResult } from './ipc.js';
import { encodeHistogram } from './stats.js';
import { TickClock } from './tick-clock.js';
import { ClientView, compareViews, missingWithinRadius, outsideRadius, type EntityRec } from './view.js';

/** Wall-clock ms with sub-ms precision, on the same epoch as the server's Date.now(). */
const now = (): number => performance.timeOrigin + performance.now();

const send = (m: FromWorker): void => {
  process.send?.(m);
};

interface Sample {
  readonly viewSeq: number;
  readonly truth: Record<string, unknown>;
  readonly deadline: number;
}

class LoadClient {
  readonly view = new ClientView();
  readonly wire = new WireSession();
  ws: WebSocket | undefined;
  ready = false;
  broken = false;
  closed = false;
  nextMoveAt = 0;
  /** Copies of the view by view_seq while a correctness sample is in flight. */
  keep: Map<number, { ents: Map<string, EntityRec>; tick: number }> | undefined;
  waiting: Sample | undefined;
  seq = 0;
  /** Its channel on the worker's shared socket (--channels), else 0. */
  channel = 0;
  /** Unique per client even when clients share an agent (req_ids are per agent on the server). */
  constructor(readonly name: string, readonly agent: string, readonly localAddress: string) {}
}

let cfg: WorkerConfig;
let codec: WireCodec;
const clients: LoadClient[] = [];
const clock = new TickClock();
const rttHist = latencyHistogram();
const cancelHist = latencyHistogram();
const pending = new Map<string, number>();
const cancels = new Map<string, number>();
/** Generations this worker began (to tell the expected race "already cancelled as stale" from real errors). */
const generations = new Set<string>();
let staleAtBegin = 0;
// Deliveries in the measured window: tick and receive time, resolved against the tick clock at the end.
let arrTick = new Float64Array(1 << 16);
let arrRecv = new Float64Array(1 << 16);
let arrN = 0;
let warmupEnd = Infinity;
let measureEnd = Infinity;
let stopAt = Infinity;
let stopping = false;
let messages = 0;
let bytes = 0;
let intentsSent = 0;
const intentResults: Record<string, number> = {};
const errorFrames: Record<string, number> = {};
const viewErrors: Record<string, number> = {};
let radiusViolations = 0;
let snapshots = 0;
let closes = 0;
const samples = { correct: 0, incorrect: 0, lagging: 0, failedFetch: 0, examples: [] as string[] };
let cpuStart: NodeJS.CpuUsage | undefined;
let cpuPercent = NaN;
const timers: NodeJS.Timeout[] = [];
let adminToken = '';

const inc = (o: Record<string, number>, k: string): void => {
  o[k] = (o[k] ?? 0) + 1;
};
const measuring = (t: number): boolean => t >= warmupEnd && t < measureEnd;

/** Delivery latency from the server_time deltas carry (servers that send it); the tick bracketing is the fallback. */
const directDelivery = latencyHistogram();

function recordArrival(tick: number, t: number): void {
  if (arrN === arrTick.length) {
    const a = new Float64Array(arrN * 2);
    a.set(arrTick);
    arrTick = a;
    const b = new Float64Array(arrN * 2);
    b.set(arrRecv);
    arrRecv = b;
  }
  arrTick[arrN] = tick;
  arrRecv[arrN++] = t;
}

async function mint(secret: Uint8Array, claims: Record<string, string>): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(iat).setExpirationTime(iat + 3600).sign(secret);
}

function sendTo(c: LoadClient, msg: ClientMessage): void {
  if (!c.ws || c.closed || c.ws.readyState !== WebSocket.OPEN) return;
  c.ws.send(c.channel > 0 ? withChannel(codec.subprotocol, codec.encodeClient(msg), c.channel) : codec.encodeClient(msg));
}

function example(text: string): void {
  if (samples.examples.length < 5) samples.examples.push(text);
}

function finishSample(c: LoadClient, ents: ReadonlyMap<string, EntityRec>, tick: number, truth: Record<string, unknown>): void {
  c.keep = undefined;
  c.waiting = undefined;
  const cmp = compareViews(ents, truth['view'] as never);
  // Completeness against positions other clients of this process hold for the same tick.
  const known = new Map<string, EntityRec>();
  for (const o of clients) if (o !== c && o.ready && !o.broken && o.view.tick === tick) for (const [id, r] of o.view.entities) known.set(id, r);
  const truthEnts = new Map<string, EntityRec>(Object.entries(((truth['view'] as { entities?: Record<string, EntityRec> }).entities ?? {})));
  const missing = missingWithinRadius(truthEnts, known, c.agent, cfg.radius);
  const outside = outsideRadius(truthEnts, c.agent, cfg.radius);
  if (cmp.equal && missing.length === 0 && outside.length === 0) samples.correct++;
  else {
    samples.incorrect++;
    example(`${c.agent} view_seq ${String(truth['view_seq'])}: missing ${cmp.missing.join(',')} extra ${cmp.extra.join(',')} differing ${cmp.differing.join(',')} within-R-but-absent ${missing.join(',')} outside-R ${outside.join(',')}`);
  }
}

async function sample(c: LoadClient): Promise<void> {
  if (!c.ready || c.broken || c.keep) return;
  c.keep = new Map([[c.view.viewSeq, { ents: c.view.copy(), tick: c.view.tick }]]);
  let truth: Record<string, unknown>;
  try {
    const res = await fetch(`${cfg.httpBase}/v1/worlds/${cfg.worldId}/agents/${c.agent}/observe`, { headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(5000) });
    truth = (await res.json()) as Record<string, unknown>;
    if (!res.ok || typeof truth['view_seq'] !== 'number') throw new Error(`observe ${res.status}`);
  } catch (err) {
    c.keep = undefined;
    samples.failedFetch++;
    example(`observe ${c.agent} failed: ${String(err)}`);
    return;
  }
  const v = truth['view_seq'] as number;
  const kept = c.keep.get(v);
  if (kept) return finishSample(c, kept.ents, kept.tick, truth);
  if (c.view.viewSeq < v) {
    // The server's view may be one quantum ahead of what it has delivered: wait (bounded) for the client to get there.
    c.waiting = { viewSeq: v, truth, deadline: now() + 3 * cfg.tickMs + 250 };
    return;
  }
  c.keep = undefined;
  samples.lagging++;
  example(`${c.agent}: truth view_seq ${v} older than every view the client held (${c.view.viewSeq})`);
}

/** A frame as ws hands it over: text as a string, binary as a view of the same bytes. */
const frameOf = (data: Buffer, isBinary: boolean): Frame => (isBinary ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data.toString('utf8'));

/** One frame for client c; `wireBytes`: the WebSocket message's size (with a channel member, when there is one). */
function onMessage(c: LoadClient, frame: Frame, wireBytes: number): void {
  const t = now();
  if (measuring(t)) {
    messages++;
    bytes += wireBytes;
  }
  let msg: ServerMessage;
  try {
    // A delta's ops are applied to the view as they are decoded (none once the view is broken: nothing to keep).
    msg = codec.decodeServer(frame, c.wire, c.broken ? undefined : c.view);
  } catch (err) {
    inc(errorFrames, 'undecodable');
    if (c.view.abandonDelta()) c.broken = true;
    example(`undecodable frame: ${String(err)}`);
    return;
  }
  switch (msg.type) {
    case 'observation_delta': {
      if (c.broken) return;
      const err = c.view.endDelta(msg.sim_time);
      if (err) {
        inc(viewErrors, err);
        c.broken = true;
        example(`${c.agent}: ${err} applying view_seq ${msg.view_seq} from ${msg.from_seq} (held ${c.view.viewSeq})`);
        return;
      }
      if (measuring(t)) {
        // arena-v1: receive time minus the server time the update carries (same machine clock).
        if (msg.server_time > 0) directDelivery.recordValue(Math.max(1, Math.round((t - msg.server_time) * 1000)));
        else recordArrival(msg.sim_time, t);
      }
      if (outsideRadius(c.view.entities, c.agent, cfg.radius).length > 0) radiusViolations++;
      if (c.keep) {
        c.keep.set(msg.view_seq, { ents: c.view.copy(), tick: c.view.tick });
        if (c.keep.size > 8) c.keep.delete(c.keep.keys().next().value as number);
      }
      const w = c.waiting;
      if (w) {
        if (msg.view_seq === w.viewSeq) finishSample(c, c.view.entities, c.view.tick, w.truth);
        else if (msg.view_seq > w.viewSeq) {
          c.waiting = undefined;
          c.keep = undefined;
          samples.incorrect++;
          example(`${c.agent}: stream skipped view_seq ${w.viewSeq}`);
        }
      }
      return;
    }
    case 'welcome':
      if (msg.snapshot) c.view.reset(msg.snapshot.view, msg.snapshot.view_seq);
      else c.view.viewSeq = msg.view_seq;
      c.ready = true;
      return;
    case 'snapshot':
      snapshots++;
      c.broken = c.view.reset(msg.view, msg.view_seq) !== undefined;
      return;
    case 'intent_result': {
      const sent = pending.get(msg.req_id);
      if (sent !== undefined) {
        pending.delete(msg.req_id);
        if (measuring(sent)) {
          rttHist.recordValue(Math.max(1, Math.round((t - sent) * 1000)));
          inc(intentResults, msg.status);
        }
      }
      if (msg.status === 'cancelled') haltSeen(msg.req_id, t, true);
      if (msg.status === 'rejected') example(`${c.agent}: intent rejected: ${msg.error?.name ?? ''} ${msg.error?.message ?? ''}`);
      return;
    }
    case 'cancelled':
      haltSeen(msg.req_id, t, msg.reason.includes('on request'));
      return;
    case 'pong':
      clock.add(msg.server_time, msg.sim_time);
      return;
    case 'error': {
      const req = msg.details['req_id'];
      // A generation the world made stale before our cancel arrived: the server rightly has nothing to cancel.
      if (msg.name === 'INVALID_INTENT' && typeof req === 'string' && generations.has(req)) return;
      inc(errorFrames, msg.name);
      example(`${c.agent}: error frame ${msg.name}: ${msg.message}`);
      return;
    }
    default:
      return;
  }
}

function haltSeen(reqId: string, t: number, onRequest: boolean): void {
  const sent = cancels.get(reqId);
  if (sent === undefined) return;
  cancels.delete(reqId);
  if (!onRequest) {
    staleAtBegin++;
    return;
  }
  cancelHist.recordValue(Math.max(1, Math.round((t - sent) * 1000)));
}

/** --channels: the worker's one socket; each frame goes to the client of its channel. */
let shared: WebSocket | undefined;
const route: ChannelSplit = { channel: 0, frame: '' };

function openShared(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(cfg.url, codec.subprotocol, { localAddress: clients[0]?.localAddress ?? '127.0.0.1', perMessageDeflate: false });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const r = splitChannel(codec.subprotocol, frameOf(data, isBinary), route);
      const c = clients[r.channel - 1];
      if (c !== undefined) onMessage(c, r.frame, data.byteLength);
    });
    ws.on('close', () => {
      for (const c of clients) c.closed = true;
      if (!stopping) closes++;
    });
  });
}

function connect(c: LoadClient, token: string): Promise<boolean> {
  if (shared) {
    c.ws = shared;
    c.channel = clients.indexOf(c) + 1;
    return new Promise((resolve) => {
      const poll = setInterval(() => c.ready && done(true), 5);
      const timer = setTimeout(() => done(false), cfg.connectTimeoutMs);
      const done = (ok: boolean): void => {
        clearInterval(poll);
        clearTimeout(timer);
        resolve(ok);
      };
      sendTo(c, { type: 'hello', token, agent_id: c.agent, client_version: 'worldline-bench/1', schema_version: '1.0.0' });
    });
  }
  return new Promise((resolve) => {
    const ws = new WebSocket(`${cfg.url}?token=${encodeURIComponent(token)}`, codec.subprotocol, { localAddress: c.localAddress, perMessageDeflate: false });
    c.ws = ws;
    let settled = false;
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(poll);
      resolve(ok);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      done(false);
    }, cfg.connectTimeoutMs);
    const poll = setInterval(() => c.ready && done(true), 5);
    ws.on('open', () => sendTo(c, { type: 'hello', token: '', agent_id: c.agent, client_version: 'worldline-bench/1', schema_version: '1.0.0' }));
    ws.on('message', (data: Buffer, isBinary: boolean) => onMessage(c, frameOf(data, isBinary), data.byteLength));
    ws.on('error', (err) => {
      if (!settled) example(`${c.agent}: connect error ${err.message}`);
      done(false);
    });
    ws.on('close', () => {
      c.closed = true;
      // A client that never got its Welcome is a failed connect (the runner counts those): not a close as well.
      if (!stopping && c.ready) closes++;
      done(false);
    });
  });
}

async function start(config: WorkerConfig): Promise<void> {
  cfg = config;
  codec = createWorldCodecs()[cfg.codec];
  const secret = new TextEncoder().encode(cfg.secret);
  adminToken = await mint(secret, { tenant: cfg.tenant, world: cfg.worldId, role: 'admin' });
  cfg.clients.forEach((s, i) => clients.push(new LoadClient(`${cfg.index}.${i}`, s.agent, s.localAddress)));
  if (cfg.channels) shared = await openShared();
  let connected = 0;
  let failed = 0;
  for (let i = 0; i < clients.length; i += cfg.connectConcurrency) {
    const wave = clients.slice(i, i + cfg.connectConcurrency);
    const oks = await Promise.all(wave.map(async (c) => connect(c, await mint(secret, { tenant: cfg.tenant, world: cfg.worldId, agent: c.agent, role: 'agent' }))));
    for (const ok of oks) if (ok) connected++;
    else failed++;
  }
  send({ type: 'ready', index: cfg.index, connected, failed, ...(samples.examples[0] ? { firstError: samples.examples[0] } : {}) });
}

function go(w: number, m: number, s: number): void {
  warmupEnd = w;
  measureEnd = m;
  stopAt = s;
  const rng = seedrandom.alea(`arena-v1/worker-${cfg.index}`);
  const period = 1000 / cfg.moveHz;
  const t0 = now();
  for (const c of clients) c.nextMoveAt = t0 + rng() * period;
  const step = (): number => Math.round((rng() * 2 - 1) * cfg.maxStep * 100) / 100;
  timers.push(setInterval(() => {
    const t = now();
    if (t >= stopAt) return;
    for (const c of clients) {
      if (!c.ready || c.closed || c.nextMoveAt > t) continue;
      c.nextMoveAt += period;
      if (c.nextMoveAt < t) c.nextMoveAt = t + period; // fell behind (a saturated generator): do not burst
      const reqId = `m${c.name}-${c.seq++}`;
      pending.set(reqId, t);
      if (measuring(t)) intentsSent++;
      sendTo(c, { type: 'submit_intent', intent: { req_id: reqId, kind: 'Move', payload: { dx: step(), dy: step() }, context_seq: Math.max(0, c.view.viewSeq), priority: 0 } });
    }
    // Samples whose client never reached the server's view_seq in time.
    for (const c of clients) {
      if (c.waiting && t > c.waiting.deadline) {
        c.waiting = undefined;
        c.keep = undefined;
        samples.lagging++;
        example(`${c.agent}: did not reach the server's view_seq within ${3 * cfg.tickMs + 250} ms`);
      }
    }
  }, 5));
  if (cfg.clockPinger) startPinger();
  if (cfg.sampleEveryMs > 0) {
    let next = 0;
    timers.push(setInterval(() => {
      const t = now();
      if (!measuring(t)) return;
      const c = clients[next++ % clients.length];
      if (c) void sample(c);
    }, cfg.sampleEveryMs));
  }
  if (cfg.cancelEveryMs > 0) {
    let g = 0;
    timers.push(setInterval(() => {
      const t = now();
      if (!measuring(t)) return;
      const c = clients[g % clients.length];
      if (!c || !c.ready || c.closed) return;
      const reqId = `g${cfg.index}-${g++}`;
      generations.add(reqId);
      sendTo(c, { type: 'begin_generation', req_id: reqId, context_seq: Math.max(0, c.view.viewSeq) });
      // The cancel follows at once, so the server handles the two back to back; cancel-to-halt counts from here.
      cancels.set(reqId, now());
      sendTo(c, { type: 'cancel_intent', req_id: reqId });
    }, cfg.cancelEveryMs));
  }
  setTimeout(() => {
    cpuStart = process.cpuUsage();
  }, Math.max(0, w - Date.now()));
  setTimeout(() => {
    if (cpuStart) {
      const u = process.cpuUsage(cpuStart);
      cpuPercent = Math.round(((u.user + u.system) / 1000 / (m - w)) * 1000) / 10;
    }
  }, Math.max(0, m - Date.now()));
  setTimeout(stopLoad, Math.max(0, s - Date.now()));
}

let pingNext = 0;
function ping(): void {
  for (let k = 0; k < clients.length; k++) {
    const c = clients[pingNext++ % clients.length]!;
    if (c.ready && !c.closed) {
      sendTo(c, { type: 'ping', client_time: Math.floor(Date.now()) });
      return;
    }
  }
}

/**
 * Pings so that the last pong before each tick start lands close to it: a sparse background ping, and a burst of
 * pings 1 ms apart from 4 ms before to 2 ms after the predicted start (the last seen start plus tickMs). About
 * 8 pings per tick, where uniform pings at the same resolution would take 50.
 */
function startPinger(): void {
  timers.push(setInterval(ping, cfg.pingEveryMs));
  let lastTick = -1;
  let burstFor = -1;
  timers.push(setInterval(() => {
    const br = clock.latest();
    if (!br || br.tick === lastTick) return;
    lastTick = br.tick;
    const predicted = br.start + cfg.tickMs;
    if (burstFor === br.tick + 1) return;
    burstFor = br.tick + 1;
    const from = predicted - 4 - Date.now();
    if (from < 0) return;
    setTimeout(() => {
      let n = 0;
      const t = setInterval(() => {
        ping();
        if (++n >= 7) clearInterval(t);
      }, 1);
    }, from);
  }, 2));
}

function stopLoad(): void {
  stopping = true;
  for (const t of timers) clearInterval(t);
  send({ type: 'pongs', index: cfg.index, ...clock.entries() });
}

function finish(serverTimes: readonly number[], simTimes: readonly number[]): void {
  const merged = new TickClock();
  for (let i = 0; i < serverTimes.length; i++) merged.add(serverTimes[i]!, simTimes[i]!);
  const brackets = merged.brackets();
  const delivery = latencyHistogram();
  const widths = latencyHistogram();
  let unresolved = 0;
  for (let i = 0; i < arrN; i++) {
    const b = brackets.get(arrTick[i]!);
    if (!b) {
      unresolved++;
      continue;
    }
    delivery.recordValue(Math.max(1, Math.round((arrRecv[i]! - b.start) * 1000)));
    widths.recordValue(Math.max(1, Math.round(b.width * 1000)));
  }
  let unanswered = 0;
  for (const sent of pending.values()) if (measuring(sent)) unanswered++;
  const result: WorkerResult = {
    index: cfg.index, clients: clients.length,
    delivery: encodeHistogram(directDelivery.totalCount > 0 ? directDelivery : delivery), rtt: encodeHistogram(rttHist), cancel: encodeHistogram(cancelHist), bracketWidth: encodeHistogram(widths),
    deliveries: arrN, unresolved, messages, bytes, intentsSent, intentResults, intentsUnanswered: unanswered, errorFrames, viewErrors,
    radiusViolations, snapshots, closes, samples, cpuPercent, pongs: merged.size, staleAtBegin,
  };
  send({ type: 'result', result });
  for (const c of clients) c.ws?.terminate();
}

process.on('message', (m: ToWorker) => {
  if (m.type === 'start') {
    start(m.cfg).catch((err: unknown) => {
      send({ type: 'fatal', index: m.cfg.index, message: String((err as Error)?.stack ?? err) });
    });
  } else if (m.type === 'go') go(m.warmupEnd, m.measureEnd, m.stopAt);
  else if (m.type === 'clock') finish(m.serverTimes, m.simTimes);
  else if (m.type === 'exit') process.exit(0);
});
// The runner gone (crashed or killed): never linger as an orphan load generator.
process.on('disconnect', () => process.exit(0));
