/**
 * The frame writer (frame-writer.ts): a worker thread completes laid-out frames (chain hash, CRC), writes and syncs
 * them. Its frames must be byte for byte those the log completes on its own thread, it must report write and sync
 * errors for the log to act on, and the log must fall back to its own thread when the worker is gone.
 */
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChainWriter, encodeKind, genesisHash, layoutFrame } from '../../server/log/format.js';
import { sharedChunk, sharedFrameWriter, type FrameJob, type FrameWriter } from '../../server/log/frame-writer.js';
import { openLog, verifyLog } from '../../server/log/index.js';
import { readSummary } from '../../server/log/seal.js';
import { SealDigest } from '../../server/log/seal-digest.js';
import { appendRecords, expectRecords, readAll, recordFor, rejectsWith, testLogOptions, useTempDirs, waitFor, type Rec } from '../helpers/log.js';

const tempDir = useTempDirs('worldline-frame-writer-');

async function worker(): Promise<FrameWriter> {
  await waitFor(() => sharedFrameWriter() !== undefined, 'the frame writer worker to start', 3000);
  return sharedFrameWriter() as FrameWriter;
}

/** Lays out records 1..n in one shared chunk; returns it and the bytes ChainWriter.writeFrame makes of the same records. */
function layOut(n: number, prev: Buffer): { chunk: Buffer; used: number; expected: Buffer; lastHash: Buffer } {
  const chunk = sharedChunk(64 * 1024);
  const expected = Buffer.alloc(64 * 1024);
  const chain = new ChainWriter(prev);
  let used = 0;
  for (let seq = 1; seq <= n; seq++) {
    const r = recordFor(seq);
    const kind = encodeKind(r.kind);
    layoutFrame(chunk, used, seq, kind, r.payload);
    chain.writeFrame(expected, used, seq, kind, r.payload);
    used += 49 + kind.length + r.payload.length;
  }
  return { chunk, used, expected: expected.subarray(0, used), lastHash: chain.tip() };
}

describe('frame writer', () => {
  it('completes, writes and syncs frames exactly as the log thread does', async () => {
    const w = await worker();
    const prev = genesisHash({ formatVersion: 1, logId: 'l', worldId: 'w', worldSeed: 's', createdAt: 0 });
    const { chunk, used, expected, lastHash } = layOut(40, prev);
    const file = path.join(tempDir(), 'frames');
    const fd = fs.openSync(file, 'w+');
    try {
      fs.writeSync(fd, Buffer.from('head'), 0, 4, 0);
      const job: FrameJob = { fd, position: 4, prevHash: prev, chunks: [{ buf: chunk, used }], sync: true };
      const r = await w.run(job);
      expect(r.ok && r.lastHash.equals(lastHash)).toBe(true);
      expect(chunk.subarray(0, used).equals(expected)).toBe(true);
      expect(fs.readFileSync(file).equals(Buffer.concat([Buffer.from('head'), expected]))).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('reports a failed write and a failed sync with their errno', async () => {
    const w = await worker();
    const prev = Buffer.alloc(32);
    const { chunk, used } = layOut(3, prev);
    const closed = fs.openSync(path.join(tempDir(), 'closed'), 'w');
    fs.closeSync(closed);
    expect(await w.run({ fd: closed, position: 0, prevHash: prev, chunks: [{ buf: chunk, used }], sync: true })).toMatchObject({ ok: false, phase: 'write', code: 'EBADF' });
    // /dev/null takes writes but cannot be synced.
    const devNull = fs.openSync('/dev/null', 'w');
    try {
      expect(await w.run({ fd: devNull, position: 0, prevHash: prev, chunks: [{ buf: chunk, used }], sync: true })).toMatchObject({ ok: false, phase: 'sync', code: 'EINVAL' });
    } finally {
      fs.closeSync(devNull);
    }
  });

  it('writes the same segments through the worker as on the log thread', async () => {
    await worker();
    const create = { worldId: 'w', worldSeed: '42', logId: '00000000-0000-4000-8000-000000000002', createdAt: 1_700_000_000_000 };
    const dirs = [tempDir(), tempDir()];
    for (const [i, dir] of dirs.entries()) {
      const log = await openLog(dir, testLogOptions({ create, ...(i === 0 ? { frameWriter: null } : { frameWriterMinRecords: 1 }) }));
      // Several batches and several segment rolls (segmentBytes is 4096 in tests).
      for (let k = 0; k < 6; k++) await appendRecords(log, 37);
      await log.close();
    }
    const files = (d: string): string[] => fs.readdirSync(path.join(d, 'segments')).sort();
    expect(files(dirs[1]!)).toEqual(files(dirs[0]!));
    expect(files(dirs[0]!).filter((f) => f.endsWith('.wlseg')).length).toBeGreaterThan(3);
    for (const f of files(dirs[0]!)) expect(fs.readFileSync(path.join(dirs[1]!, 'segments', f)).equals(fs.readFileSync(path.join(dirs[0]!, 'segments', f))), f).toBe(true);
    expect((await verifyLog(dirs[1]!)).ok).toBe(true);
  });

  it('seals finished segments with the digest the worker kept of what it wrote', async () => {
    await worker();
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions({ frameWriterMinRecords: 1 }));
    for (let k = 0; k < 6; k++) await appendRecords(log, 37);
    await log.close();
    const segs = fs.readdirSync(path.join(dir, 'segments')).filter((f) => f.endsWith('.wlseg')).sort();
    expect(segs.length).toBeGreaterThan(3);
    // Every finished segment (all but the last) is sealed, and its seal's digest is the file's.
    for (const f of segs.slice(0, -1)) {
      const file = path.join(dir, 'segments', f);
      const sum = readSummary(file);
      expect(sum, f).toBeDefined();
      expect(sum!.sha256).toBe(createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
      expect(sum!.size).toBe(fs.statSync(file).size);
    }
    expect((await verifyLog(dir)).ok).toBe(true);
  });

  it('seals segments written partly here (small batches) and partly by the worker', async () => {
    await worker();
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions({ segmentBytes: 16 * 1024 }));
    const acked = new Map<number, Rec>();
    for (let round = 0; round < 8; round++) {
      for (let k = 0; k < 5; k++) for (const [seq, r] of await appendRecords(log, 1)) acked.set(seq, r);
      for (const [seq, r] of await appendRecords(log, 150)) acked.set(seq, r);
    }
    await log.close();
    const segs = fs.readdirSync(path.join(dir, 'segments')).filter((f) => f.endsWith('.wlseg')).sort();
    expect(segs.length).toBeGreaterThan(3);
    for (const f of segs.slice(0, -1)) {
      const file = path.join(dir, 'segments', f);
      expect(readSummary(file)?.sha256, f).toBe(createHash('sha256').update(fs.readFileSync(file)).digest('hex'));
    }
    expect((await verifyLog(dir)).ok).toBe(true);
    expectRecords(await readAll(dir), acked);
  });

  it('startWrite hands the records appended so far to the writer at once; without it they wait for the end of the turn', async () => {
    const jobs: number[] = [];
    // A writer on this thread that writes what the worker would, recording each job's record count as it is posted.
    const recording: FrameWriter = {
      run: async (job: FrameJob) => {
        const chain = new ChainWriter(Buffer.from(job.prevHash));
        let frames = 0;
        for (const c of job.chunks) {
          chain.finishAll(c.buf, c.used);
          for (let pos = 0; pos < c.used; frames++) pos += 4 + c.buf.readUInt32LE(pos) + 32 + 4;
        }
        jobs.push(frames);
        const bytes = Buffer.concat(job.chunks.map((c) => c.buf.subarray(0, c.used)));
        fs.writeSync(job.fd, bytes, 0, bytes.length, job.position);
        if (job.sync) fs.fdatasyncSync(job.fd);
        return { ok: true, lastHash: chain.tip(), syncSeconds: 0 };
      },
    };
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions({ frameWriter: recording, frameWriterMinRecords: 1 }));
    const acks: Array<Promise<unknown>> = [];
    for (let seq = 1; seq <= 3; seq++) acks.push(log.append(recordFor(seq).kind, recordFor(seq).payload));
    expect(jobs).toEqual([]);
    log.startWrite();
    expect(jobs).toEqual([3]);
    // Appended after it: the next batch, behind the one being written. A second call has nothing waiting to begin.
    acks.push(log.append(recordFor(4).kind, recordFor(4).payload));
    log.startWrite();
    expect(jobs).toEqual([3]);
    await Promise.all(acks);
    expect(jobs).toEqual([3, 1]);
    // The default: a turn's appends form one batch, written once the turn ends.
    for (let seq = 5; seq <= 6; seq++) acks.push(log.append(recordFor(seq).kind, recordFor(seq).payload));
    expect(jobs).toEqual([3, 1]);
    await Promise.all(acks);
    expect(jobs).toEqual([3, 1, 2]);
    await log.close();
    expect((await verifyLog(dir)).ok).toBe(true);
    expectRecords(await readAll(dir), new Map(Array.from({ length: 6 }, (_, i) => [i + 1, recordFor(i + 1)] as const)));
  });

  it('a write error the worker reports makes the log read-only; a sync error stops it', async () => {
    const failing = (phase: 'write' | 'sync', code: string): FrameWriter => ({ run: async () => ({ ok: false, phase, code, message: `${code} from the test` }) });
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions({ frameWriter: failing('write', 'ENOSPC'), probeIntervalMs: 60_000 }));
    const e = await rejectsWith(log.append('effect', Buffer.from('x')), 'LOG_WRITE_FAILED');
    expect(e.details['errno']).toBe('ENOSPC');
    expect(log.status).toBe('read-only');
    await log.close();
    const log2 = await openLog(dir, testLogOptions({ frameWriter: failing('sync', 'EIO') }));
    await rejectsWith(log2.append('effect', Buffer.from('x')), 'LOG_FSYNC_FAILED');
    expect(log2.status).toBe('failed');
    await log2.close();
  });

  /** A frame writer on this thread that does what the worker does, but can stop part way through a job. */
  function partialWriter(): FrameWriter & { failNext: 'enospc' | 'gone' | undefined; jobs: number } {
    const w = {
      failNext: undefined as 'enospc' | 'gone' | undefined,
      jobs: 0,
      run: async (job: FrameJob) => {
        w.jobs++;
        const chain = new ChainWriter(Buffer.from(job.prevHash));
        for (const c of job.chunks) chain.finishAll(c.buf, c.used);
        const bytes = Buffer.concat(job.chunks.map((c) => c.buf.subarray(0, c.used)));
        const fail = w.failNext;
        w.failNext = undefined;
        // A failing job lands part of its bytes first, ending inside a frame, as a filling disk or a dying thread does.
        const n = fail ? Math.floor(bytes.length / 2) + 3 : bytes.length;
        fs.writeSync(job.fd, bytes, 0, n, job.position);
        if (fail === 'gone') throw new Error('the worker exited');
        if (fail === 'enospc') return { ok: false as const, phase: 'write' as const, code: 'ENOSPC', message: 'ENOSPC from the test' };
        if (job.sync) fs.fdatasyncSync(job.fd);
        return { ok: true as const, lastHash: chain.tip(), syncSeconds: 0 };
      },
    };
    return w;
  }

  it('a worker write that fails part way (ENOSPC) leaves no partial frame; every waiter gets LOG_WRITE_FAILED and seqs resume contiguous', async () => {
    const dir = tempDir();
    const writer = partialWriter();
    const log = await openLog(dir, testLogOptions({ frameWriter: writer, segmentBytes: 64 * 1024, probeIntervalMs: 20 }));
    const acked = await appendRecords(log, 30);
    const seg = path.join(dir, 'segments', '00000000000000000001.wlseg');
    const size = fs.statSync(seg).size;
    writer.failNext = 'enospc';
    const failed = Array.from({ length: 12 }, (_, i) => log.append('effect', recordFor(31 + i).payload));
    for (const p of failed) expect((await rejectsWith(p, 'LOG_WRITE_FAILED')).details['errno']).toBe('ENOSPC');
    expect(fs.statSync(seg).size, 'the partial batch is cut back').toBe(size);
    expect(log.lastSeq).toBe(30);
    await waitFor(() => log.status === 'open', 'the probe to find the disk writable');
    const more = await appendRecords(log, 12);
    expect([...more.keys()][0]).toBe(31);
    await log.close();
    expect((await verifyLog(dir)).ok).toBe(true);
    const all = await readAll(dir);
    expect(all.length).toBe(42);
    expectRecords(all, acked);
    expectRecords(all, more);
  });

  it('a job whose worker dies after writing part of it is redone on the log thread', async () => {
    const dir = tempDir();
    const writer = partialWriter();
    const log = await openLog(dir, testLogOptions({ frameWriter: writer, segmentBytes: 64 * 1024 }));
    const acked = await appendRecords(log, 30);
    writer.failNext = 'gone';
    for (const [seq, r] of await appendRecords(log, 12)) acked.set(seq, r);
    for (const [seq, r] of await appendRecords(log, 12)) acked.set(seq, r);
    expect(writer.jobs).toBeGreaterThanOrEqual(3);
    await log.close();
    expect((await verifyLog(dir)).ok).toBe(true);
    const all = await readAll(dir);
    expect(all.length).toBe(54);
    expectRecords(all, acked);
  });

  it('completes and writes batches itself when the worker is gone', async () => {
    const gone: FrameWriter = { run: () => Promise.reject(new Error('no worker')) };
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions({ frameWriter: gone }));
    const acked = await appendRecords(log, 120);
    await log.close();
    expect((await verifyLog(dir)).ok).toBe(true);
    expectRecords(await readAll(dir), acked);
  });
});

describe('seal digest', () => {
  /** A frame writer that keeps digests in this thread, as the worker does in its own. */
  function digestingWriter(): FrameWriter & { fail: boolean } {
    const hashes = new Map<number, ReturnType<typeof createHash>>();
    let next = 1;
    const w = {
      fail: false,
      run: () => Promise.reject(new Error('not used')),
      digests: {
        newId: () => next++,
        add(id: number, start: Uint8Array | undefined, chunks: FrameJob['chunks']) {
          if (start) hashes.set(id, createHash('sha256').update(start));
          for (const c of chunks) hashes.get(id)?.update(c.buf.subarray(0, c.used));
        },
        end: async (id: number) => {
          if (w.fail) throw new Error('gone');
          const h = hashes.get(id);
          hashes.delete(id);
          return h?.digest('hex');
        },
        drop: (id: number) => void hashes.delete(id),
      },
    };
    return w;
  }
  const chunk = (text: string) => [{ buf: Buffer.from(text), used: text.length }];
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');

  it('holds the first bytes until a writer is up, then goes on in the writer', async () => {
    const w = digestingWriter();
    const d = new SealDigest(Buffer.from('HEAD'));
    d.addWritten(chunk('one'), undefined, true);
    d.addWritten(chunk('two'), w, true);
    const job = d.forJob(w)!;
    expect(job.start).toBeUndefined();
    w.digests!.add(job.id, undefined, chunk('three'));
    d.jobDone(w, job, 5);
    d.addWritten(chunk('four'), w, true);
    // Bytes written here go to the writer with its next job.
    const next = d.forJob(w)!;
    expect(Buffer.from(next.before!).toString()).toBe('four');
    w.digests!.add(next.id, undefined, [{ buf: Buffer.from(next.before!), used: next.before!.length }, ...chunk('five')]);
    d.jobDone(w, next, 4);
    d.addWritten(chunk('six'), w, true);
    expect(d.bytes).toBe('HEADonetwothreefourfivesix'.length);
    expect(await d.end()).toBe(sha('HEADonetwothreefourfivesix'));
  });

  it('starts in the writer with its first job', async () => {
    const w = digestingWriter();
    const d = new SealDigest(Buffer.from('HEAD'));
    d.addWritten(chunk('here'), undefined, true);
    const job = d.forJob(w)!;
    expect(Buffer.from(job.start!).toString()).toBe('HEADhere');
    w.digests!.add(job.id, job.start, chunk('job'));
    d.jobDone(w, job, 3);
    expect(await d.end()).toBe(sha('HEADherejob'));
  });

  it('hashes on this thread when no writer is expected, or once too much is held', async () => {
    const d = new SealDigest(Buffer.from('HEAD'));
    d.addWritten(chunk('a'), undefined, false);
    d.addWritten(chunk('b'), digestingWriter(), true);
    expect(await d.end()).toBe(sha('HEADab'));
    const big = 'x'.repeat(3 * 1024 * 1024);
    const e = new SealDigest(Buffer.from('HEAD'));
    e.addWritten(chunk(big), undefined, true);
    e.addWritten(chunk(big), undefined, true);
    e.addWritten(chunk('c'), digestingWriter(), true);
    expect(await e.end()).toBe(sha(`HEAD${big}${big}c`));
  });

  it('has no digest once its writer is gone', async () => {
    const w = digestingWriter();
    const d = new SealDigest(Buffer.from('HEAD'));
    d.addWritten(chunk('a'), w, true);
    w.fail = true;
    expect(await d.end()).toBeUndefined();
  });
});
