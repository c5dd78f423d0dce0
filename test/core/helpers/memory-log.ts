/**
 * An in-memory EventLogPort for core tests: seqs assigned synchronously in call order, a sha256 hash chain, and
 * appends that resolve on a later microtask (or fail on demand), like a log under a batching durability policy.
 * `reopen()` gives a new port over the same records, as a process restart would.
 */
import { createHash } from 'node:crypto';
import type { AppendResult, EventLogPort, LogMeta, LogRecord, SnapshotRecord } from '../../../server/core/ports.js';

interface Shared {
  records: LogRecord[];
  snapshots: SnapshotRecord[];
}

export class MemoryLog implements EventLogPort {
  readonly meta: LogMeta;
  private readonly shared: Shared;
  /** When set, the next appends reject with this error. */
  failWith: Error | undefined;
  /** Pending appends resolve only when release() is called (when true). */
  hold = false;
  private held: Array<{ ok: () => void; fail: (err: Error) => void }> = [];

  constructor(worldId: string, worldSeed: string, shared?: Shared) {
    this.meta = { formatVersion: 1, logId: `mem-${worldId}`, worldId, worldSeed, createdAt: 0 };
    this.shared = shared ?? { records: [], snapshots: [] };
  }

  get lastSeq(): number {
    return this.shared.records.length;
  }

  append(kind: string, payload: Uint8Array): Promise<AppendResult> {
    if (this.failWith) return Promise.reject(this.failWith);
    const prev = this.shared.records.at(-1)?.hash ?? new Uint8Array(32);
    const hash = new Uint8Array(createHash('sha256').update(prev).update(kind).update(payload).digest());
    const seq = this.shared.records.length + 1;
    this.shared.records.push({ seq, kind, payload: payload.slice(), hash });
    const result = { seq, hash };
    if (this.hold) return new Promise((ok, fail) => this.held.push({ ok: () => ok(result), fail }));
    return Promise.resolve(result);
  }

  release(): void {
    const h = this.held;
    this.held = [];
    for (const r of h) r.ok();
  }

  /** The held appends fail with `err` instead (a write that never became durable). */
  failHeld(err: Error): void {
    const h = this.held;
    this.held = [];
    for (const r of h) r.fail(err);
  }

  *records(fromSeq = 1, toSeq = Number.MAX_SAFE_INTEGER): Iterable<LogRecord> {
    for (const r of this.shared.records) if (r.seq >= fromSeq && r.seq <= toSeq) yield r;
  }

  async writeSnapshot(state: Uint8Array, anchorSeq: number): Promise<void> {
    const anchor = this.shared.records[anchorSeq - 1];
    if (!anchor) throw new Error(`snapshot anchor ${anchorSeq} not appended`);
    this.shared.snapshots.push({ anchorSeq, anchorHash: anchor.hash, state: state.slice() });
  }

  latestSnapshot(): SnapshotRecord | undefined {
    return this.shared.snapshots.at(-1);
  }

  snapshots(): readonly SnapshotRecord[] {
    return [...this.shared.snapshots].reverse();
  }

  /** A new port over the same stored records (a restart). */
  reopen(): MemoryLog {
    return new MemoryLog(this.meta.worldId, this.meta.worldSeed, this.shared);
  }

  /** A copy whose records can be tampered with without affecting this one. */
  fork(): MemoryLog {
    return new MemoryLog(this.meta.worldId, this.meta.worldSeed, { records: this.shared.records.map((r) => ({ ...r })), snapshots: [...this.shared.snapshots] });
  }

  /** Replaces a record's payload (for divergence tests). */
  tamper(seq: number, payload: Uint8Array): void {
    const r = this.shared.records[seq - 1];
    if (!r) throw new Error(`no record ${seq}`);
    this.shared.records[seq - 1] = { ...r, payload };
  }
}

/** A manually driven clock. */
export class ManualClock {
  constructor(public t = 1_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
