/**
 * act(): generate an intent from the current view and submit it, regenerating when the world moves on. Each attempt
 * opens a generation on the server (BeginGeneration with its own req_id and the view_seq it starts from); the
 * attempt's signal aborts the moment the server sends Cancelled. The server cancels at commit, so the Cancelled frame
 * can arrive before the deltas that made the context stale: the next attempt waits until the view reaches the newest
 * view_seq in stale_due_to (at most CATCH_UP_MS) and starts from there, on the next turn of the event loop. A finished
 * attempt is submitted with its context_seq; a STALE_CONTEXT rejection also regenerates.
 */
import { WorldlineError, isWorldlineError } from '../../server/errors.js';
import type { IntentResult, JsonValue, StaleCause } from '../../server/protocol/index.js';
import type { IntentInput } from './options.js';
import { nextTurn } from './turn.js';
import type { View } from './view.js';

/** What generate() gets for one attempt. */
export interface GenerateContext {
  readonly view: View;
  /** The view_seq of `view`: the intent's context_seq. */
  readonly contextSeq: number;
  /** Aborted (reason: a GENERATION_CANCELLED WorldlineError) when the server cancels this generation. */
  readonly signal: AbortSignal;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly reqId: string;
}

/** The intent to submit (req_id and context_seq are the attempt's), or null to submit nothing. */
export type GeneratedIntent = Omit<IntentInput, 'req_id' | 'context_seq'> | null;

export type Generate = (ctx: GenerateContext) => Promise<GeneratedIntent>;

export interface ActOptions {
  /** Regenerate when the generation is cancelled or the intent is rejected as stale (default true). */
  readonly regenerateOnStale?: boolean;
  /** Attempts before giving up with STALENESS_DETECTED (default 5). */
  readonly maxAttempts?: number;
  /** Before regenerating, wait until no delta has arrived for this long (default 0), so a burst settles first. */
  readonly debounceMs?: number;
  /** Aborts the whole act(): the current generation is cancelled on the server too. */
  readonly signal?: AbortSignal;
  /** Base of the attempts' req_ids (`${base}.${attempt}`); random by default. */
  readonly reqIdBase?: string;
  /** Called as each attempt ends. */
  readonly onAttempt?: (a: AttemptRecord) => void;
}

export interface AttemptRecord {
  readonly attempt: number;
  readonly reqId: string;
  readonly contextSeq: number;
  /** interrupted: cancelled by the server mid-generation; stale: submitted but rejected STALE_CONTEXT; submitted: got a result; skipped: generate returned null. */
  readonly outcome: 'interrupted' | 'stale' | 'submitted' | 'skipped';
  readonly staleDueTo: readonly StaleCause[];
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface ActResult {
  /** The final IntentResult, or undefined when generate returned null. */
  readonly result: IntentResult | undefined;
  readonly intent: IntentInput | undefined;
  readonly attempts: readonly AttemptRecord[];
}

/** What act() needs from the agent. */
export interface ActHost {
  readonly view: View;
  readonly viewSeq: number;
  readonly closed: boolean;
  /** Why the agent left, when the server or the network ended it (a refusal, attempts exhausted); undefined otherwise. */
  readonly leftWith?: WorldlineError | undefined;
  beginGeneration(reqId: string, contextSeq: number, controller: AbortController): void;
  endGeneration(reqId: string, cancelOnServer: boolean): void;
  submit(intent: IntentInput): Promise<IntentResult>;
  waitQuiet(quietMs: number, maxMs: number, signal: AbortSignal | undefined): Promise<void>;
  waitForView(viewSeq: number, maxMs: number, signal?: AbortSignal): Promise<void>;
}

/** How long act() waits for the deltas a Cancelled frame names before regenerating anyway. */
const CATCH_UP_MS = 2000;

/** The newest view_seq among the causes: the view a regeneration must start from (or later). */
function newestCause(causes: readonly StaleCause[]): number {
  let n = -1;
  for (const c of causes) if (c.view_seq > n) n = c.view_seq;
  return n;
}

function staleCauses(details: Readonly<Record<string, unknown>>): StaleCause[] {
  const raw = details['stale_due_to'];
  if (!Array.isArray(raw)) return [];
  return raw.map((c: Record<string, unknown>) => ({ view_seq: Number(c['view_seq'] ?? 0), global_seq: Number(c['global_seq'] ?? c['seq'] ?? 0), kind: String(c['kind'] ?? '') }));
}

const timeNow = (): number => performance.now();

/**
 * `p`, or a rejection with the signal's reason as soon as it aborts. The caller's abort ends act() at once, also while
 * the intent is being submitted; the intent itself was sent and may still commit (submit() with its req_id again
 * tells the outcome). `p` is still observed, so its own rejection later is not reported as unhandled.
 */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(signal.reason as unknown);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as unknown);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export async function runAct(host: ActHost, generate: Generate, opts: ActOptions): Promise<ActResult> {
  const maxAttempts = opts.maxAttempts ?? 5;
  const regenerate = opts.regenerateOnStale ?? true;
  const debounceMs = opts.debounceMs ?? 0;
  // Checked before anything is sent: 0 or NaN attempts would end in STALENESS_DETECTED without one generation.
  if (!(maxAttempts >= 1 && (Number.isInteger(maxAttempts) || maxAttempts === Infinity))) throw new WorldlineError('CONFIG_INVALID', `act(): maxAttempts must be a whole number of at least 1, got ${String(maxAttempts)}`, { option: 'maxAttempts' });
  if (!(debounceMs >= 0 && Number.isFinite(debounceMs))) throw new WorldlineError('CONFIG_INVALID', `act(): debounceMs must be a number of ms of at least 0, got ${String(debounceMs)}`, { option: 'debounceMs' });
  const base = opts.reqIdBase ?? (globalThis as { crypto?: { randomUUID?: () => string } }).crypto?.randomUUID?.() ?? `act-${Math.floor(Math.random() * 2 ** 48).toString(36)}`;
  const attempts: AttemptRecord[] = [];
  const record = (a: AttemptRecord): void => {
    attempts.push(a);
    opts.onAttempt?.(a);
  };
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    // A regeneration (a new model request, a prompt built from the view) starts on the next turn of the event loop:
    // what made the attempt before it end (a delta the cancel named, an IntentResult) resolved it from inside a frame
    // handler, and the frames already read after that one, maybe other agents' Cancelled frames, go first.
    if (attempt > 1) await nextTurn();
    opts.signal?.throwIfAborted();
    // As submit() does: an agent refused by the server (UNAUTHORIZED, WORLD_NOT_FOUND) says so, not only "closed".
    if (host.closed) throw host.leftWith ?? new WorldlineError('LOG_CLOSED', 'the agent is closed; connect again');
    if (attempt > 1 && debounceMs > 0) await host.waitQuiet(debounceMs, Math.max(1000, 10 * debounceMs), opts.signal);
    const reqId = `${base}.${attempt}`;
    const contextSeq = Math.max(0, host.viewSeq);
    const view = host.view;
    const controller = new AbortController();
    const onOuterAbort = (): void => controller.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const startedAt = timeNow();
    host.beginGeneration(reqId, contextSeq, controller);
    let intent: GeneratedIntent;
    try {
      intent = await generate({ view, contextSeq, signal: controller.signal, attempt, reqId });
    } catch (err) {
      opts.signal?.removeEventListener('abort', onOuterAbort);
      const cancelled = controller.signal.aborted && isWorldlineError(controller.signal.reason, 'GENERATION_CANCELLED') && !opts.signal?.aborted;
      host.endGeneration(reqId, !cancelled);
      if (!cancelled) throw err;
      const reason = controller.signal.reason as WorldlineError;
      const causes = staleCauses(reason.details);
      record({ attempt, reqId, contextSeq, outcome: 'interrupted', staleDueTo: causes, startedAt, endedAt: timeNow() });
      if (!regenerate) throw reason;
      // The cancel was sent at commit: the deltas it names may still be on their way (no need after the last attempt).
      if (attempt < maxAttempts) await host.waitForView(newestCause(causes), CATCH_UP_MS, opts.signal);
      continue;
    }
    opts.signal?.removeEventListener('abort', onOuterAbort);
    if (controller.signal.aborted) {
      // generate() finished without honouring the signal: its answer was made from a stale view, so drop it.
      const reason = controller.signal.reason as unknown;
      // After a server cancel the generation is already gone; after the caller's abort it is still open there.
      host.endGeneration(reqId, true);
      if (opts.signal?.aborted) throw opts.signal.reason;
      const details = isWorldlineError(reason) ? reason.details : {};
      const causes = staleCauses(details);
      record({ attempt, reqId, contextSeq, outcome: 'interrupted', staleDueTo: causes, startedAt, endedAt: timeNow() });
      if (!regenerate) throw reason;
      if (attempt < maxAttempts) await host.waitForView(newestCause(causes), CATCH_UP_MS, opts.signal);
      continue;
    }
    if (intent === null) {
      host.endGeneration(reqId, true);
      record({ attempt, reqId, contextSeq, outcome: 'skipped', staleDueTo: [], startedAt, endedAt: timeNow() });
      return { result: undefined, intent: undefined, attempts };
    }
    // Submitting closes the generation on the server; a Cancelled that crosses our submit is ignored from here on.
    host.endGeneration(reqId, false);
    const full: IntentInput = { ...intent, payload: intent.payload as JsonValue, req_id: reqId, context_seq: contextSeq };
    const result = await untilAborted(host.submit(full), opts.signal);
    const stale = result.status === 'rejected' && (result.error?.name === 'STALE_CONTEXT' || result.error?.recovery === 'REGENERATE');
    const causes = stale && result.error ? staleCauses(result.error.details) : [];
    record({ attempt, reqId, contextSeq, outcome: stale ? 'stale' : 'submitted', staleDueTo: causes, startedAt, endedAt: timeNow() });
    if (stale && regenerate) {
      // The server refuses a stale intent as it arrives, maybe before the deltas that made it stale have gone out
      // (they wait for their quantum to be durable): regenerating at once would start from the same stale view.
      if (attempt < maxAttempts) await host.waitForView(newestCause(causes), CATCH_UP_MS, opts.signal);
      continue;
    }
    return { result, intent: full, attempts };
  }
  throw new WorldlineError('STALENESS_DETECTED', `the world kept moving: ${maxAttempts} attempts were interrupted or went stale; raise maxAttempts or debounceMs`, { attempts: attempts.length });
}
