/** Messages between the load runner and its worker processes (child_process.fork IPC, structured clone). */
import type { Subprotocol } from '../../server/protocol/index.js';

export interface WorkerConfig {
  readonly index: number;
  /** ws://127.0.0.1:PORT/v1/worlds/{worldId}/ws */
  readonly url: string;
  /** http://127.0.0.1:PORT */
  readonly httpBase: string;
  readonly worldId: string;
  readonly tenant: string;
  readonly codec: Subprotocol;
  /** One entry per client this worker drives. */
  readonly clients: ReadonlyArray<{ readonly agent: string; readonly localAddress: string }>;
  /** The server's HS256 secret (text), to mint agent and admin tokens. */
  readonly secret: string;
  readonly radius: number;
  readonly moveHz: number;
  readonly maxStep: number;
  /**
   * This worker pings (rotating over its clients) to map ticks to wall time: a background ping every
   * `pingEveryMs`, plus a burst at 1 ms spacing around each predicted tick start. Only one worker needs to.
   */
  readonly clockPinger: boolean;
  readonly pingEveryMs: number;
  /** Correctness samples: one client's view against the server's every this many ms (0: none). */
  readonly sampleEveryMs: number;
  /** BeginGeneration + CancelIntent every this many ms (0: none). */
  readonly cancelEveryMs: number;
  readonly tickMs: number;
  readonly connectConcurrency: number;
  readonly connectTimeoutMs: number;
  /** All of this worker's clients on one WebSocket, each on its own channel (docs/protocol.md "Channels"). */
  readonly channels?: boolean;
}

export type ToWorker =
  | { readonly type: 'start'; readonly cfg: WorkerConfig }
  /** Epoch ms: measuring starts at warmupEnd, ends at measureEnd; loads stop and results are due at stopAt. */
  | { readonly type: 'go'; readonly warmupEnd: number; readonly measureEnd: number; readonly stopAt: number }
  /** Every worker's pongs merged: the tick clock each worker resolves its deliveries against. */
  | { readonly type: 'clock'; readonly serverTimes: readonly number[]; readonly simTimes: readonly number[] }
  | { readonly type: 'exit' };

export interface WorkerResult {
  readonly index: number;
  readonly clients: number;
  /** Encoded hdr histograms (µs). */
  readonly delivery: string;
  readonly rtt: string;
  readonly cancel: string;
  readonly bracketWidth: string;
  readonly deliveries: number;
  /** Deliveries in the window whose tick had no pong bracket (not in the histogram). */
  readonly unresolved: number;
  readonly messages: number;
  readonly bytes: number;
  readonly intentsSent: number;
  readonly intentResults: Readonly<Record<string, number>>;
  readonly intentsUnanswered: number;
  readonly errorFrames: Readonly<Record<string, number>>;
  readonly viewErrors: Readonly<Record<string, number>>;
  readonly radiusViolations: number;
  readonly snapshots: number;
  readonly closes: number;
  readonly samples: { readonly correct: number; readonly incorrect: number; readonly lagging: number; readonly failedFetch: number; readonly examples: readonly string[] };
  readonly cpuPercent: number;
  readonly pongs: number;
  /** Generations the world cancelled as stale before the client's cancel (not cancel-to-halt samples). */
  readonly staleAtBegin: number;
}

export type FromWorker =
  | { readonly type: 'ready'; readonly index: number; readonly connected: number; readonly failed: number; readonly firstError?: string }
  | { readonly type: 'pongs'; readonly index: number; readonly serverTimes: readonly number[]; readonly simTimes: readonly number[] }
  | { readonly type: 'result'; readonly result: WorkerResult }
  | { readonly type: 'fatal'; readonly index: number; readonly message: string };
