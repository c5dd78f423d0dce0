/**
 * What the cancel bench's processes share: the messages between bench/cancel.ts, its agent workers (worker.ts) and
 * its fake model provider (provider.ts) over child_process.fork IPC, the clock (clock.ts), and agent tokens.
 */
import { SignJWT } from 'jose';

export { clockOffset, epochOffset, stamp } from './clock.js';

/** An agent token signed with the server's HS256 secret (DATA/jwt-secret), valid for an hour. */
export async function mintAgentToken(secret: string, claims: { tenant: string; world: string; agent: string }): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...claims, role: 'agent' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(iat).setExpirationTime(iat + 3600).sign(new TextEncoder().encode(secret));
}

/** sdk: SDK agents, a socket each; link: SDK agents sharing one socket per worker (a Link); raw: bare protocol clients. */
export type Mode = 'sdk' | 'link' | 'raw';

/** Whether the mode runs SDK agents with model streams (sdk and link). */
export const withModels = (m: Mode): boolean => m !== 'raw';

export interface WorkerConfig {
  readonly index: number;
  /** sdk: the TypeScript SDK's act() streaming through openAIProvider, a socket per agent; link: the same on one shared socket per worker (adapters/client Link); raw: bare protocol clients (no SDK, no model). */
  readonly mode: Mode;
  readonly wsUrl: string;
  readonly worldId: string;
  readonly tenant: string;
  /** The server's HS256 secret (text), to mint this worker's agent tokens. */
  readonly secret: string;
  readonly agents: readonly string[];
  /** sdk mode: the fake provider's base URL, or undefined to start one inside this worker. */
  readonly providerUrl: string | undefined;
  /** sdk mode: the pause between two tokens of every stream. */
  readonly tokenDelayMs: number;
  /** sdk mode: the fetch under the openai package: 'http' (the adapter's default, node:http) or 'undici' (Node's own). */
  readonly fetch: 'http' | 'undici';
  readonly connectConcurrency: number;
}

/** One generating agent's view of one round (stamps; NaN when it did not happen within the round's time limit). */
export interface Sample {
  readonly agent: string;
  /** The Cancelled frame decoded by the client (the SDK's `message` event, before it acts on it). */
  readonly cancelledAt: number;
  /** The Cancelled frame's server_time: the start of the quantum that committed the Say (sub-ms, the server's clock). */
  readonly serverTime: number;
  /** The SDK has aborted the generation's signal (its `cancelled` event, after the abort ran); raw: = cancelledAt. */
  readonly abortedAt: number;
  /** generate() saw its model stream end (the adapter rethrew the abort); raw: NaN. */
  readonly streamEndedAt: number;
  /** The delta carrying the cause (global_seq in stale_due_to) decoded by the client, and its server_time. */
  readonly deltaAt: number;
  readonly deltaServerTime: number;
  readonly causeGlobalSeq: number;
  /** How the act() ended: 'cancelled' is the expected outcome. */
  readonly outcome: string;
}

/** A worker's cancel burst in one round: first to last Cancelled decoded, the CPU it used and the tokens it read meanwhile. */
export interface BurstReport {
  readonly spanMs: number;
  readonly cpuMs: number;
  readonly tokens: number;
}

export type ToWorker =
  | { readonly type: 'start'; readonly cfg: WorkerConfig }
  /** Begin one generation per agent; before that, wait until every agent's view holds global_seq `catchUpSeq`. */
  | { readonly type: 'round'; readonly round: number; readonly catchUpSeq: number }
  | { readonly type: 'exit' };

export type FromWorker =
  | { readonly type: 'ready'; readonly index: number; readonly clockOffsetMs: number; readonly providerUrl: string | undefined }
  /** Every agent of the worker is generating (sdk: its first token arrived; raw: the server answered a ping after BeginGeneration). */
  | { readonly type: 'generating'; readonly index: number; readonly round: number }
  | { readonly type: 'done'; readonly index: number; readonly round: number; readonly samples: readonly Sample[]; readonly closes: readonly Close[]; readonly burst: BurstReport }
  | { readonly type: 'fatal'; readonly index: number; readonly message: string };

/** The fake provider saw the HTTP stream of `agent`'s generation in `round` closed by the client. */
export interface Close {
  readonly agent: string;
  readonly round: number;
  readonly at: number;
}

export type ToProvider =
  /** Answer with the closes of `round` once `expect` have been seen (or after `timeoutMs`). */
  | { readonly type: 'closes'; readonly round: number; readonly expect: number; readonly timeoutMs: number }
  | { readonly type: 'exit' };

export type FromProvider =
  | { readonly type: 'listening'; readonly url: string; readonly clockOffsetMs: number }
  | { readonly type: 'closes'; readonly round: number; readonly closes: readonly Close[] };

/** The prompt names the agent and the round, so the provider can tell whose stream closed. */
export const promptFor = (agent: string, round: number): string => `${agent} ${round}`;

export function parsePrompt(body: Record<string, unknown>): { agent: string; round: number } | undefined {
  const messages = body['messages'];
  const first = Array.isArray(messages) ? (messages[0] as { content?: unknown } | undefined) : undefined;
  const m = typeof first?.content === 'string' ? /^(\S+) (-?\d+)$/.exec(first.content) : null;
  return m ? { agent: m[1]!, round: Number(m[2]) } : undefined;
}
