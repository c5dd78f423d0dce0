/**
 * Prometheus metrics (prom-client): default process metrics plus worldline_*. Labels are bounded sets (outcome,
 * code, reason, codec): never per agent or per session, so cardinality stays flat as worlds grow.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BucketHistogram } from './bucket-histogram.js';

/** Sub-millisecond resolution where delivery lives, up to a second for the tail. */
const DELIVERY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** A tick's work: from a tenth of a millisecond to past a 50 ms tick. */
const TICK_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1];
const IO_BUCKETS = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1];

export interface Metrics {
  readonly registry: Registry;
  /** Observed per frame (a BucketHistogram: prom-client's observe costs too much at a thousand frames a tick). */
  readonly deliverySeconds: BucketHistogram<'codec'>;
  readonly intents: Counter<'outcome'>;
  /** The children of `intents`, resolved once (the per-intent path then skips prom-client's label hashing). */
  readonly intentOutcome: Readonly<Record<'accepted' | 'duplicate' | 'rejected' | 'cancelled', { inc(): void }>>;
  /** Synchronous time of each quantum: validation, apply, observation and its deltas. */
  readonly quantumSeconds: Histogram;
  /** Time to encode one quantum's deltas and hand them to the sockets. */
  readonly fanOutSeconds: Histogram;
  /** Timer ticks skipped because the previous ticks were still committing or delivering, by world (which one lags). */
  readonly tickOverruns: Counter<'world'>;
  readonly rejections: Counter<'code'>;
  readonly cancels: Counter<'reason'>;
  readonly staleContext: Counter;
  /** By queue and world (a server may host several). */
  readonly queueDepth: Gauge<'queue' | 'world'>;
  readonly backpressureCloses: Counter;
  readonly logAppendSeconds: Histogram;
  readonly logSyncSeconds: Histogram;
  /** Segments deleted by compaction (logRetention 'snapshots'). */
  readonly logSegmentsCompacted: Counter;
  /** Where worldline_log_disk_bytes reads each world's log directory size from at each scrape (set by its world host). */
  readonly logDiskBytes: Map<string, () => Promise<{ segments: number; snapshots: number }>>;
  /** Open sessions by codec and world. */
  readonly sessions: Gauge<'codec' | 'world'>;
  /** Hosted worlds by origin: configured (config, code) or created (at runtime). */
  readonly worlds: Gauge<'origin'>;
  /** WebSocket upgrades refused with an HTTP answer, by error code name (of the catalogue: a bounded set). */
  readonly upgradesRefused: Counter<'code'>;
  readonly securityEvents: Counter<'event'>;
  readonly framesSent: Counter<'codec'>;
  readonly bytesSent: Counter<'codec'>;
  /**
   * Frames and bytes sent per codec, counted in plain numbers on the per-frame path and added to framesSent and
   * bytesSent when they are read (a scrape): prom-client's inc hashes its labels into a new string every call, two per
   * frame, tens of thousands a second at 1,000 clients.
   */
  sent(codec: string): SentCount;
}

/** Frames and bytes sent since the last scrape (Metrics.sent). */
export interface SentCount {
  frames: number;
  bytes: number;
}

const children = new WeakMap<object, Map<string, { inc(): void }>>();

/**
 * The child of a one-label counter for `value`, resolved once per (counter, value): incrementing it then skips
 * prom-client's label hashing. Use only for label values from a bounded set.
 */
export function counterChild(counter: Counter<string>, value: string): { inc(): void } {
  let m = children.get(counter);
  if (!m) children.set(counter, (m = new Map()));
  let c = m.get(value);
  if (!c) m.set(value, (c = counter.labels(value)));
  return c;
}

/** A fresh registry with every Worldline metric registered (one per server; tests make their own). */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const r = [registry];
  const intents = new Counter({ name: 'worldline_intents_total', help: 'Intents by outcome', labelNames: ['outcome'] as const, registers: r });
  const pendingSent = new Map<string, SentCount>();
  /** A counter by codec that takes in, at each scrape, one field of the plain per-codec counts `sent` hands out. */
  const sentCounter = (name: string, help: string, field: keyof SentCount): Counter<'codec'> =>
    new Counter({
      name, help, labelNames: ['codec'], registers: r,
      collect() {
        for (const [codec, c] of pendingSent) {
          if (c[field] > 0) this.inc({ codec }, c[field]);
          c[field] = 0;
        }
      },
    });
  const m: Metrics = {
    logDiskBytes: new Map(),
    registry,
    intents,
    intentOutcome: { accepted: intents.labels('accepted'), duplicate: intents.labels('duplicate'), rejected: intents.labels('rejected'), cancelled: intents.labels('cancelled') },
    quantumSeconds: new Histogram({ name: 'worldline_quantum_seconds', help: 'Synchronous time of each quantum: validation, apply, observation and deltas', buckets: TICK_BUCKETS, registers: r }),
    tickOverruns: new Counter({ name: 'worldline_tick_overruns_total', help: 'Ticks skipped because the previous ticks were still being committed or delivered (the server is overloaded), by world', labelNames: ['world'], registers: r }),
    fanOutSeconds: new Histogram({ name: 'worldline_fanout_seconds', help: 'Time to encode one quantum\'s deltas and hand them to the sockets', buckets: TICK_BUCKETS, registers: r }),
    deliverySeconds: new BucketHistogram({ name: 'worldline_observation_delivery_seconds', help: 'From effect commit to the observation frame handed to the socket', labelName: 'codec', buckets: DELIVERY_BUCKETS, registers: r }),
    rejections: new Counter({ name: 'worldline_intent_rejections_total', help: 'Rejected intents by error code name', labelNames: ['code'], registers: r }),
    cancels: new Counter({ name: 'worldline_cancels_total', help: 'Generation cancels by reason', labelNames: ['reason'], registers: r }),
    staleContext: new Counter({ name: 'worldline_stale_context_total', help: 'Intents rejected as STALE_CONTEXT (rate() gives the stale-context rate)', registers: r }),
    queueDepth: new Gauge({ name: 'worldline_queue_depth', help: 'Items waiting in a queue', labelNames: ['queue', 'world'], registers: r }),
    backpressureCloses: new Counter({ name: 'worldline_backpressure_closes_total', help: 'Sockets closed because their send buffer passed the limit', registers: r }),
    logAppendSeconds: new Histogram({ name: 'worldline_log_append_seconds', help: 'Per group commit: from its first append to its durable acknowledgement (the longest wait in the group)', buckets: IO_BUCKETS, registers: r }),
    logSyncSeconds: new Histogram({ name: 'worldline_log_fsync_seconds', help: 'Duration of each fsync/fdatasync of the log', buckets: IO_BUCKETS, registers: r }),
    logSegmentsCompacted: new Counter({ name: 'worldline_log_segments_compacted_total', help: 'Log segments deleted because no kept snapshot needs them (logRetention snapshots)', registers: r }),
    sessions: new Gauge({ name: 'worldline_sessions', help: 'Open sessions by codec and world', labelNames: ['codec', 'world'], registers: r }),
    worlds: new Gauge({ name: 'worldline_worlds', help: 'Hosted worlds by origin: configured (config or code) or created (at runtime, POST /v1/worlds)', labelNames: ['origin'], registers: r }),
    upgradesRefused: new Counter({ name: 'worldline_upgrades_refused_total', help: 'WebSocket upgrades refused with an HTTP answer, by error code (unknown world, starting or draining, no common subprotocol, a token or address refused)', labelNames: ['code'], registers: r }),
    securityEvents: new Counter({ name: 'worldline_security_events_total', help: 'Auth failures, rate-limit violations, quarantines, cross-tenant attempts', labelNames: ['event'], registers: r }),
    framesSent: sentCounter('worldline_frames_sent_total', 'Frames sent to clients', 'frames'),
    bytesSent: sentCounter('worldline_bytes_sent_total', 'Bytes sent to clients', 'bytes'),
    sent(codec: string): SentCount {
      let c = pendingSent.get(codec);
      if (!c) pendingSent.set(codec, (c = { frames: 0, bytes: 0 }));
      return c;
    },
  };
  new Gauge({
    name: 'worldline_log_disk_bytes',
    help: "Size of each world's log directory by kind of file (segments, snapshots), read at each scrape",
    labelNames: ['kind', 'world'] as const,
    registers: r,
    async collect() {
      const worlds = [...m.logDiskBytes];
      const sizes = await Promise.all(worlds.map(([, read]) => read()));
      this.reset();
      sizes.forEach((d, i) => {
        const world = worlds[i]![0];
        this.set({ kind: 'segments', world }, d.segments);
        this.set({ kind: 'snapshots', world }, d.snapshots);
      });
    },
  });
  return m;
}
