/**
 * A real full disk: a 2 MiB tmpfs is filled until the kernel says ENOSPC. The log must reject the write (retryable),
 * cut the partial frame, go read-only, and resume by itself once a filler file is deleted.
 * Needs `mount -t tmpfs` (root, or a container allowed to mount); skipped with the reason otherwise.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { openLog, verifyLog } from '../../server/log/index.js';
import { sharedFrameWriter } from '../../server/log/frame-writer.js';
import { appendRecords, expectRecords, readAll, rejectsWith, testLogOptions, waitFor, type Rec } from '../helpers/log.js';

// Probed while the file is collected, because it.skipIf needs its answer before any hook runs.
const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-tmpfs-'));
let mounted = false;
let skipReason = '';
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'pipe' });
  mounted = true;
} catch (err) {
  skipReason = `cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})`;
  // Hooks may not run for a file whose only test is skipped: clean up now.
  fs.rmSync(mountPoint, { recursive: true, force: true });
}

afterAll(() => {
  if (mounted) {
    try {
      execFileSync('umount', [mountPoint], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
    }
  }
  fs.rmSync(mountPoint, { recursive: true, force: true });
});

/** Writes zeros into `file` until the file system refuses; returns the bytes written. */
function fillDisk(file: string): number {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0xf1);
  let total = 0;
  try {
    for (;;) total += fs.writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
  return total;
}

describe('real full disk (tmpfs)', () => {
  // Batches are written on the log's thread, or completed and written by the frame writer's worker thread (which
  // reports the errno for the log to act on): the same rules hold for both.
  for (const via of ['this thread', 'the frame writer worker'] as const) {
  it.skipIf(!mounted)(`ENOSPC makes the log read-only; freeing space lets it resume (written by ${via})${mounted ? '' : ` [skipped: ${skipReason}]`}`, async () => {
    if (via !== 'this thread') await waitFor(() => sharedFrameWriter() !== undefined, 'the frame writer worker to start');
    const dir = path.join(mountPoint, via === 'this thread' ? 'log' : 'log-worker');
    const events: string[] = [];
    const log = await openLog(dir, testLogOptions({ segmentBytes: 256 * 1024, probeIntervalMs: 20, onEvent: (e) => events.push(e), ...(via === 'this thread' ? { frameWriter: null } : { frameWriterMinRecords: 1 }) }));
    const acked = await appendRecords(log, 50);
    const segFile = path.join(dir, 'segments', '00000000000000000001.wlseg');
    const sizeBefore = fs.statSync(segFile).size;

    const filler = path.join(mountPoint, 'filler');
    expect(fillDisk(filler)).toBeGreaterThan(1024 * 1024);
    // Bigger than the free tail of the segment's last page, so the kernel has to allocate and cannot.
    const big: Rec = { kind: 'big', payload: Buffer.alloc(40 * 1024, 0x42) };
    const e = await rejectsWith(log.append(big.kind, big.payload), 'LOG_WRITE_FAILED');
    expect(e.details['errno']).toBe('ENOSPC');
    expect(e.retryable).toBe(true);
    expect(fs.statSync(segFile).size).toBe(sizeBefore);
    expect(log.status).toBe('read-only');
    await rejectsWith(log.append('effect', Buffer.from('still full')), 'LOG_READ_ONLY');
    expect(log.lastSeq).toBe(50);

    fs.rmSync(filler);
    await waitFor(() => log.status === 'open', 'the probe to see free space');
    expect(events).toContain('writable-again');
    const bigSeq = (await log.append(big.kind, big.payload)).seq;
    expect(bigSeq).toBe(51);
    acked.set(bigSeq, big);
    const more = await appendRecords(log, 10);
    expect([...more.keys()]).toEqual(Array.from({ length: 10 }, (_, i) => 52 + i));
    await log.close();

    const report = await verifyLog(dir);
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
    const all = await readAll(dir);
    expect(all.length).toBe(61);
    expectRecords(all, acked);
    expectRecords(all, more);
  });
  }
});
