/**
 * Recovery by rule, broken on purpose (hypercore test/oplog.js, etcd wal/repair_test.go): write a log, damage it at
 * an offset computed from the frame layout, reopen, and assert exactly which prefix survived, or that the log was
 * refused without a byte changing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { openLog, verifyLog } from '../../server/log/index.js';
import {
  appendRecords, computeLayout, copyLogDir, expectRecords, expectSameFiles, fixFrameCrc, inCopy, readAll, recordFor, rejectsWith, snapshotFiles, testLogOptions, useTempDirs, writeLog, type Layout, type Rec,
} from '../helpers/log.js';

const tempDir = useTempDirs('worldline-corruption-');
/** Enough records for four segments of 4 KiB with a last segment holding a few dozen records. */
const N = 170;

let base: string;
let records: Map<number, Rec>;
let layout: Layout;

function brokenFiles(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'segments')).filter((n) => n.endsWith('.broken')).sort();
}

/** Opens dir, checks it holds exactly seqs 1..expectLast of the base log, appends 10 more, closes and verifies. */
async function expectPrefixThenAppend(dir: string, expectLast: number, what: string): Promise<void> {
  const log = await openLog(dir, testLogOptions());
  expect(log.lastSeq, `${what}: surviving prefix`).toBe(expectLast);
  const more = await appendRecords(log, 10, (s) => recordFor(s + 1000));
  expect([...more.keys()], `${what}: appends continue the seqs`).toEqual(Array.from({ length: 10 }, (_, i) => expectLast + 1 + i));
  await log.close();
  const report = await verifyLog(dir);
  expect(report.problem, what).toBeUndefined();
  expect(report.ok).toBe(true);
  expect(report.lastSeq).toBe(expectLast + 10);
  expect(report.records).toBe(expectLast + 10);
  const all = await readAll(dir);
  expect(all.map((r) => r.seq)).toEqual(Array.from({ length: expectLast + 10 }, (_, i) => i + 1));
  expectRecords(all, new Map([...records].filter(([s]) => s <= expectLast)));
  expectRecords(all, more);
}

beforeAll(async () => {
  base = tempDir();
  records = await writeLog(base, N);
  layout = computeLayout(base, records);
  // Preconditions the damage below relies on.
  expect(layout.segments.length).toBeGreaterThanOrEqual(4);
  const last = layout.segments[layout.segments.length - 1]!;
  expect(layout.frames.filter((f) => f.file === last.file).length).toBeGreaterThanOrEqual(8);
  expect(last.size - last.headerSize).toBeGreaterThan(700);
});

describe('torn tail: truncation', () => {
  it('truncating the last segment at every byte offset within the last 3 records keeps exactly the whole records before the cut', async () => {
    const lastSeg = layout.segments[layout.segments.length - 1]!;
    const original = fs.readFileSync(lastSeg.file);
    const from = layout.frame(N - 2).offset;
    let withBroken = 0;
    for (let cut = from; cut < lastSeg.size; cut++) {
      const dir = copyLogDir(base, tempDir);
      const file = inCopy(base, lastSeg.file, dir);
      fs.truncateSync(file, cut);
      const whole = layout.frames.filter((f) => f.file !== lastSeg.file || f.offset + f.size <= cut);
      const expectLast = whole.length;
      const boundary = whole[whole.length - 1]!.offset + whole[whole.length - 1]!.size;

      const log = await openLog(dir, testLogOptions());
      expect(log.lastSeq, `cut at ${cut}`).toBe(expectLast);
      await log.close();
      expect(fs.statSync(file).size, `cut at ${cut}: truncated to the last whole frame`).toBe(boundary);
      const broken = brokenFiles(dir);
      if (cut > boundary) {
        withBroken++;
        expect(broken.length, `cut at ${cut}`).toBe(1);
        expect(broken[0]!.startsWith(path.basename(lastSeg.file))).toBe(true);
        const aside = fs.readFileSync(path.join(dir, 'segments', broken[0]!));
        expect(aside.equals(original.subarray(boundary, cut)), `cut at ${cut}: .broken holds the cut bytes`).toBe(true);
      } else {
        expect(broken, `cut at ${cut} is a frame boundary: nothing to move aside`).toEqual([]);
      }
      await expectPrefixThenAppend(dir, expectLast, `cut at ${cut}`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(withBroken).toBeGreaterThan(100);
  });

  it('a zeroed 512-byte sector at the tail is a torn tail: cut back to the last intact record', async () => {
    const lastSeg = layout.segments[layout.segments.length - 1]!;
    const aligned = Math.floor((lastSeg.size - 1) / 512) * 512;
    for (const start of [lastSeg.size - 512, aligned]) {
      const dir = copyLogDir(base, tempDir);
      const file = inCopy(base, lastSeg.file, dir);
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, Buffer.alloc(lastSeg.size - start), 0, lastSeg.size - start, start);
      fs.closeSync(fd);
      const whole = layout.frames.filter((f) => f.file !== lastSeg.file || f.offset + f.size <= start);
      expect(whole.length).toBeLessThan(N);
      const boundary = whole[whole.length - 1]!.offset + whole[whole.length - 1]!.size;
      const damaged = fs.readFileSync(file);

      const log = await openLog(dir, testLogOptions());
      expect(log.lastSeq, `zeros from ${start}`).toBe(whole.length);
      await log.close();
      expect(fs.statSync(file).size).toBe(boundary);
      const broken = brokenFiles(dir);
      expect(broken.length).toBe(1);
      expect(fs.readFileSync(path.join(dir, 'segments', broken[0]!)).equals(damaged.subarray(boundary))).toBe(true);
      await expectPrefixThenAppend(dir, whole.length, `zeros from ${start}`);
    }
  });
});

describe('a crash while creating a segment', () => {
  it('a half-written next segment left as .tmp (crash before its rename) is removed, and the log continues where it ended', async () => {
    const dir = copyLogDir(base, tempDir);
    const next = path.join(dir, 'segments', `${String(N + 1).padStart(20, '0')}.wlseg.tmp`);
    const header = fs.readFileSync(inCopy(base, layout.segments[layout.segments.length - 1]!.file, dir)).subarray(0, 20);
    fs.writeFileSync(next, header); // the header was being written when the process died
    const events: string[] = [];
    const log = await openLog(dir, testLogOptions({ onEvent: (e) => events.push(e) }));
    expect(events).toContain('removed-temp-segment');
    expect(fs.existsSync(next)).toBe(false);
    expect(log.lastSeq).toBe(N);
    await log.close();
    await expectPrefixThenAppend(dir, N, 'after a stray .tmp segment');
  });
});

describe('corruption in the middle is refused, not repaired', () => {
  it('a single flipped bit in any middle record (any segment) is LOG_CORRUPTION_DETECTED naming its seq, and nothing changes', async () => {
    const dir = copyLogDir(base, tempDir);
    const rng = seedrandom('flip-middle-records');
    const middle = layout.frames.filter((f) => f.seq <= N - 3);
    const segmentsHit = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const f = middle[Math.floor(rng() * middle.length)]!;
      const at = f.offset + Math.floor(rng() * f.size);
      const bit = 1 << Math.floor(rng() * 8);
      const file = inCopy(base, f.file, dir);
      const what = `flip bit ${bit} at ${path.basename(file)}:${at} (seq ${f.seq})`;
      segmentsHit.add(f.segment);

      const fd = fs.openSync(file, 'r+');
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, at);
      b[0]! ^= bit;
      fs.writeSync(fd, b, 0, 1, at);
      const before = snapshotFiles(dir);

      const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
      expect(e.code).toBe(7003);
      expect(e.details['seq'], what).toBe(f.seq);
      expectSameFiles(before, snapshotFiles(dir), what);
      const report = await verifyLog(dir);
      expect(report.ok, what).toBe(false);
      expect(report.problem?.seq, what).toBe(f.seq);
      expect(report.problem?.torn, what).toBe(false);

      b[0]! ^= bit;
      fs.writeSync(fd, b, 0, 1, at);
      fs.closeSync(fd);
    }
    expect(segmentsHit.size).toBeGreaterThanOrEqual(3);
    expect(segmentsHit.has(layout.segments.length - 1)).toBe(true);
    expect((await verifyLog(dir)).ok).toBe(true);
  });

  /** Flips each (offset, bit) in a copy of one segment's header and expects a refusal naming the segment's first seq. */
  async function expectHeaderFlipsRefused(segIdx: number, positions: ReadonlyArray<readonly [number, number]>): Promise<void> {
    const dir = copyLogDir(base, tempDir);
    const seg = layout.segments[segIdx]!;
    const file = inCopy(base, seg.file, dir);
    const original = fs.readFileSync(file);
    for (const [at, bit] of positions) {
      const what = `header of segment ${segIdx}: bit ${bit} at ${at}`;
      const damaged = Buffer.from(original);
      damaged[at]! ^= bit;
      fs.writeFileSync(file, damaged);
      const before = snapshotFiles(dir);
      const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
      expect(e.details['seq'], what).toBe(seg.firstSeq);
      expectSameFiles(before, snapshotFiles(dir), what);
      const report = await verifyLog(dir);
      expect(report.problem?.seq, what).toBe(seg.firstSeq);
      fs.writeFileSync(file, original);
    }
  }

  const bitsAt = (offsets: readonly number[]): Array<[number, number]> => offsets.flatMap((at) => Array.from({ length: 8 }, (_, b): [number, number] => [at, 1 << b]));

  it('a flipped bit in a segment header (magic, flags, length, body, CRC) is LOG_CORRUPTION_DETECTED naming that segment\'s first seq', async () => {
    const rng = seedrandom('flip-headers');
    for (const segIdx of [0, 1, layout.segments.length - 1]) {
      const seg = layout.segments[segIdx]!;
      const positions = bitsAt([0, 1, 2, 3, 6, 7, 8, 9, 10, 11, seg.headerSize - 4, seg.headerSize - 3, seg.headerSize - 2, seg.headerSize - 1]);
      for (let i = 0; i < 40; i++) positions.push([12 + Math.floor(rng() * (seg.headerSize - 16)), 1 << Math.floor(rng() * 8)]);
      await expectHeaderFlipsRefused(segIdx, positions);
    }
  });

  it('a flipped bit in a segment header\'s version field is corruption (its CRC fails), not a version mismatch', async () => {
    // A single bit flip must not send the operator looking for another Worldline release, nor hide the repair path.
    await expectHeaderFlipsRefused(1, bitsAt([4, 5]));
  });

  it('a genuine newer format version (with a valid header CRC) is SCHEMA_VERSION_MISMATCH', async () => {
    const dir = copyLogDir(base, tempDir);
    const file = inCopy(base, layout.segments[0]!.file, dir);
    const buf = fs.readFileSync(file);
    const headerSize = layout.segments[0]!.headerSize;
    buf.writeUInt16LE(2, 4);
    buf.writeUInt32LE(crc32(buf.subarray(0, headerSize - 4)), headerSize - 4);
    fs.writeFileSync(file, buf);
    const e = await rejectsWith(openLog(dir, testLogOptions()), 'SCHEMA_VERSION_MISMATCH');
    expect(e.code).toBe(7004);
  });

  it('a middle record rewritten with a valid CRC but the old hash is refused as tampering', async () => {
    const dir = copyLogDir(base, tempDir);
    const f = layout.frames.find((x) => x.segment === 1 && x.seq > layout.segments[1]!.firstSeq + 2)!;
    const file = inCopy(base, f.file, dir);
    const buf = fs.readFileSync(file);
    const r = records.get(f.seq)!;
    const payloadAt = f.offset + 13 + r.kind.length;
    buf.write('TAMPERED', payloadAt, 'ascii');
    fixFrameCrc(buf, f.offset);
    fs.writeFileSync(file, buf);
    const before = snapshotFiles(dir);
    const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    expect(e.details['seq']).toBe(f.seq);
    expect(String(e.details['reason'])).toMatch(/hash|tamper/i);
    expectSameFiles(before, snapshotFiles(dir), 'tampered middle record');
    expect((await verifyLog(dir)).problem?.seq).toBe(f.seq);
  });

  it('the LAST record rewritten with a valid CRC is refused too (tampering is not a torn tail)', async () => {
    const dir = copyLogDir(base, tempDir);
    const f = layout.frame(N);
    const file = inCopy(base, f.file, dir);
    const buf = fs.readFileSync(file);
    buf[f.offset + 13 + records.get(N)!.kind.length + 2]! ^= 0xff;
    fixFrameCrc(buf, f.offset);
    fs.writeFileSync(file, buf);
    const before = snapshotFiles(dir);
    const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    expect(e.details['seq']).toBe(N);
    expect(String(e.details['reason'])).toMatch(/hash|tamper/i);
    expectSameFiles(before, snapshotFiles(dir), 'tampered last record');
    const report = await verifyLog(dir);
    expect(report.problem?.torn).toBe(false);
  });

  it('a deleted middle segment is refused', async () => {
    const dir = copyLogDir(base, tempDir);
    fs.rmSync(inCopy(base, layout.segments[1]!.file, dir));
    const before = snapshotFiles(dir);
    const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    const seq = layout.segments[1]!.firstSeq;
    expect(e.details['seq']).toBe(seq);
    // What to do, in the commands an operator (who meets this through `worldline serve`) has.
    const repair = `\`worldline repair ${dir} --truncate-from ${seq}\``;
    expect(e.message).toContain(`Run \`worldline verify ${dir}\`; restore the damaged or missing segment from a backup, or accept losing seq ${seq} and everything after it`);
    expect(e.message).toContain(repair);
    expectSameFiles(before, snapshotFiles(dir), 'deleted segment');
    const report = await verifyLog(dir);
    expect(report.ok).toBe(false);
    expect(report.problem?.advice).toContain(repair);
  });

  it('a deleted first segment without a snapshot to anchor the rest is refused', async () => {
    const dir = copyLogDir(base, tempDir);
    fs.rmSync(inCopy(base, layout.segments[0]!.file, dir));
    const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    expect(e.details['seq']).toBe(1);
    // Truncating from seq 1 cannot bring back a start nothing anchors: the message must not send the operator there.
    expect(e.message).not.toMatch(/truncateFromSeq/);
    await rejectsWith(openLog(dir, testLogOptions({ truncateFromSeq: 1 })), 'CONFIG_INVALID');
  });
});

describe('explicit repair with truncateFromSeq', () => {
  function damageRecord(dir: string, seq: number): void {
    const f = layout.frame(seq);
    const file = inCopy(base, f.file, dir);
    const buf = fs.readFileSync(file);
    buf[f.offset + 20]! ^= 0x10;
    fs.writeFileSync(file, buf);
  }

  it('repairs a mid-log corruption from the first bad seq: the rest is moved aside, appends continue, verify is ok', async () => {
    const dir = copyLogDir(base, tempDir);
    const seg = layout.segments[1]!;
    const bad = seg.firstSeq + 5;
    damageRecord(dir, bad);
    const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    expect(e.details['seq']).toBe(bad);
    const damaged = snapshotFiles(dir);

    // Asking to keep a record past the first bad one is a configuration error, and changes nothing.
    await rejectsWith(openLog(dir, testLogOptions({ truncateFromSeq: bad + 1 })), 'CONFIG_INVALID');
    await rejectsWith(openLog(dir, testLogOptions({ truncateFromSeq: 0 })), 'CONFIG_INVALID');
    expectSameFiles(damaged, snapshotFiles(dir), 'refused repair');

    const log = await openLog(dir, testLogOptions({ truncateFromSeq: bad }));
    expect(log.lastSeq).toBe(bad - 1);
    await log.close();
    const segFile = inCopy(base, seg.file, dir);
    const cutAt = layout.frame(bad).offset;
    expect(fs.statSync(segFile).size).toBe(cutAt);
    const broken = brokenFiles(dir);
    // The cut tail of the damaged segment, plus every later segment whole.
    expect(broken.length).toBe(1 + layout.segments.length - 2);
    const tail = broken.find((n) => n.startsWith(path.basename(segFile)))!;
    expect(fs.readFileSync(path.join(dir, 'segments', tail)).equals(damaged.get(path.relative(dir, segFile))!.subarray(cutAt))).toBe(true);
    for (const later of layout.segments.slice(2)) {
      const rel = path.relative(base, later.file);
      expect(fs.readFileSync(path.join(dir, `${rel}.broken`)).equals(damaged.get(rel)!)).toBe(true);
      expect(fs.existsSync(path.join(dir, rel))).toBe(false);
    }
    await expectPrefixThenAppend(dir, bad - 1, 'repaired');
  });

  it('a second repair at the same place does not overwrite what the first one moved aside', async () => {
    const dir = copyLogDir(base, tempDir);
    const bad = layout.segments[1]!.firstSeq + 5;
    const asideContents = (): Buffer[] => brokenFiles(dir).map((n) => fs.readFileSync(path.join(dir, 'segments', n)));
    damageRecord(dir, bad);
    await (await openLog(dir, testLogOptions({ truncateFromSeq: bad }))).close();
    const first = asideContents();
    expect(first.length).toBeGreaterThanOrEqual(2);
    // The same records written again land in segments with the same names; the same damage is repaired again.
    const log = await openLog(dir, testLogOptions());
    await appendRecords(log, N - (bad - 1));
    await log.close();
    damageRecord(dir, bad);
    // Make the second run's tail bytes differ from the first's, so an overwrite cannot go unnoticed.
    const lastFile = path.join(dir, path.relative(base, layout.segments[layout.segments.length - 1]!.file));
    const lastBuf = fs.readFileSync(lastFile);
    lastBuf[lastBuf.length - 1]! ^= 0x01;
    fs.writeFileSync(lastFile, lastBuf);
    await (await openLog(dir, testLogOptions({ truncateFromSeq: bad }))).close();
    const after = asideContents();
    for (const b of first) expect(after.some((a) => a.equals(b)), 'bytes moved aside by the first repair are still on disk').toBe(true);
  });

  it('a damaged first segment header: the refusal offers no repair that cannot work, and asking for one is a typed error that changes nothing', async () => {
    const dir = copyLogDir(base, tempDir);
    const file = inCopy(base, layout.segments[0]!.file, dir);
    const buf = fs.readFileSync(file);
    buf[20]! ^= 0x01; // inside the header's JSON body
    fs.writeFileSync(file, buf);
    const before = snapshotFiles(dir);
    const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    expect(e.details['seq']).toBe(1);
    expect(e.message).not.toMatch(/truncateFromSeq/);
    expect(e.message).toMatch(/header/);
    // What the message used to advise: no record precedes seq 1, and no intact segment holds it.
    const r = await rejectsWith(openLog(dir, testLogOptions({ truncateFromSeq: 1 })), 'CONFIG_INVALID');
    expect(r.message).toMatch(/header/);
    expectSameFiles(before, snapshotFiles(dir), 'refused repair');
  });

  it('repairs from a seq before the first bad one, dropping the records in between', async () => {
    const dir = copyLogDir(base, tempDir);
    const bad = layout.segments[2]!.firstSeq + 1;
    damageRecord(dir, bad);
    const log = await openLog(dir, testLogOptions({ truncateFromSeq: bad - 4 }));
    expect(log.lastSeq).toBe(bad - 5);
    await log.close();
    await expectPrefixThenAppend(dir, bad - 5, 'repaired early');
  });
});
