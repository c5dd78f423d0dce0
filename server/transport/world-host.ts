/**
 * One hosted world: its log, its runtime, its tick loop, and the fan-out of each quantum's deltas to the sessions
 * watching each agent. Each distinct change is encoded once per codec family per quantum (FragmentCache) and every
 * session's frame is assembled from those shared pieces. A bounded history of each agent's recent deltas serves
 * resuming clients (past that window they get a snapshot); at start it is rebuilt from the log's tail, so clients
 * connected before a restart resume too. A world whose log refused a write stops (fail); once the log takes writes
 * again its owner reopens it (reopen): a new host on the same log, rebuilt as a restart would rebuild it.
 */
import path from 'node:path';
import fs from 'node:fs';
import { WorldRuntime, fragmentRange, newFragmentRange, type DeltaFragment, type FragmentTable, type ObservationDelta, type WorldDefinition } from '../core/index.js';
import { openLog, type EventLog, type FileLayer } from '../log/index.js';
import { BinaryTable, FragmentCache, FrameScratch, Subprotocol, createWorldCodecs, type DeltaHeader, type EncodedFragment, type Frame, type ServerMessage, type WireCodec, type WireSession, type WorldCodecs } from '../protocol/index.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import type { BucketSeries } from '../obs/bucket-histogram.js';
import { WorldlineError, isWorldlineError } from '../errors.js';
import { EngineLink, type EngineDisconnectPolicy } from './engine.js';
import { ResumeHistory, type DeltaBody, type ResumePlan } from './resume-history.js';
import { worldsDir } from './world-registry.js';
import { readConfigFile } from '../config.js';

/** What the host needs from a connection to deliver to it. */
export interface Subscriber {
  readonly agentId: string;
  readonly codec: WireCodec;
  readonly wire: WireSession;
  /**
   * The view_seq the client's view already reflects when it joined: its snapshot may include a quantum whose
   * delta is still waiting for durability, and that delta must then not be sent again.
   */
  readonly baseViewSeq: number;
  /** Sends a frame; returns false when the socket is gone or over its buffer limit (it will be closed). */
  send(frame: Frame): boolean;
  /** Frames held back to ride with this subscriber's next delta (see WorldHost.hold), taken by the fan-out. */
  takeHeld?(): Frame[] | undefined;
  /** Sends frames in one write where the socket can (send() each otherwise); false as for send(). */
  sendMany?(frames: readonly Frame[]): boolean;
  /** send() has copied the frame's bytes when it returns (so a frame may be a view into a reused buffer). */
  readonly copiesFrames?: boolean;
}

export interface WorldHostOptions {
  readonly world: WorldDefinition;
  readonly worldId: string;
  readonly tenant: string;
  readonly dataDir: string;
  readonly durability: 'always' | 'batch' | 'none';
  readonly segmentBytes: number;
  readonly tickMs: number;
  /** Deltas kept per agent for resume (default 200: 10 s at 20 Hz). */
  readonly resumeWindow?: number;
  /**
   * Log records at the end of the log whose deltas are rebuilt at start into the resume history (default
   * DEFAULT_RESUME_TAIL; 0: none, clients connected before a restart then get a snapshot).
   */
  readonly resumeTail?: number;
  /**
   * What the log keeps (default 'all': every record). 'snapshots': after each snapshot is written (and once at open),
   * the segments wholly before the older of the two kept snapshots are deleted (EventLog.compact), so a world that
   * runs for ever needs bounded disk; a restart, resume and replay then start at a kept snapshot.
   */
  readonly logRetention?: 'all' | 'snapshots';
  readonly checkpointKeyFile?: string;
  readonly checkpointEvery?: number;
  /** When the engine disconnects: pause the world (default) or continue on the wall-clock timer. */
  readonly engineDisconnect?: EngineDisconnectPolicy;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * The log of this world, failed after a refused write, takes writes again (its probe succeeded): the owner may
   * now replace the host with reopen(). Called at most once per time the log turns writable again.
   */
  readonly onLogWritable?: () => void;
  /** @internal The log's file layer and disk probe interval (tests inject a full disk). */
  readonly logIo?: { readonly files?: FileLayer; readonly probeIntervalMs?: number };
}

/**
 * Where the log's events go: the host using the log now. A reopened world's new host takes the log over from the
 * failed one, but the log's event callback was fixed when it was opened.
 */
interface LogOwner {
  host: WorldHost | undefined;
}

/**
 * The log directory's size by kind of file, read without blocking the event loop (a year of 64 MiB segments is
 * tens of thousands of files). Segment files other than the newest never change once written: their sizes are kept
 * by name and forgotten when compaction deletes them.
 */
class DiskUsage {
  private readonly sealed = new Map<string, number>();

  constructor(private readonly dir: string) {}

  async read(): Promise<{ segments: number; snapshots: number }> {
    return { segments: await this.sum('segments', true), snapshots: await this.sum('snapshots', false) };
  }

  private async sum(sub: string, cache: boolean): Promise<number> {
    const dir = path.join(this.dir, sub);
    let names: string[];
    try {
      names = await fs.promises.readdir(dir);
    } catch {
      return 0;
    }
    const newest = names.filter((n) => n.endsWith('.wlseg')).sort().pop();
    const listed = new Set(names);
    let total = 0;
    for (const n of names) {
      const keep = cache && n !== newest;
      let size = keep ? this.sealed.get(n) : undefined;
      if (size === undefined) {
        try {
          size = (await fs.promises.stat(path.join(dir, n))).size;
        } catch {
          continue; // compacted between the listing and the stat
        }
        if (keep) this.sealed.set(n, size);
      }
      total += size;
    }
    if (cache) for (const n of this.sealed.keys()) if (!listed.has(n)) this.sealed.delete(n);
    return total;
  }
}

/**
 * Records rebuilt into the resume history at start. The history keeps at most 200 deltas per agent, a quantum each:
 * 20,000 records hold them for worlds with up to ~100 records per quantum (an agent resuming after a restart has
 * usually missed only the last few quanta before it), and bound the extra replay at start to 80,000 records.
 */
export const DEFAULT_RESUME_TAIL = 20_000;

/**
 * Timer ticks that may be committing or delivering at once: one delivering while the next computes keeps the tick
 * rate through a slow fsync; beyond that a tick is skipped (worldline_tick_overruns_total).
 */
const MAX_TICKS_IN_FLIGHT = 2;
/** At shutdown, quanta run until no intent waits, at most this many (each takes up to maxIntentsPerQuantum). */
const MAX_SHUTDOWN_QUANTA = 1000;

/** A hosted world's data folder (its log, snapshots and, for one created at runtime, created.json): DATA/worlds/ID. */
export function worldDataDir(dataDir: string, worldId: string): string {
  return path.join(worldsDir(dataDir), worldId);
}

/** Sends frames to a subscriber in one write where it can; false when any was not sent. */
function sendAll(s: Subscriber, frames: readonly Frame[]): boolean {
  if (s.sendMany) return s.sendMany(frames);
  let ok = true;
  for (const f of frames) ok = s.send(f) && ok;
  return ok;
}

export class WorldHost {
  readonly runtime: WorldRuntime;
  readonly codecs: WorldCodecs;
  private readonly subs = new Map<string, Set<Subscriber>>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly caches: Map<Subprotocol, FragmentCache>;
  /** Frames for subscribers whose send copies them are assembled here (see FrameScratch). */
  private readonly scratch = new FrameScratch();
  /** encodeDelta's list of a delta's encoded fragments, reused. */
  private readonly encoded: EncodedFragment[] = [];
  /** encodeDelta's frame header, reused. */
  private readonly header: { -readonly [K in keyof DeltaHeader]-?: DeltaHeader[K] } = { view_seq: 0, from_seq: 0, context_digest: '', global_seq: 0, sim_time: 0, server_time: 0 };
  /** encodeDelta's view of a delta's fragments, reused. */
  private readonly range = newFragmentRange();
  private timer: NodeJS.Timeout | undefined;
  /** Quanta delivered whose fan-out has not run yet. */
  private delivering = 0;
  private readonly held = new Set<Subscriber>();
  /** While a quantum runs (synchronously, inside tick()): when it began, ms since the epoch, sub-ms. */
  private quantumStartedAt: number | undefined;
  /** Timer ticks started and not yet delivered. */
  private ticksInFlight = 0;
  private overrunLogged = 0;
  private failed: Error | undefined;
  private closing = false;
  /** Replaced by a host reopened on the same log (reopen): the log is that host's now, and close() leaves it be. */
  private retired = false;
  readonly engine: EngineLink;

  private constructor(readonly opts: WorldHostOptions, readonly log: EventLog, runtime: WorldRuntime, private readonly history: ResumeHistory, private readonly owner: LogOwner) {
    this.runtime = runtime;
    // A failed append outside a tick (an agent's registration) stops the world at once, not at the next tick.
    runtime.onFailure((err) => this.fail(err));
    this.queueDepth = opts.metrics.queueDepth.labels('intents', opts.worldId);
    this.codecs = createWorldCodecs();
    // The binary codecs share the world's path table, so one binary fragment serves msgpack and proto sessions alike:
    // one cache for both, so a change is encoded once per tick for all binary sessions, not once per codec.
    const binary = new FragmentCache(this.codecs[Subprotocol.PROTO]);
    this.caches = new Map<Subprotocol, FragmentCache>([
      [Subprotocol.JSON, new FragmentCache(this.codecs[Subprotocol.JSON])],
      [Subprotocol.MSGPACK, binary],
      [Subprotocol.PROTO, binary],
    ]);
    this.engine = new EngineLink({
      tick: () => this.tick().catch((err: unknown) => { this.fail(err); throw err; }),
      emit: async (kind, payload) => {
        const r = await this.runtime.emit({ kind, payload, source_id: 'engine' });
        return r.status === 'committed' ? { status: 'committed' as const } : { status: 'rejected' as const, message: r.error.message };
      },
      positionOf: (id) => {
        const e = this.runtime.entity(id);
        return e && typeof e['x'] === 'number' && typeof e['y'] === 'number' ? { x: e['x'], y: e['y'] } : undefined;
      },
      setWallClock: (running) => (running ? this.start() : this.stop()),
      broadcastError: (err) => this.broadcast(err),
    }, opts.engineDisconnect ?? 'pause');
    runtime.onDelivery((d) => {
      // The quantum's submitters are answered right after this listener (their continuations are microtasks): the
      // fan-out waits two microtask turns for them, and a session's IntentResults then leave in the same socket
      // write as its delta (one write per session per tick instead of two), after the delta as before.
      this.delivering++;
      queueMicrotask(() =>
        queueMicrotask(() => {
          const t0 = performance.now();
          try {
            this.fanOut(d.deltas);
          } finally {
            this.delivering--;
            this.flushHeld();
            if (this.delivering === 0 && this.fannedOut.length > 0) for (const fn of this.fannedOut.splice(0)) fn();
          }
          opts.metrics.fanOutSeconds.observe((performance.now() - t0) / 1000);
        }),
      );
      this.engine.onEffects(d.effects);
      this.queueDepth.set(runtime.pendingIntents);
    });
  }

  private readonly deliveryChildren = new Map<Subprotocol, BucketSeries>();
  /** This world's intent queue depth gauge (resolved once). */
  private readonly queueDepth: { set(v: number): void };

  /** The delivery histogram's series for a codec (resolved once). */
  private deliveryHist(codec: Subprotocol): BucketSeries {
    let h = this.deliveryChildren.get(codec);
    if (!h) this.deliveryChildren.set(codec, (h = this.opts.metrics.deliverySeconds.labels(codec)));
    return h;
  }

  /** Sends an Error frame to every session of this world (e.g. the engine went away). */
  broadcast(err: WorldlineError): void {
    for (const set of this.subs.values()) {
      for (const s of set) s.send(s.codec.encodeServer({ type: 'error', ...err.toJSON(), details: err.details as Record<string, never> }, s.wire));
    }
  }

  /** Opens (recovering) the world's log, restores the runtime and starts the tick loop. */
  static async open(given: WorldHostOptions): Promise<WorldHost> {
    // Every line this world (and its sessions, through opts.logger) logs names it: a server may host several.
    const opts: WorldHostOptions = { ...given, logger: given.logger.child({ world: given.worldId }) };
    const dir = worldDataDir(opts.dataDir, opts.worldId);
    const m = opts.metrics;
    // Snapshots are written by the runtime, after open returns: each one lets the log drop what it makes redundant.
    const owner: LogOwner = { host: undefined };
    const log = await openLog(dir, {
      create: { worldId: opts.worldId, worldSeed: opts.world.seed },
      durability: opts.durability,
      segmentBytes: opts.segmentBytes,
      ...(opts.checkpointKeyFile ? { checkpoint: { privateKey: readConfigFile('checkpointKeyFile', opts.checkpointKeyFile), everyRecords: opts.checkpointEvery ?? 10_000 } } : {}),
      onSyncSeconds: (s) => m.logSyncSeconds.observe(s),
      onAppendSeconds: (s) => m.logAppendSeconds.observe(s),
      ...(opts.logIo?.files ? { files: opts.logIo.files } : {}),
      ...(opts.logIo?.probeIntervalMs !== undefined ? { probeIntervalMs: opts.logIo.probeIntervalMs } : {}),
      onEvent: (event, details) => {
        opts.logger.info({ event, ...details }, `log ${event}`);
        if (event === 'snapshot-written') owner.host?.compact();
        if (event === 'writable-again') owner.host?.logWritable();
      },
    });
    try {
      const host = await WorldHost.restore(opts, log, owner);
      const disk = new DiskUsage(dir);
      m.logDiskBytes.set(opts.worldId, () => disk.read());
      opts.logger.info({ lastSeq: log.lastSeq, globalSeq: host.runtime.lastGlobalSeq, restoredDeltas: host.restoredDeltas }, 'world open');
      return host;
    } catch (err) {
      await log.close();
      throw err;
    }
  }

  /** Deltas of the log's tail rebuilt into the resume history at open. */
  private restoredDeltas = 0;

  /**
   * A running host on an open log: the runtime restored from its newest snapshot and the records after it (the
   * idempotency index with them), the resume history rebuilt from its tail, the tick loop started. What a restart
   * does once the log is open; reopen() does it again on the same log.
   */
  private static async restore(opts: WorldHostOptions, log: EventLog, owner: LogOwner): Promise<WorldHost> {
    // The deltas of the log's tail, rebuilt as the quanta delivered them, go into the history live deltas extend.
    const history = new ResumeHistory(opts.resumeWindow ?? 200);
    let restoredDeltas = 0;
    const runtime = await WorldRuntime.open({
      world: opts.world, log, clock: { now: Date.now }, resumeTail: opts.resumeTail ?? DEFAULT_RESUME_TAIL,
      onSnapshotError: (err) => opts.logger.warn({ err }, 'periodic snapshot not written; the log holds every record, and the next snapshot is tried after snapshotEvery more effects'),
      onRestoredDeltas: (deltas) => {
        restoredDeltas += deltas.length;
        for (const d of deltas) history.record(d);
      },
    });
    const host = new WorldHost(opts, log, runtime, history, owner);
    host.restoredDeltas = restoredDeltas;
    owner.host = host;
    // A log kept whole until now (the policy just turned on) is cut back at once, not at the next snapshot.
    host.compact();
    host.start();
    return host;
  }

  /**
   * A new host for this failed world, on the same log once it takes writes again: the runtime is rebuilt from the
   * log as at a restart, so it holds exactly what the log holds (an intent acknowledged before the failure keeps its
   * global_seq; one answered LOG_WRITE_FAILED was never committed) and seqs go on contiguously. This host is then
   * retired (its sessions must be closed by the caller: they belong to the old runtime); if the rebuild fails it
   * stays as it was, failed, and may be reopened again later.
   */
  async reopen(): Promise<WorldHost> {
    if (!this.failed || this.closing) throw new WorldlineError('LOG_CLOSED', `world ${this.opts.worldId} is ${this.closing ? 'closing' : 'not failed'}: only a failed world is reopened`);
    const host = await WorldHost.restore(this.opts, this.log, this.owner);
    this.retire();
    return host;
  }

  /** Stops this host for good without closing the log, which a reopened host now uses. */
  private retire(): void {
    this.retired = true;
    this.closing = true;
    this.stop();
    this.releaseWaiters();
  }

  /** The log took a write again: a failed world may be reopened (by its owner, see WorldHostOptions.onLogWritable). */
  private logWritable(): void {
    if (this.failed && !this.closing) this.opts.onLogWritable?.();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    if (this.timer || this.failed || this.closing) return;
    this.timer = setInterval(() => {
      // Overloaded (ticks take longer than tickMs to commit and deliver): skip this tick rather than queue it. The
      // world then runs slower than the clock, but delivery latency stays bounded instead of growing without end.
      if (this.ticksInFlight >= MAX_TICKS_IN_FLIGHT) {
        this.opts.metrics.tickOverruns.inc({ world: this.opts.worldId });
        if (this.overrunLogged++ % 100 === 0) this.opts.logger.warn({ ticksInFlight: this.ticksInFlight, skipped: this.overrunLogged }, 'tick skipped: the previous ticks are still being committed or delivered (server overloaded)');
        return;
      }
      this.ticksInFlight++;
      this.tick().then(
        () => this.ticksInFlight--,
        (err: unknown) => {
          this.ticksInFlight--;
          this.fail(err);
        },
      );
    }, this.opts.tickMs);
  }

  /**
   * The server_time of a Cancelled frame sent now (ms since the epoch, sub-ms): the start of the quantum running, as
   * a commit's cancels are sent from inside it (for the events it commits, their wall_time at full precision), else
   * the present.
   */
  cancelTime(): number {
    return this.quantumStartedAt ?? performance.timeOrigin + performance.now();
  }

  /** One tick: the quantum runs synchronously inside runtime.tick(), so its time is measured around the call. */
  private tick(): Promise<unknown> {
    const t0 = performance.now();
    this.quantumStartedAt = performance.timeOrigin + t0;
    let p: Promise<unknown>;
    try {
      p = this.runtime.tick();
    } finally {
      this.quantumStartedAt = undefined;
    }
    this.opts.metrics.quantumSeconds.observe((performance.now() - t0) / 1000);
    return p;
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = err as Error;
    this.stop();
    if (isWorldlineError(err, 'WORLD_SYSTEM_FAILED')) {
      // The world's own code failed, not its log, so no reopen will come: the runtime fails too, and the intents
      // waiting for a tick, and those sent from now on, are refused with this error instead of never answered.
      this.runtime.fail(err);
      this.opts.logger.fatal({ err, lastSeq: this.log.durableSeq }, "world stopped: one of its systems failed (err names it); its log is intact. Fix the world's code and restart the server");
      return;
    }
    this.opts.logger.fatal({ err, lastSeq: this.log.durableSeq }, 'world failed: the log refused a write; stopping the tick loop until the log takes writes again, then the world is reopened from the log');
  }

  /** True while a quantum's deltas are about to be fanned out: small frames may wait for them (hold). */
  get collecting(): boolean {
    return this.delivering > 0;
  }

  /** A subscriber has frames waiting for its delta: they are sent with it, or on their own right after the fan-out. */
  hold(s: Subscriber): void {
    this.held.add(s);
  }

  private flushHeld(): void {
    if (this.held.size === 0) return;
    for (const s of this.held) {
      const frames = s.takeHeld?.();
      if (frames && frames.length > 0) sendAll(s, frames);
    }
    this.held.clear();
  }

  /** Called when the last pending fan-out has run (see caughtUp). */
  private fannedOut: Array<() => void> = [];

  /**
   * Resolves once every quantum committed so far has been fanned out, so its deltas are in the resume history. The
   * core's views (runtime.observe) run ahead of delivery by the quanta waiting for durability: a view read right
   * after this is one the history can resume from, and one whose records are durable.
   */
  async caughtUp(): Promise<void> {
    await this.runtime.settle();
    // A delivered quantum's fan-out runs two microtask turns after its listener (see the constructor).
    if (this.delivering > 0) await new Promise<void>((resolve) => this.fannedOut.push(resolve));
  }

  /** Starts delivering an agent's deltas to a subscriber. */
  subscribe(s: Subscriber): () => void {
    let set = this.subs.get(s.agentId);
    if (!set) this.subs.set(s.agentId, (set = new Set()));
    set.add(s);
    this.opts.metrics.sessions.inc({ codec: s.codec.subprotocol, world: this.opts.worldId });
    return () => {
      if (set.delete(s)) this.opts.metrics.sessions.dec({ codec: s.codec.subprotocol, world: this.opts.worldId });
      if (set.size === 0) this.subs.delete(s.agentId);
    };
  }

  /** The deltas taking an agent's view from `viewSeq` to now, if still held; else a snapshot is needed. */
  resumePlan(agentId: string, viewSeq: number): ResumePlan {
    // Catch up to what has been delivered: a quantum still waiting for durability reaches the session through the
    // normal fan-out right after, starting exactly where these deltas end.
    return this.history.plan(agentId, viewSeq, () => this.runtime.observe(agentId));
  }

  /** Encodes one delta for one subscriber (shared fragments come from this quantum's cache). */
  encodeDelta(s: Subscriber, d: DeltaBody, cache?: FragmentCache): Frame {
    if (d.snapshot) {
      const root = d.fragments[0]?.ops[0];
      const view = root && root.op !== 'remove' ? root.value : { entities: {} };
      const msg: ServerMessage = { type: 'snapshot', view_seq: d.view_seq, view, context_digest: d.context_digest };
      return s.codec.encodeServer(msg, s.wire);
    }
    // One header object, refilled for each frame (assembleDelta reads it and keeps nothing).
    const header = this.header;
    header.view_seq = d.view_seq;
    header.from_seq = d.from_seq;
    header.context_digest = d.context_digest;
    header.global_seq = d.global_seq;
    header.sim_time = d.sim_time;
    header.server_time = Math.round(d.wall_time);
    const scratch = s.copiesFrames === true ? this.scratch : undefined;
    const { table, idx, store, start, count } = fragmentRange(d, this.range);
    const codec = s.codec;
    if (table !== undefined && codec.assembleDeltaTable !== undefined) {
      // Listed by number in their flush's table: the binary encodings live in arrays beside it (one per table for
      // both binary codecs, which share the world's paths), read by number.
      return codec.assembleDeltaTable(s.wire, header, this.binaryTable(table), idx as Int32Array, start, count, scratch);
    }
    const c = cache ?? (this.caches.get(codec.subprotocol) as FragmentCache);
    // The list is only ever grown: shrinking it to each delta's length would free and regrow its storage.
    const enc = this.encoded;
    if (table !== undefined) {
      const frags = table.frags;
      const ix = idx as Int32Array;
      for (let i = 0; i < count; i++) enc[i] = c.get(frags[ix[start + i] as number] as DeltaFragment);
    } else for (let i = 0; i < count; i++) enc[i] = c.get(store[start + i] as DeltaFragment);
    return codec.assembleDelta(s.wire, header, enc, scratch, count);
  }

  /** The binary encodings of a flush's fragments, made on first use and kept in the table's binary slot. */
  private binaryTable(table: FragmentTable): BinaryTable {
    let bt = table.wire[1] as BinaryTable | undefined;
    if (bt === undefined) table.wire[1] = bt = new BinaryTable(this.codecs[Subprotocol.PROTO].paths as NonNullable<WireCodec['paths']>, table.frags);
    return bt;
  }

  private fanOut(deltas: readonly ObservationDelta[]): void {
    // Delivery is timed to each frame's hand-over: the wall clock at the start (wall_time is the commit's, in ms) plus
    // the time into the fan-out, which at a thousand sessions is itself many milliseconds.
    const now = Date.now();
    const t0 = performance.now();
    this.history.endQuantum();
    for (const d of deltas) {
      this.history.record(d);
      const w = this.waiters.get(d.agent_id);
      if (w) {
        this.waiters.delete(d.agent_id);
        for (const fn of w) fn();
      }
      const set = this.subs.get(d.agent_id);
      if (!set) continue;
      for (const s of set) {
        if (d.view_seq <= s.baseViewSeq) continue;
        const frame = this.encodeDelta(s, d, this.caches.get(s.codec.subprotocol));
        const held = s.takeHeld?.();
        if (held !== undefined && held.length > 0 ? sendAll(s, [frame, ...held]) : s.send(frame)) {
          this.deliveryHist(s.codec.subprotocol).observe(Math.max(0, now - d.wall_time + performance.now() - t0) / 1000);
        }
      }
    }
  }

  /** Long polls waiting now for a delivery to `agentId` (waitForDelivery). */
  pollsWaiting(agentId: string): number {
    return this.waiters.get(agentId)?.size ?? 0;
  }

  /**
   * This incarnation of the world: its log's id, the same across restarts and reopens, another once the world is
   * deleted with purge and created again under its id (Welcome.incarnation; a resume naming another gets a snapshot).
   */
  get incarnation(): string {
    return this.log.meta.logId;
  }

  /** Long polls waiting now on this world, for any agent: presence, like an open socket (idle deletion). */
  get longPollsWaiting(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }

  /** Resolves at the next delivery to agentId, after timeoutMs, or when `signal` aborts (long polling). */
  waitForDelivery(agentId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      let set = this.waiters.get(agentId);
      if (!set) this.waiters.set(agentId, (set = new Set()));
      const waiters = set;
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        waiters.delete(done);
        if (waiters.size === 0 && this.waiters.get(agentId) === waiters) this.waiters.delete(agentId);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      // A long poll whose client went away stops waiting now, not when its timeout ends.
      signal?.addEventListener('abort', done, { once: true });
      waiters.add(done);
    });
  }

  get healthy(): boolean {
    return this.failed === undefined;
  }

  /** True once a host reopened on the same log replaced this one (reopen): ask the world set for the current host. */
  get replaced(): boolean {
    return this.retired;
  }

  /** True once close() has begun, or the host was replaced: nothing more will be delivered. */
  get isClosing(): boolean {
    return this.closing;
  }

  /** The compactions under way, one after another (never rejects). */
  private compacting: Promise<void> = Promise.resolve();

  /** Under logRetention 'snapshots': deletes the segments no kept snapshot needs, after any compaction under way. */
  private compact(): void {
    if (this.opts.logRetention !== 'snapshots') return;
    this.compacting = this.compacting.then(async () => {
      try {
        const removed = await this.log.compact();
        if (removed.length > 0) this.opts.metrics.logSegmentsCompacted.inc(removed.length);
      } catch (err) {
        this.opts.logger.warn({ err }, 'log compaction failed; the segments stay, and the next snapshot tries again');
      }
    });
  }

  /** Long polls waiting for a delivery answer now, not when their timeouts end. */
  private releaseWaiters(): void {
    for (const set of this.waiters.values()) for (const fn of [...set]) fn();
    this.waiters.clear();
  }

  /** Stops the tick loop, commits what is queued, snapshots, and closes the log (nothing for a host replaced by reopen()). */
  async close(): Promise<void> {
    if (this.retired) return;
    this.closing = true;
    this.stop();
    // Long polls waiting answer now (their timeouts kept them, and the process, alive for up to a minute after shutdown).
    this.releaseWaiters();
    if (!this.failed) {
      // Intents still queued (the tick timer stopped before their quantum, or the world was paused for its engine) and
      // effects emitted meanwhile commit now, as docs/server.md "Shutdown" says, at a deletion as at a shutdown: their
      // submitters get their outcome (and retries after a restart the same one). A quantum takes at most
      // maxIntentsPerQuantum: flush while the queue shrinks, at most MAX_SHUTDOWN_QUANTA times.
      for (let i = 0, left = this.runtime.pendingIntents; i < MAX_SHUTDOWN_QUANTA && left > 0; i++) {
        await this.runtime.flush().catch(() => {});
        if (this.runtime.pendingIntents >= left) break;
        left = this.runtime.pendingIntents;
      }
      await this.runtime.drain().catch(() => {});
      await this.runtime.snapshot().catch((err: unknown) => this.opts.logger.warn({ err }, 'final snapshot failed'));
    }
    await this.compacting;
    await this.log.close();
    this.opts.metrics.logDiskBytes.delete(this.opts.worldId);
    this.opts.metrics.queueDepth.remove('intents', this.opts.worldId);
    for (const codec of Object.keys(this.codecs)) this.opts.metrics.sessions.remove({ codec, world: this.opts.worldId });
    this.opts.metrics.tickOverruns.remove({ world: this.opts.worldId });
  }
}
