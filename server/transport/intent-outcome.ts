/**
 * What every road an intent takes into a world (a WebSocket session, REST) records of its outcome: the intents and
 * rejections counters, the stale-context count, and at debug level one log line per intent. One place, so the metrics
 * and the log count REST intents as they count the socket's.
 */
import { WorldlineError } from '../errors.js';
import type { IntentOutcome } from '../core/index.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';

export type IntentStatus = 'accepted' | 'duplicate' | 'rejected' | 'cancelled';

/** Counts an outcome; `replay`: an answer to a retried req_id (a committed one is then a duplicate). */
export function countIntentOutcome(m: Metrics, o: IntentOutcome, replay = false): IntentStatus {
  if (o.status === 'committed') {
    const status = o.effect === undefined || replay ? 'duplicate' : 'accepted';
    m.intentOutcome[status].inc();
    return status;
  }
  if (o.status === 'rejected') {
    m.intentOutcome.rejected.inc();
    m.rejections.inc({ code: o.error.name });
    if (o.error.name === 'STALE_CONTEXT') m.staleContext.inc();
    return 'rejected';
  }
  m.intentOutcome.cancelled.inc();
  return 'cancelled';
}

/** The debug line of one intent (docs/server.md "Logs"): who, which, what came of it, against which view, how long. */
export function logIntent(logger: Logger, o: IntentOutcome, status: IntentStatus, viewSeq: number, startedAt: number, via: 'ws' | 'rest'): void {
  if (!logger.isLevelEnabled('debug')) return;
  const code = o.status === 'rejected' ? o.error.name : undefined;
  const globalSeq = o.status === 'committed' ? o.global_seq : undefined;
  logger.debug({ agent_id: o.agent_id, req_id: o.req_id, status, global_seq: globalSeq, code, view_seq: viewSeq, latency_ms: Number((performance.now() - startedAt).toFixed(3)), via }, 'intent');
}

/**
 * A rejected outcome's error as every error body goes out (code, name, message, recovery, details): the core's outcome
 * names the error, the catalogue adds what to do.
 */
export function rejectionBody(error: Extract<IntentOutcome, { status: 'rejected' }>['error']): ReturnType<WorldlineError['toJSON']> {
  return new WorldlineError(error.name as 'INVALID_INTENT', error.message, error.details as Record<string, unknown>).toJSON();
}
