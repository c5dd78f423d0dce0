/**
 * Reading back: records(from, to) from any seq across segments and sparse-index entries, records larger than the
 * reader's and the scanner's chunks, typed errors for bad kinds and oversize payloads, and bit rot caught on read.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { openLog, openLogReadOnly, verifyLog, type EventLog } from '../../server/log/index.js';
import { MAX_BODY_BYTES } from '../../server/log/format.js';
import {
  appendRecords, computeLayout, expectRecords, readAll, rejectsWith, testLogOptions, throwsWith, useTempDirs, type Rec,
} from '../helpers/log.js';

const tempDir = useTempDirs('worldline-reading-');

function expectRange(log: EventLog, records: ReadonlyMap<number, Rec>, from: number, to: number): void {
  const got = [...log.records(from, to)];
  const last = Math.min(to, log.lastSeq);
  const want = last >= from ? Array.from({ length: last - from + 1 }, (_, i) => from + i) : [];
  expect(got.map((r) => r.seq), `records(${from}, ${to})`).toEqual(want);
  for (const r of got) {
    const w = records.get(r.seq)!;
    expect(r.kind).toBe(w.kind);
    expect(Buffer.from(r.payload).equals(w.payload), `payload of ${r.seq}`).toBe(true);
    expect(r.hash.length).toBe(32);
  }
}

describe('records(from, to)', () => {
  it('returns exactly the asked range from arbitrary seqs across segments, live and after reopen', async () => {
    const dir = tempDir();
    let log = await openLog(dir, testLogOptions());
    const records = await appendRecords(log, 400);
    const layout = computeLayout(dir, records);
    expect(layout.segments.length).toBeGreaterThanOrEqual(6);
    const rng = seedrandom('read-ranges');
    // Segment boundaries and their neighbours, plus seeded random ranges.
    const edges = layout.segments.flatMap((s) => [s.firstSeq - 1, s.firstSeq, s.firstSeq + 1]).filter((s) => s >= 1);
    const ranges: Array<[number, number]> = [[1, 400], [1, 1], [400, 400], [400, 1000], [5, 4], [401, 500]];
    for (const e of edges) ranges.push([e, e], [e, e + 30]);
    for (let i = 0; i < 100; i++) {
      const a = 1 + Math.floor(rng() * 400);
      ranges.push([a, a + Math.floor(rng() * 120)]);
    }
    for (let round = 0; round < 2; round++) {
      for (const [from, to] of ranges) expectRange(log, records, from, to);
      expect([...log.records()].length).toBe(400);
      await log.close();
      if (round === 0) log = await openLog(dir, testLogOptions());
    }
  });

  it('seeks through the sparse index inside a segment holding thousands of records', async () => {
    const dir = tempDir();
    let log = await openLog(dir, testLogOptions({ segmentBytes: 256 * 1024 }));
    const tiny = (seq: number): Rec => ({ kind: 'k', payload: Buffer.from(String(seq)) });
    const records = await appendRecords(log, 5000, tiny);
    const layout = computeLayout(dir, records);
    expect(layout.frames.filter((f) => f.segment === 0).length).toBeGreaterThan(3 * 1024);
    const rng = seedrandom('index-seeks');
    const probes = [1, 1023, 1024, 1025, 1026, 2048, 2049, 2050, 3073, 4999, 5000];
    for (let i = 0; i < 40; i++) probes.push(1 + Math.floor(rng() * 5000));
    for (let round = 0; round < 2; round++) {
      for (const p of probes) expectRange(log, records, p, p + 3);
      await log.close();
      if (round === 0) log = await openLog(dir, testLogOptions({ segmentBytes: 256 * 1024 }));
    }
  });

  it('round-trips records larger than the 1 MiB read chunk and the 8 MiB scan chunk', async () => {
    const dir = tempDir();
    const big = (n: number, fill: number): Buffer => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i += 4096) b[i] = (fill + i / 4096) & 0xff;
      b.fill(fill, n - 100);
      return b;
    };
    const sizes: Array<[string, Buffer]> = [
      ['small', Buffer.from('a')],
      ['big', big(3 * 1024 * 1024 + 17, 1)],
      ['small', Buffer.from('b')],
      ['huge', big(9 * 1024 * 1024 + 5, 2)],
      ['small', Buffer.from('c')],
      ['big', big(1024 * 1024 + 1, 3)],
    ];
    for (const segmentBytes of [4096, 64 * 1024 * 1024]) {
      const d = `${dir}/${segmentBytes}`;
      const log = await openLog(d, testLogOptions({ segmentBytes }));
      const records = new Map<number, Rec>();
      for (const [kind, payload] of sizes) records.set((await log.append(kind, payload)).seq, { kind, payload });
      expectRange(log, records, 1, 6);
      expectRange(log, records, 4, 4);
      await log.close();
      expect((await verifyLog(d)).ok).toBe(true);
      expectRecords(await readAll(d), records);
    }
  });

  it('catches bit rot that happens after startup when reading', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    const records = await appendRecords(log, 100);
    const f = computeLayout(dir, records).frame(40);
    const fd = fs.openSync(f.file, 'r+');
    fs.writeSync(fd, Buffer.from([0xee]), 0, 1, f.offset + 14);
    fs.closeSync(fd);
    expect([...log.records(1, 20)].length).toBe(20);
    throwsWith(() => [...log.records(30, 50)], 'LOG_CORRUPTION_DETECTED');
    await log.close();
  });

  it('a read-only view of a log whose tail is garbage (a zeroed or torn sector) reads the intact records and stops there', async () => {
    const dir = tempDir();
    const records = new Map<number, Rec>();
    const log = await openLog(dir, testLogOptions());
    for (const [seq, r] of await appendRecords(log, 30)) records.set(seq, r);
    await log.close();
    // Zero the last record and everything after it: its length field reads 0, not "runs past the end".
    const f = computeLayout(dir, records).frame(30);
    fs.writeFileSync(f.file, Buffer.concat([fs.readFileSync(f.file).subarray(0, f.offset), Buffer.alloc(f.size + 100)]));
    const ro = await openLogReadOnly(dir);
    expect(ro.tornTailAt).toBe(30);
    expect(ro.lastSeq).toBe(29);
    const got = [...ro.records()];
    expect(got.map((r) => r.seq)).toEqual(Array.from({ length: 29 }, (_, i) => i + 1));
    expect([...ro.records(25, 29)].map((r) => r.seq)).toEqual([25, 26, 27, 28, 29]);
  });
});

describe('append input validation', () => {
  it('bad kinds are CONFIG_INVALID and consume no seq', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await appendRecords(log, 2);
    for (const kind of ['', ' ', 'has space', 'tab\t', 'x'.repeat(256), 'é', 'new\nline', '\u0000']) {
      const e = await rejectsWith(log.append(kind, Buffer.from('p')), 'CONFIG_INVALID');
      expect(e.code).toBe(7014);
    }
    expect(log.lastSeq).toBe(2);
    const longest = 'k'.repeat(255);
    expect((await log.append(longest, Buffer.alloc(0))).seq).toBe(3);
    expect((await log.append('~!', Buffer.from('edge ascii'))).seq).toBe(4);
    const read = [...log.records(3, 4)];
    expect(read.map((r) => r.kind)).toEqual([longest, '~!']);
    expect(read[0]!.payload.length).toBe(0);
    await log.close();
    expect((await verifyLog(dir)).ok).toBe(true);
  });

  it('payloads over maxRecordBytes are LOG_RECORD_TOO_LARGE; exactly the limit is accepted', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions({ maxRecordBytes: 1000 }));
    const e = await rejectsWith(log.append('effect', Buffer.alloc(1001)), 'LOG_RECORD_TOO_LARGE');
    expect(e.code).toBe(7010);
    expect(e.details['bytes']).toBe(1001);
    expect((await log.append('effect', Buffer.alloc(1000, 1))).seq).toBe(1);
    await log.close();
  });

  it('a maxRecordBytes above what a frame can hold is CONFIG_INVALID, so no record the next open would cut is ever acknowledged', async () => {
    // Recovery reads a frame body over MAX_BODY_BYTES as a bad length field (a torn tail when last): a record that
    // large, once acknowledged, would be cut away at the next open. The largest payload any kind can carry is the limit.
    const ceiling = MAX_BODY_BYTES - 9 - 255;
    for (const maxRecordBytes of [ceiling + 1, MAX_BODY_BYTES, 2 ** 32, Number.NaN, -1]) {
      await rejectsWith(openLog(tempDir(), testLogOptions({ maxRecordBytes })), 'CONFIG_INVALID');
    }
    const log = await openLog(tempDir(), testLogOptions({ maxRecordBytes: ceiling }));
    await log.close();
  });

  it('appends after close are LOG_CLOSED; bad options are CONFIG_INVALID', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await log.close();
    await rejectsWith(log.append('effect', Buffer.from('late')), 'LOG_CLOSED');
    await rejectsWith(openLog(dir, testLogOptions({ segmentBytes: 100 })), 'CONFIG_INVALID');
    await rejectsWith(openLog(dir, testLogOptions({ durability: 'sometimes' as never })), 'CONFIG_INVALID');
    await rejectsWith(openLog(tempDir(), { onFsyncFailure: 'fail' }), 'CONFIG_INVALID'); // no log and no create
    await rejectsWith(openLog(dir, testLogOptions({ create: { worldId: 'another-world', worldSeed: '42' } })), 'LOG_WORLD_MISMATCH');
  });
});
