/**
 * One agent worker of the cancel bench, forked by bench/cancel.ts (never in the server's process). In `sdk` mode each
 * agent is the TypeScript SDK (adapters/client) whose act() streams from a fake OpenAI-compatible provider through
 * adapters/llm/openai.ts; in `raw` mode each is a bare protocol client (ws + the public msgpack codec) that only
 * opens a generation. Each round every agent begins a generation; the bench's speaker then commits a Say, the
 * server cancels them all, and this worker reports when each agent saw its Cancelled frame, its abort, its stream's
 * end and the delta that caused it.
 */
import WebSocket from 'ws';
import { connect, openLink, type Agent } from '../../adapters/client/index.js';
import { openAIProvider } from '../../adapters/llm/openai.js';
import type { LlmProvider } from '../../adapters/llm/types.js';
import { isWorldlineError } from '../../server/errors.js';
import { PROTOCOL_VERSION, PathTable, Subprotocol, WireSession, createMsgpackCodec, type ClientMessage, type ServerMessage, type WireCodec } from '../../server/protocol/index.js';
import { clockOffset, mintAgentToken, promptFor, stamp, withModels, type Close, type FromWorker, type BurstReport, type Sample, type ToWorker, type WorkerConfig } from './ipc.js';
import { startRecordingProvider, type RecordingProvider } from './provider.js';

/** A round that has not finished in this long is reported with what it has (NaN for the rest). */
const ROUND_TIMEOUT_MS = 15_000;

const send = (m: FromWorker): void => {
  process.send?.(m);
};

const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * This worker's cancel burst in the current round: from its first Cancelled to its last, the wall time, the CPU
 * time the process used and the model tokens it consumed meanwhile. CPU well below wall time means the worker
 * waited for a core; CPU close to it means its own work (cancels, deltas, tokens) was the queue.
 */
class Burst {
  first = NaN;
  last = NaN;
  private cpuFirst = 0;
  private cpuLast = 0;
  private tokensFirst = 0;
  private tokensLast = 0;
  tokens = 0;

  reset(): void {
    this.first = this.last = NaN;
    this.tokens = this.count = 0;
  }

  private count = 0;

  /** One more Cancelled decoded, of `expect` this round (process.cpuUsage() costs a syscall: read at the ends only). */
  cancelled(at: number, expect: number): void {
    if (++this.count === 1) {
      this.first = at;
      this.cpuFirst = cpuNow();
      this.tokensFirst = this.tokens;
    }
    if (this.count === expect) {
      this.last = at;
      this.cpuLast = cpuNow();
      this.tokensLast = this.tokens;
    }
  }

  report(): BurstReport {
    return { spanMs: this.last - this.first, cpuMs: this.cpuLast - this.cpuFirst, tokens: this.tokensLast - this.tokensFirst };
  }
}

const burst = new Burst();
/** The agents this worker drives. */
let agentCount = 0;

/** What one agent saw in the current round. */
class Slot {
  round = -1;
  reqId = '';
  cancelledAt = NaN;
  serverTime = NaN;
  abortedAt = NaN;
  streamEndedAt = NaN;
  causeGlobalSeq = NaN;
  outcome = '';
  generating = false;
  settled = false;
  /** Highest global_seq among the deltas received. */
  lastGlobalSeq = 0;
  /** Deltas received this round: arrival stamp and server_time, by global_seq. */
  deltas: Array<{ seq: number; at: number; serverTime: number }> = [];
  constructor(readonly id: string) {}

  reset(round: number, reqId: string): void {
    this.round = round;
    this.reqId = reqId;
    this.cancelledAt = this.serverTime = this.abortedAt = this.streamEndedAt = this.causeGlobalSeq = NaN;
    this.outcome = '';
    this.generating = this.settled = false;
    this.deltas = [];
  }

  onDelta(seq: number, serverTime: number): void {
    if (seq > this.lastGlobalSeq) this.lastGlobalSeq = seq;
    if (this.round >= 0 && this.deltas.length < 64) this.deltas.push({ seq, at: stamp(), serverTime });
  }

  /** Done when cancelled, settled, and the delta naming the cause has arrived. */
  get done(): boolean {
    return this.settled && !Number.isNaN(this.causeGlobalSeq) && this.lastGlobalSeq >= this.causeGlobalSeq;
  }

  sample(): Sample {
    const d = this.deltas.find((x) => x.seq >= this.causeGlobalSeq);
    return {
      agent: this.id, cancelledAt: this.cancelledAt, serverTime: this.serverTime, abortedAt: this.abortedAt, streamEndedAt: this.streamEndedAt,
      deltaAt: d?.at ?? NaN, deltaServerTime: d?.serverTime ?? NaN, causeGlobalSeq: this.causeGlobalSeq, outcome: this.outcome || 'unsettled',
    };
  }
}

/** How a worker drives its agents (SDK or bare protocol). */
interface Driver {
  readonly slots: readonly Slot[];
  /** Every agent's view has caught up with global_seq `seq` (its digests checked, for the SDK). */
  caughtUp(seq: number): Promise<boolean>;
  /** Begins one generation per agent; `onGenerating` once each is under way. */
  begin(round: number, onGenerating: (s: Slot) => void): void;
  closes(round: number): Promise<Close[]>;
  close(): Promise<void>;
}

async function until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = stamp() + timeoutMs;
  while (!pred()) {
    if (stamp() > deadline) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}

/**
 * Runs `spawn` (which returns undefined on success, else why not) until it succeeds, at most 50 times. The
 * conversation world rejects an intent made from a view older than the newest event (stalenessThreshold 0), and
 * every Spawn is such an event: Spawns that share a quantum all commit, a later one retries from the newer view.
 */
async function spawnWithRetry(agent: string, spawn: (attempt: number) => Promise<string | undefined>): Promise<void> {
  let why: string | undefined;
  for (let attempt = 1; attempt <= 50; attempt++) {
    why = await spawn(attempt);
    if (why === undefined) return;
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
  }
  throw new Error(`spawn ${agent}: ${why ?? ''}`);
}

async function inWaves<T>(items: readonly T[], size: number, fn: (x: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

async function sdkDriver(cfg: WorkerConfig, tokenFor: (agent: string) => Promise<string>): Promise<Driver & { providerUrl: string | undefined }> {
  let own: RecordingProvider | undefined;
  let url = cfg.providerUrl;
  if (url === undefined) {
    own = await startRecordingProvider(cfg.tokenDelayMs);
    url = own.url;
  }
  const provider: LlmProvider = openAIProvider({ model: 'bench', baseURL: `${url}/v1`, apiKey: 'k', ...(cfg.fetch === 'undici' ? { fetch: globalThis.fetch } : {}) });
  const slots = cfg.agents.map((id) => new Slot(id));
  const agents: Agent[] = [];
  // link mode: every agent of this process on one socket.
  const link = cfg.mode === 'link' ? openLink(cfg.wsUrl, { WebSocket: WebSocket as never, codec: 'msgpack' }) : undefined;
  await inWaves(slots, cfg.connectConcurrency, async (s) => {
    const opts = { token: await tokenFor(s.id), agentId: s.id, pingIntervalMs: 0, verifyDigests: true, reconnect: false } as const;
    const a = link ? await link.connect(opts) : await connect(cfg.wsUrl, { ...opts, WebSocket: WebSocket as never, codec: 'msgpack' });
    a.on('message', (m) => {
      if (m.type === 'cancelled') {
        // Stamped as the SDK hands the decoded frame over, before it aborts anything.
        if (m.req_id === s.reqId && Number.isNaN(s.cancelledAt)) {
          s.cancelledAt = stamp();
          s.serverTime = m.server_time;
          burst.cancelled(s.cancelledAt, agentCount);
          s.causeGlobalSeq = Math.max(...m.stale_due_to.map((c) => c.global_seq));
        }
      } else if (m.type === 'observation_delta') s.onDelta(m.global_seq, m.server_time);
    });
    a.on('cancelled', (c) => {
      if (c.req_id === s.reqId && Number.isNaN(s.abortedAt)) s.abortedAt = stamp();
    });
    agents[slots.indexOf(s)] = a;
  });
  await inWaves(slots.map((s, i) => [s, agents[i]!] as const), cfg.connectConcurrency, ([s, a]) =>
    spawnWithRetry(s.id, async (attempt) => {
      const r = await a.submit({ req_id: `spawn-${s.id}.${attempt}`, kind: 'Spawn', payload: { entity_id: s.id, fields: { kind: 'person' } } });
      return r.status === 'accepted' ? undefined : `${r.status} ${r.error?.name ?? ''} ${r.error?.message ?? ''}`;
    }));
  return {
    slots,
    providerUrl: own ? url : undefined,
    async caughtUp(seq) {
      const ok = await until(() => slots.every((s) => s.lastGlobalSeq >= seq), ROUND_TIMEOUT_MS);
      await Promise.all(agents.map((a) => a.settled()));
      return ok;
    },
    begin(round, onGenerating) {
      slots.forEach((s, i) => {
        const a = agents[i]!;
        const base = `${s.id}-r${round}`;
        s.reset(round, `${base}.1`);
        a.act(async ({ signal }) => {
          try {
            for await (const _token of provider.stream({ messages: [{ role: 'user', content: promptFor(s.id, round) }], signal })) {
              burst.tokens++;
              if (!s.generating) {
                s.generating = true;
                onGenerating(s);
              }
            }
          } finally {
            s.streamEndedAt = stamp();
          }
          return null;
        }, { regenerateOnStale: false, reqIdBase: base }).then(
          () => (s.outcome = 'finished'),
          (err: unknown) => (s.outcome = isWorldlineError(err, 'GENERATION_CANCELLED') ? 'cancelled' : `error: ${String(err)}`),
        ).finally(() => (s.settled = true));
      });
    },
    closes: (round) => (own ? own.closes(round, slots.length, ROUND_TIMEOUT_MS) : Promise.resolve([])),
    async close() {
      for (const a of agents) a.close();
      await own?.close();
    },
  };
}

/** A bare protocol client: Hello, Spawn, then BeginGeneration per round; it tracks view_seq from delta headers. */
class RawClient {
  readonly wire = new WireSession();
  readonly codec: WireCodec = createMsgpackCodec(new PathTable());
  viewSeq = 0;
  private waiters: Array<(m: ServerMessage) => boolean> = [];

  constructor(readonly ws: WebSocket, readonly slot: Slot) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => {
      const m = this.codec.decodeServer(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.wire);
      if (m.type === 'cancelled') {
        if (m.req_id === slot.reqId && Number.isNaN(slot.cancelledAt)) {
          slot.cancelledAt = slot.abortedAt = stamp();
          slot.serverTime = m.server_time;
          burst.cancelled(slot.cancelledAt, agentCount);
          slot.causeGlobalSeq = Math.max(...m.stale_due_to.map((c) => c.global_seq));
          slot.outcome = 'cancelled';
          slot.settled = true;
        }
      } else if (m.type === 'observation_delta') {
        this.viewSeq = m.view_seq;
        slot.onDelta(m.global_seq, m.server_time);
      } else if (m.type === 'welcome') this.viewSeq = m.view_seq;
      else if (m.type === 'snapshot') this.viewSeq = m.view_seq;
      if (this.waiters.length) this.waiters = this.waiters.filter((w) => !w(m));
    });
  }

  send(m: ClientMessage): void {
    this.ws.send(this.codec.encodeClient(m));
  }

  /** Resolves with the first message `pred` accepts (rejects after timeoutMs). */
  next(pred: (m: ServerMessage) => boolean, timeoutMs: number): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.slot.id}: no matching message within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((m) => {
        if (!pred(m)) return false;
        clearTimeout(t);
        resolve(m);
        return true;
      });
    });
  }
}

async function rawDriver(cfg: WorkerConfig, tokenFor: (agent: string) => Promise<string>): Promise<Driver> {
  const slots = cfg.agents.map((id) => new Slot(id));
  const clients: RawClient[] = [];
  await inWaves(slots, cfg.connectConcurrency, async (s) => {
    const ws = new WebSocket(cfg.wsUrl, Subprotocol.MSGPACK);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const c = new RawClient(ws, s);
    const welcome = c.next((m) => m.type === 'welcome' || m.type === 'error', 10_000);
    c.send({ type: 'hello', token: await tokenFor(s.id), agent_id: s.id, client_version: 'worldline-cancel-bench/1', schema_version: PROTOCOL_VERSION });
    const w = await welcome;
    if (w.type !== 'welcome') throw new Error(`hello ${s.id}: ${JSON.stringify(w)}`);
    clients[slots.indexOf(s)] = c;
  });
  await inWaves(clients, cfg.connectConcurrency, (c) =>
    spawnWithRetry(c.slot.id, async (attempt) => {
      const result = c.next((m) => m.type === 'intent_result', 10_000);
      c.send({ type: 'submit_intent', intent: { req_id: `spawn-${c.slot.id}.${attempt}`, kind: 'Spawn', payload: { entity_id: c.slot.id, fields: { kind: 'person' } }, context_seq: c.viewSeq, priority: 0 } });
      const r = await result;
      return r.type === 'intent_result' && r.status === 'accepted' ? undefined : JSON.stringify(r);
    }));
  return {
    slots,
    caughtUp: (seq) => until(() => slots.every((s) => s.lastGlobalSeq >= seq), ROUND_TIMEOUT_MS),
    begin(round, onGenerating) {
      clients.forEach((c, i) => {
        const s = slots[i]!;
        s.reset(round, `g${round}`);
        c.send({ type: 'begin_generation', req_id: s.reqId, context_seq: c.viewSeq });
        // Frames of one connection are handled in order: the Pong says the generation is open on the server.
        void c.next((m) => m.type === 'pong' && m.client_time === round + 1, ROUND_TIMEOUT_MS).then(() => {
          s.generating = true;
          onGenerating(s);
        }, () => {});
        c.send({ type: 'ping', client_time: round + 1 });
      });
    },
    closes: () => Promise.resolve([]),
    async close() {
      for (const c of clients) c.ws.close();
    },
  };
}

let driver: Driver | undefined;
let index = -1;

async function start(cfg: WorkerConfig): Promise<void> {
  index = cfg.index;
  agentCount = cfg.agents.length;
  // tsx turns on source-mapped stack traces; a deployed agent runs compiled JavaScript without them, and Node's
  // stream teardown reads err.stack on every aborted HTTP request, so they would add to each cancel here.
  process.setSourceMapsEnabled(false);
  const tokenFor = (agent: string): Promise<string> => mintAgentToken(cfg.secret, { tenant: cfg.tenant, world: cfg.worldId, agent });
  let providerUrl: string | undefined;
  if (withModels(cfg.mode)) {
    const d = await sdkDriver(cfg, tokenFor);
    providerUrl = d.providerUrl;
    driver = d;
  } else driver = await rawDriver(cfg, tokenFor);
  send({ type: 'ready', index, clockOffsetMs: clockOffset(), providerUrl });
}

async function round(r: number, catchUpSeq: number): Promise<void> {
  const d = driver!;
  await d.caughtUp(catchUpSeq);
  let generating = 0;
  burst.reset();
  d.begin(r, () => {
    if (++generating === d.slots.length) send({ type: 'generating', index, round: r });
  });
  await until(() => d.slots.every((s) => s.done), ROUND_TIMEOUT_MS);
  const closes = await d.closes(r);
  send({ type: 'done', index, round: r, samples: d.slots.map((s) => s.sample()), closes, burst: burst.report() });
}

const fail = (err: unknown): void => {
  send({ type: 'fatal', index, message: (err as Error).stack ?? String(err) });
};

process.on('message', (m: ToWorker) => {
  if (m.type === 'start') start(m.cfg).catch(fail);
  else if (m.type === 'round') round(m.round, m.catchUpSeq).catch(fail);
  else void (driver?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
