/**
 * Write faults through an injected FileLayer: short writes, ENOSPC (short write first, as a real disk does), EIO,
 * failed fsync, and faults while rolling to a new segment. The log must never acknowledge what it did not write,
 * never leave a partial frame behind, and resume with contiguous seqs once the disk recovers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeLog, openLog, verifyLog, type EventLog } from '../../server/log/index.js';
import { WorldlineError } from '../../server/errors.js';
import { FaultyFiles } from '../helpers/faulty-files.js';
import {
  appendRecords, computeLayout, expectRecords, readAll, recordFor, rejectsWith, testLogOptions, useTempDirs, waitFor, type Rec,
} from '../helpers/log.js';

const tempDir = useTempDirs('worldline-faults-');

function segmentNames(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'segments')).sort();
}

function lastSegmentFile(dir: string): string {
  const names = segmentNames(dir).filter((n) => n.endsWith('.wlseg'));
  return path.join(dir, 'segments', names[names.length - 1]!);
}

/** Appends one record at a time until one is rejected; returns what was acknowledged and the rejection. */
async function appendUntilRejected(log: EventLog, limit: number): Promise<{ acked: Map<number, Rec>; error: WorldlineError; failedSeq: number }> {
  const acked = new Map<number, Rec>();
  for (let i = 0; i < limit; i++) {
    const seq = log.lastSeq + 1;
    const r = recordFor(seq);
    try {
      const res = await log.append(r.kind, r.payload);
      acked.set(res.seq, r);
    } catch (err) {
      expect(err).toBeInstanceOf(WorldlineError);
      return { acked, error: err as WorldlineError, failedSeq: seq };
    }
  }
  throw new Error(`no append was rejected in ${limit} tries`);
}

/** After a write fault: heal the disk, wait for the probe, append 10, close, and check everything acked is there. */
async function healAndContinue(dir: string, log: EventLog, files: FaultyFiles, acked: Map<number, Rec>): Promise<void> {
  const last = log.lastSeq;
  files.heal();
  await waitFor(() => log.status === 'open', 'the probe to find the disk writable');
  const more = await appendRecords(log, 10);
  expect([...more.keys()]).toEqual(Array.from({ length: 10 }, (_, i) => last + 1 + i));
  await log.close();
  const report = await verifyLog(dir);
  expect(report.problem).toBeUndefined();
  expect(report.ok).toBe(true);
  const all = await readAll(dir);
  expect(all.length).toBe(last + 10);
  expectRecords(all, acked);
  expectRecords(all, more);
  expect(segmentNames(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
}

describe('short writes', () => {
  it('land intact when every write(2) is short', async () => {
    for (const maxWriteBytes of [1, 7, 1000]) {
      const dir = tempDir();
      const files = new FaultyFiles();
      files.maxWriteBytes = maxWriteBytes;
      const log = await openLog(dir, testLogOptions({ files }));
      const records = await appendRecords(log, maxWriteBytes === 1 ? 60 : 200);
      const big: Rec = { kind: 'big', payload: Buffer.alloc(20_000, 0x5a) };
      const bigSeq = (await log.append(big.kind, big.payload)).seq;
      records.set(bigSeq, big);
      await log.close();
      const bytes = segmentNames(dir).reduce((n, f) => n + fs.statSync(path.join(dir, 'segments', f)).size, 0);
      expect(files.writes).toBeGreaterThanOrEqual(Math.ceil(bytes / maxWriteBytes));
      expect((await verifyLog(dir)).ok).toBe(true);
      const all = await readAll(dir);
      expect(all.length).toBe(records.size);
      expectRecords(all, records);
      computeLayout(dir, records); // every frame exactly where its size puts it: no gaps, no duplicates
    }
  });
});

describe.each(['ENOSPC', 'EIO'] as const)('write failure (%s)', (errno) => {
  it('rejects the batch (retryable), cuts the file back to the last whole frame, goes read-only, and resumes when the disk recovers', async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const events: string[] = [];
    const log = await openLog(dir, testLogOptions({ files, probeIntervalMs: 20, segmentBytes: 65536, onEvent: (e) => events.push(e) }));
    const acked = await appendRecords(log, 20);
    const file = lastSegmentFile(dir);
    const sizeBefore = fs.statSync(file).size;

    if (errno === 'ENOSPC') files.spaceLeft = 100; // part of the batch lands, then the disk is full
    else files.writeError = 'EIO';
    const batch = Array.from({ length: 5 }, (_, i) => log.append('effect', recordFor(21 + i).payload));
    for (const p of batch) {
      const e = await rejectsWith(p, 'LOG_WRITE_FAILED');
      expect(e.code).toBe(7006);
      expect(e.retryable).toBe(true);
      expect(e.details['retryable']).toBe(true);
      expect(e.details['errno']).toBe(errno);
    }
    expect(fs.statSync(file).size).toBe(sizeBefore);
    expect(log.status).toBe('read-only');
    expect(log.lastSeq).toBe(20);
    expect(events).toContain('read-only');

    const ro = await rejectsWith(log.append('effect', Buffer.from('x')), 'LOG_READ_ONLY');
    expect(ro.retryable).toBe(true);
    // While the fault lasts the probe keeps failing and the log stays read-only.
    await new Promise((r) => setTimeout(r, 60));
    expect(log.status).toBe('read-only');
    expect(fs.statSync(file).size).toBe(sizeBefore);

    await healAndContinue(dir, log, files, acked);
    expect(events).toContain('writable-again');
  });
});

describe('write failures under other policies and in flight', () => {
  it("under durability 'always' every queued record is rejected, none acknowledged", async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ files, probeIntervalMs: 20, durability: 'always' }));
    const acked = await appendRecords(log, 8);
    files.spaceLeft = 30;
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => log.append('effect', recordFor(100 + i).payload)));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') expect((r.reason as WorldlineError).codeName).toBe('LOG_WRITE_FAILED');
    }
    expect(log.lastSeq).toBe(8);
    await healAndContinue(dir, log, files, acked);
  });

  it('an append made while the failed write is being cut back is rejected, not queued behind the failure', async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ files, probeIntervalMs: 20 }));
    const acked = await appendRecords(log, 10);
    files.spaceLeft = 0;
    const gate = files.gateNextTruncate();
    const failing = log.append('effect', Buffer.from('fails'));
    await gate.reached; // the log is cutting the file back after ENOSPC
    const during = log.append('effect', Buffer.from('made during the cut'));
    let outcome = 'pending';
    during.then(
      () => (outcome = 'resolved'),
      (e: WorldlineError) => (outcome = e.codeName),
    );
    let flushed = false;
    void log.flush().then(() => (flushed = true));
    gate.release();
    await rejectsWith(failing, 'LOG_WRITE_FAILED');
    await new Promise((r) => setImmediate(r));
    expect(['LOG_READ_ONLY', 'LOG_WRITE_FAILED']).toContain(outcome);
    expect(flushed, 'flush() called during the cut settles with the failure').toBe(true);
    await healAndContinue(dir, log, files, acked);
  });
  it('an append made while the failed write is being cut back never reaches the disk behind the recovered log', async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ files, probeIntervalMs: 20 }));
    const acked = await appendRecords(log, 10);
    files.spaceLeft = 0;
    const gate = files.gateNextTruncate();
    const failing = log.append('effect', Buffer.from('fails'));
    await gate.reached;
    const during = log.append('effect', Buffer.from('made during the cut'));
    during.catch(() => {});
    gate.release();
    await rejectsWith(failing, 'LOG_WRITE_FAILED');
    files.heal();
    await waitFor(() => log.status === 'open', 'the probe to find the disk writable');
    const more = await appendRecords(log, 10);
    await log.close();
    // Whatever happened to the stray append, the file must hold one contiguous, verifiable chain.
    const report = await verifyLog(dir);
    expect(report.problem).toBeUndefined();
    const all = await readAll(dir);
    expectRecords(all, acked);
    expectRecords(all, more);
  });
});

describe('closing a read-only log', () => {
  it('close() while the disk probe is in flight: the log stays closed and the probe touches no file afterwards', async () => {
    const dirA = tempDir();
    const files = new FaultyFiles();
    const a = await openLog(dirA, testLogOptions({ files, probeIntervalMs: 20 }));
    await appendRecords(a, 30);
    files.spaceLeft = 0;
    await rejectsWith(a.append('effect', Buffer.from('fails')), 'LOG_WRITE_FAILED');
    files.heal();
    const probe = files.gateNextWrite();
    await probe.reached; // the probe is about to write its block at the end of A's segment
    const closing = a.close();
    await new Promise((r) => setImmediate(r));
    // Another log opened now gets the lowest free descriptor: A's, if close() already released it.
    const dirB = tempDir();
    const b = await openLog(dirB, testLogOptions());
    const segB = path.join(dirB, 'segments', '00000000000000000001.wlseg');
    const sizeB = fs.statSync(segB).size;
    probe.release();
    await closing;
    await new Promise((r) => setTimeout(r, 60));
    expect(fs.statSync(segB).size, "the closed log's probe wrote into another log's file").toBe(sizeB);
    expect(a.status, 'a closed log must not come back to life').toBe('closed');
    await appendRecords(b, 5);
    await b.close();
    expect((await verifyLog(dirB)).ok).toBe(true);
    expect((await verifyLog(dirA)).ok).toBe(true);
  });
});

describe('flush() after a failure', () => {
  it.each(['ENOSPC', 'fsync'] as const)('flush() called from the rejection handler of an append that failed (%s) resolves', async (fault) => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ files, probeIntervalMs: 60_000 }));
    await appendRecords(log, 5);
    if (fault === 'ENOSPC') files.spaceLeft = 0;
    else files.syncError = 'EIO';
    // A caller that waits for the log to settle before retrying, as a retry loop with backoff does.
    const retried = log.append('effect', Buffer.from('x')).then(
      () => 'resolved',
      () => log.flush().then(() => 'flushed'),
    );
    const outcome = await Promise.race([retried, new Promise((r) => setTimeout(r, 2000, 'flush() still pending after 2 s'))]);
    expect(outcome).toBe('flushed');
    await log.close();
  });
});

describe('closing while a failed write is cut back', () => {
  it("close() waits for the cut: the late ftruncate neither hits another log's file nor fails the closed log", async () => {
    const dirA = tempDir();
    const files = new FaultyFiles();
    const a = await openLog(dirA, testLogOptions({ files, probeIntervalMs: 20 }));
    const acked = await appendRecords(a, 10);
    files.spaceLeft = 0;
    const gate = files.gateNextTruncate();
    const failing = a.append('effect', Buffer.from('fails'));
    await gate.reached; // the log is about to cut its segment back to the last committed frame
    const closing = a.close();
    await new Promise((r) => setImmediate(r));
    // Another log opened now gets the lowest free descriptor: A's, if close() already released it.
    const dirB = tempDir();
    const b = await openLog(dirB, testLogOptions());
    const bAcked = await appendRecords(b, 20);
    const segB = path.join(dirB, 'segments', '00000000000000000001.wlseg');
    const sizeB = fs.statSync(segB).size;
    gate.release();
    await rejectsWith(failing, 'LOG_WRITE_FAILED');
    await closing;
    expect(fs.statSync(segB).size, "A's cut-back truncated B's segment").toBe(sizeB);
    expect(a.status).toBe('closed');
    await b.close();
    expect((await verifyLog(dirB)).ok).toBe(true);
    expectRecords(await readAll(dirB), bAcked);
    expectRecords(await readAll(dirA), acked);
  });
});

describe('write failure while rolling to a new segment', () => {
  it('ENOSPC creating the new segment: no temp file is left, appends resume with contiguous seqs', async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ files, probeIntervalMs: 20 }));
    files.faultIf = (p) => p.endsWith('.tmp');
    files.spaceLeft = 0;
    const { acked, error, failedSeq } = await appendUntilRejected(log, 500);
    expect(error.codeName).toBe('LOG_WRITE_FAILED');
    expect(failedSeq).toBeGreaterThan(1);
    expect(segmentNames(dir)).toEqual(['00000000000000000001.wlseg']);
    expect(log.status).toBe('read-only');
    await rejectsWith(log.append('effect', Buffer.from('x')), 'LOG_READ_ONLY');
    await healAndContinue(dir, log, files, acked);
    expect(segmentNames(dir)).toContain(`${String(failedSeq).padStart(20, '0')}.wlseg`);
  });

  it('ENOSPC writing the first frames into a just-created segment: the segment keeps only its header, then fills', async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ files, probeIntervalMs: 20 }));
    // Segment creation (tmp file, header) succeeds; writes to the renamed new segment fail.
    files.faultIf = (p) => p.endsWith('.wlseg') && !p.endsWith('00000000000000000001.wlseg');
    files.spaceLeft = 10;
    const { acked, error, failedSeq } = await appendUntilRejected(log, 500);
    expect(error.codeName).toBe('LOG_WRITE_FAILED');
    const created = path.join(dir, 'segments', `${String(failedSeq).padStart(20, '0')}.wlseg`);
    expect(fs.existsSync(created)).toBe(true);
    const a = analyzeLog(dir);
    const seg = a.segments.find((s) => s.file === created)!;
    expect(fs.statSync(created).size).toBe(seg.headerSize);
    await healAndContinue(dir, log, files, acked);
  });
});

describe('failed fsync', () => {
  it('rejects with LOG_FSYNC_FAILED, fails the log for good, and a reopen recovers everything written', async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const events: string[] = [];
    const log = await openLog(dir, testLogOptions({ files, probeIntervalMs: 20, onEvent: (e) => events.push(e) }));
    const acked = await appendRecords(log, 20);
    files.syncError = 'EIO';
    const inFlight = new Map<number, Rec>();
    const pending: Array<Promise<unknown>> = [];
    for (let seq = 21; seq <= 25; seq++) {
      const r = recordFor(seq);
      inFlight.set(seq, r);
      pending.push(log.append(r.kind, r.payload));
    }
    for (const p of pending) {
      const e = await rejectsWith(p, 'LOG_FSYNC_FAILED');
      expect(e.code).toBe(7008);
      expect(e.retryable).toBe(false);
    }
    expect(log.status).toBe('failed');
    expect(events).toContain('fsync-failed');
    await rejectsWith(log.append('effect', Buffer.from('after')), 'LOG_FSYNC_FAILED');
    // Healing the disk does not bring a failed log back: fsync is never retried.
    files.heal();
    await new Promise((r) => setTimeout(r, 60));
    expect(log.status).toBe('failed');
    await rejectsWith(log.append('effect', Buffer.from('after heal')), 'LOG_FSYNC_FAILED');

    // The failed log released its lock; a fresh open (a restart) recovers what reached the file.
    const reopened = await openLog(dir, testLogOptions());
    expect(reopened.lastSeq).toBe(25);
    await reopened.close();
    await log.close();
    expect((await verifyLog(dir)).ok).toBe(true);
    const all = await readAll(dir);
    expectRecords(all, acked);
    expectRecords(all, inFlight);
  });

  it('a failed fsync while creating a segment also fails the log', async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ files, durability: 'none' }));
    const acked = await appendRecords(log, 10);
    files.syncError = 'EIO';
    const { error } = await appendUntilRejected(log, 500);
    expect(error.codeName).toBe('LOG_FSYNC_FAILED');
    expect(log.status).toBe('failed');
    await log.close();
    const all = await readAll(dir);
    expectRecords(all, acked);
    expect((await verifyLog(dir)).ok).toBe(true);
  });
});
