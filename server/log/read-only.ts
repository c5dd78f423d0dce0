/**
 * A read-only view of a log directory, for replay, inspection and tools that must not disturb a live server:
 * no lock is taken and nothing is repaired. A torn tail is simply not read; corruption is refused.
 */
import { WorldlineError } from '../errors.js';
import type { AppendResult, EventLogPort, LogMeta, LogRecord, SnapshotRecord } from '../core/ports.js';
import { analyzeLogParallel } from './scan-pool.js';
import { readRecords, type SegmentInfo } from './reader.js';
import { corruptionAdvice } from './recovery.js';

export interface ReadOnlyLog extends EventLogPort {
  /** First stored seq (above 1 after compaction). */
  readonly firstSeq: number;
  /** Set when the directory ends in a torn tail that the next writable open would cut. */
  readonly tornTailAt: number | undefined;
}

/** Opens `dir` for reading only. Throws LOG_CORRUPTION_DETECTED for anything but a torn tail. */
export async function openLogReadOnly(dir: string): Promise<ReadOnlyLog> {
  const a = await analyzeLogParallel(dir);
  // Corruption first: a directory whose segments are all lost has no log identity left, but it is not "no log".
  if (a.problem && !a.problem.torn) {
    throw new WorldlineError('LOG_CORRUPTION_DETECTED', `log corruption at seq ${a.problem.seq}: ${a.problem.reason}; ${corruptionAdvice(dir, a.problem, a)}`, { seq: a.problem.seq, reason: a.problem.reason });
  }
  if (!a.meta) throw new WorldlineError('CONFIG_INVALID', `${dir} holds no Worldline log`, { dir });
  const meta: LogMeta = a.meta;
  const segments: SegmentInfo[] = a.segments.map((s) => ({ file: s.file, firstSeq: s.header.firstSeq, headerSize: s.headerSize, index: s.index }));
  const kept: SnapshotRecord[] = a.snapshots.map((s) => ({ anchorSeq: s.anchorSeq, anchorHash: s.anchorHash, state: s.state }));
  const refuse = (): Promise<never> => Promise.reject(new WorldlineError('LOG_CLOSED', 'this is a read-only view of the log; open it with openLog to write'));
  return {
    meta,
    lastSeq: a.lastSeq,
    firstSeq: a.firstSeq,
    tornTailAt: a.problem?.torn ? a.problem.seq : undefined,
    append: (): Promise<AppendResult> => refuse(),
    writeSnapshot: (): Promise<void> => refuse(),
    records(fromSeq = a.firstSeq, toSeq = a.lastSeq): Iterable<LogRecord> {
      if (fromSeq < a.firstSeq) throw new WorldlineError('LOG_RANGE_UNAVAILABLE', `seq ${fromSeq} was compacted away; the log starts at ${a.firstSeq}`);
      return readRecords(segments, fromSeq, Math.min(toSeq, a.lastSeq));
    },
    latestSnapshot(): SnapshotRecord | undefined {
      return kept[0];
    },
    snapshots(): readonly SnapshotRecord[] {
      return kept;
    },
  };
}
