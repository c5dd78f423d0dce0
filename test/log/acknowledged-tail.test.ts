/**
 * A snapshot of the log proves its anchor was durable (it is written only after the anchor's sync, which is also what
 * acknowledgements wait for). When the log ends below such an anchor, the records in between were acknowledged:
 * losing the last segment, or damage in a record the snapshot covers, must be refused as corruption, never cut away
 * as a torn tail. Stray snapshots (another log's, another world's, damaged ones) prove nothing and stay warnings.
 * Like corruption.test.ts: write, damage at a computed offset, reopen, and assert what survived or that nothing changed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { openLog, openLogReadOnly, verifyLog } from '../../server/log/index.js';
import {
  appendRecords, computeLayout, copyLogDir, expectRecords, expectSameFiles, inCopy, readAll, recordFor, rejectsWith, snapshotFiles, testLogOptions, useTempDirs, type Layout, type Rec,
} from '../helpers/log.js';

const tempDir = useTempDirs('worldline-ack-tail-');
/** Four or more segments of 4 KiB, the last holding a few dozen records (as in corruption.test.ts). */
const N = 170;
const state = (n: number): Buffer => Buffer.from(`state as of ${n}`);

let base: string;
let records: Map<number, Rec>;
let layout: Layout;
let logId: string;

function snapshotNames(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'snapshots')).sort();
}

const snapName = (seq: number): string => `${String(seq).padStart(20, '0')}.wlsnap`;

/** Flips one payload byte of record seq: its CRC fails, as bit rot or a bad sector would leave it. */
function flipPayloadByte(dir: string, seq: number): void {
  const f = layout.frame(seq);
  const file = inCopy(base, f.file, dir);
  const buf = fs.readFileSync(file);
  buf[f.offset + 13 + records.get(seq)!.kind.length + 1]! ^= 0x40;
  fs.writeFileSync(file, buf);
}

/** Opens dir, checks it holds exactly seqs 1..expectLast of the base log, appends 10 more, closes and verifies. */
async function expectPrefixThenAppend(dir: string, expectLast: number, what: string): Promise<void> {
  const log = await openLog(dir, testLogOptions());
  expect(log.lastSeq, `${what}: surviving prefix`).toBe(expectLast);
  const more = await appendRecords(log, 10, (s) => recordFor(s + 1000));
  await log.close();
  const report = await verifyLog(dir);
  expect(report.problem, what).toBeUndefined();
  expect(report.lastSeq).toBe(expectLast + 10);
  const all = await readAll(dir);
  expectRecords(all, new Map([...records].filter(([s]) => s <= expectLast)));
  expectRecords(all, more);
}

beforeAll(async () => {
  base = tempDir();
  // What a server's shutdown leaves: every record acknowledged, then a snapshot anchored at the last one.
  const log = await openLog(base, testLogOptions());
  records = await appendRecords(log, N);
  await log.writeSnapshot(state(N), N);
  logId = log.meta.logId;
  await log.close();
  layout = computeLayout(base, records);
  expect(layout.segments.length).toBeGreaterThanOrEqual(4);
  expect(snapshotNames(base)).toEqual([snapName(N)]);
});

describe('a snapshot anchored past where the intact log ends', () => {
  it('a deleted last segment is refused as corruption naming the last intact seq, the anchor and the repair, and nothing changes', async () => {
    const dir = copyLogDir(base, tempDir);
    const lastSeg = layout.segments[layout.segments.length - 1]!;
    fs.rmSync(inCopy(base, lastSeg.file, dir));
    const intact = lastSeg.firstSeq - 1;
    const before = snapshotFiles(dir);

    const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    expect(e.code).toBe(7003);
    expect(e.details['seq']).toBe(intact + 1);
    expect(e.message).toContain(`ends at seq ${intact}`);
    expect(e.message).toContain(`anchored at seq ${N}`);
    expect(e.message).toMatch(/restore the missing or damaged segment/);
    expect(e.message).toContain(`worldline repair ${dir} --truncate-from ${intact + 1}`);
    expectSameFiles(before, snapshotFiles(dir), 'refused open');

    const report = await verifyLog(dir);
    expect(report.ok).toBe(false);
    expect(report.problem?.code).toBe('LOG_CORRUPTION_DETECTED');
    expect(report.problem?.torn).toBe(false);
    expect(report.problem?.seq).toBe(intact + 1);
    expect(report.problem?.advice).toContain(`--truncate-from ${intact + 1}`);
    await rejectsWith(openLogReadOnly(dir), 'LOG_CORRUPTION_DETECTED');
    expectSameFiles(before, snapshotFiles(dir), 'verify and a read-only open');
  });

  it('every segment gone (deleted, or not restored with the snapshots) is refused, not taken for an empty log and started afresh', async () => {
    for (const how of ['segment files deleted', 'segments folder deleted'] as const) {
      const dir = copyLogDir(base, tempDir);
      if (how === 'segments folder deleted') fs.rmSync(path.join(dir, 'segments'), { recursive: true });
      else for (const seg of layout.segments) fs.rmSync(inCopy(base, seg.file, dir));
      const before = snapshotFiles(dir);

      // A server opens its world's log with create: it must not start a new log at seq 1 beside the old snapshot.
      const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
      expect(e.details['seq'], how).toBe(1);
      expect(e.message).toContain(`${snapName(N)} of log ${logId}`);
      expect(e.message).toContain(`anchored at seq ${N}`);
      expect(e.message).toMatch(/restore .*segments.* from a backup/);
      expectSameFiles(before, snapshotFiles(dir), `${how}: refused open`);

      const report = await verifyLog(dir);
      expect(report.ok, how).toBe(false);
      expect(report.problem?.code).toBe('LOG_CORRUPTION_DETECTED');
      expect(report.problem?.seq).toBe(1);
      expect(report.problem?.torn).toBe(false);
      await rejectsWith(openLogReadOnly(dir), 'LOG_CORRUPTION_DETECTED');
      // Truncation has nothing to keep: asking for it says what does help, and changes nothing.
      const r = await rejectsWith(openLog(dir, testLogOptions({ truncateFromSeq: 1 })), 'CONFIG_INVALID');
      expect(r.message).toMatch(/no segment is left.*restore .*segments from a backup/);
      expectSameFiles(before, snapshotFiles(dir), `${how}: verify, a read-only open and a repair`);

      // What the advice says to do when the loss is accepted: with the snapshots moved aside, a new log starts.
      fs.renameSync(path.join(dir, 'snapshots'), path.join(dir, 'snapshots.old'));
      const fresh = await openLog(dir, testLogOptions());
      expect(fresh.lastSeq).toBe(0);
      await fresh.close();
    }
  });

  it('a flipped byte in the last record, which the snapshot covers, is corruption, not a torn tail: nothing is cut', async () => {
    const dir = copyLogDir(base, tempDir);
    flipPayloadByte(dir, N);
    const before = snapshotFiles(dir);
    const e = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    expect(e.details['seq']).toBe(N);
    expect(e.message).toMatch(/CRC/);
    expect(e.message).toContain(`intact through seq ${N - 1}`);
    expect(e.message).toContain(`seq ${N} was acknowledged`);
    expect(e.message).toContain(`anchored at seq ${N}`);
    expect(e.message).toContain(`--truncate-from ${N}`);
    expectSameFiles(before, snapshotFiles(dir), 'refused open');
    const report = await verifyLog(dir);
    expect(report.problem?.torn).toBe(false);
    expect(report.problem?.seq).toBe(N);
  });

  it('a torn write past the anchor of the newest snapshot is still a torn tail, cut back to the anchor and no further', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    const recs = await appendRecords(log, 40);
    await log.writeSnapshot(state(37), 37);
    await log.close();
    // Tear record 38 (a write cut short): it and what follows were never acknowledged.
    const torn = computeLayout(dir, recs).frame(38);
    fs.truncateSync(torn.file, torn.offset + 20);
    const reopened = await openLog(dir, testLogOptions());
    expect(reopened.lastSeq).toBe(37);
    expect(reopened.latestSnapshot()?.anchorSeq).toBe(37);
    await reopened.close();
    expectRecords(await readAll(dir), new Map([...recs].filter(([s]) => s <= 37)));
  });

  it("another log's snapshot, another world's, or a damaged one past the end is only warned about, and a torn tail is still cut", async () => {
    const dir = copyLogDir(base, tempDir);
    const past = N + 20;
    // Another log (its own log id), and a log that reuses this log id for another world: both with an anchor past N.
    for (const [name, create] of [
      ['other-log', { worldId: 'world-test', worldSeed: '42' }],
      ['other-world', { worldId: 'world-other', worldSeed: '42', logId }],
    ] as const) {
      const other = tempDir();
      const log = await openLog(other, testLogOptions({ create }));
      await appendRecords(log, past + (name === 'other-log' ? 0 : 5));
      await log.writeSnapshot(state(0), log.lastSeq);
      await log.close();
      const [file] = snapshotNames(other);
      fs.copyFileSync(path.join(other, 'snapshots', file!), path.join(dir, 'snapshots', file!));
    }
    // This log's own snapshot file, damaged: it vouches for nothing.
    const own = path.join(dir, 'snapshots', snapName(N));
    const bytes = fs.readFileSync(own);
    bytes[bytes.length - 40]! ^= 0x01;
    fs.writeFileSync(own, bytes);
    // And a torn tail: half of a frame that was never acknowledged.
    const lastSeg = inCopy(base, layout.segments[layout.segments.length - 1]!.file, dir);
    fs.appendFileSync(lastSeg, Buffer.from([200, 0, 0, 0, N + 1, 0, 0, 0]));

    const report = await verifyLog(dir);
    expect(report.problem?.torn).toBe(true);
    expect(report.warnings.join('\n')).toMatch(new RegExp(`${snapName(past)} ignored: belongs to log (?!${logId})`));
    expect(report.warnings.join('\n')).toContain(`${snapName(past + 5)} ignored: belongs to world world-other, not world-test`);
    expect(report.warnings.join('\n')).toContain(`${snapName(N)} ignored: checksum mismatch`);
    const warnings: string[] = [];
    const log = await openLog(dir, testLogOptions({ onEvent: (e, d) => void (e === 'recovery-warning' && warnings.push(String(d['message']))) }));
    expect(log.lastSeq).toBe(N);
    expect(log.latestSnapshot()).toBeUndefined();
    await log.close();
    expect(warnings.length).toBe(3);
    expect(fs.readdirSync(path.join(dir, 'segments')).filter((n) => n.endsWith('.broken')).length, 'the torn half-frame moved aside').toBe(1);
  });
});

describe('verify on a live directory', () => {
  it('a segment rolled and a snapshot written just after verify lists the segments is not taken for lost records', async () => {
    const live = copyLogDir(base, tempDir);
    // What the server will have on disk a moment later: more records, a new segment, a snapshot anchored in it.
    const later = copyLogDir(base, tempDir);
    const log = await openLog(later, testLogOptions());
    await appendRecords(log, 60);
    await log.writeSnapshot(state(N + 60), N + 60);
    await log.close();
    const newSegments = fs.readdirSync(path.join(later, 'segments')).filter((n) => !fs.existsSync(path.join(live, 'segments', n)));
    expect(newSegments.length).toBeGreaterThanOrEqual(1);
    const readdir = fs.readdirSync.bind(fs) as (...a: unknown[]) => unknown;
    let rolled = false;
    const spy = vi.spyOn(fs, 'readdirSync').mockImplementation(((...a: unknown[]) => {
      const listed = readdir(...a);
      if (!rolled && String(a[0]) === path.join(live, 'segments')) {
        rolled = true;
        for (const name of ['segments', 'snapshots']) fs.cpSync(path.join(later, name), path.join(live, name), { recursive: true });
      }
      return listed;
    }) as typeof fs.readdirSync);
    try {
      const report = await verifyLog(live);
      expect(rolled).toBe(true);
      expect(report.problem).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
    expect((await verifyLog(live)).lastSeq, 'the next run sees it all').toBe(N + 60);
  });
});

describe('accepting the loss with an explicit repair', () => {
  it('after a deleted last segment, repair from the first missing seq moves the snapshot aside and the log opens and appends', async () => {
    const dir = copyLogDir(base, tempDir);
    const lastSeg = layout.segments[layout.segments.length - 1]!;
    fs.rmSync(inCopy(base, lastSeg.file, dir));
    const from = lastSeg.firstSeq;
    const snapBytes = fs.readFileSync(path.join(dir, 'snapshots', snapName(N)));
    const moved: string[] = [];
    const log = await openLog(dir, testLogOptions({ truncateFromSeq: from, onEvent: (e, d) => void (e === 'repaired' && moved.push(...(d['movedAside'] as string[]))) }));
    expect(log.lastSeq).toBe(from - 1);
    expect(log.latestSnapshot()).toBeUndefined();
    await log.close();
    const aside = path.join(dir, 'snapshots', `${snapName(N)}.broken`);
    expect(moved).toEqual([aside]);
    expect(snapshotNames(dir)).toEqual([`${snapName(N)}.broken`]);
    expect(fs.readFileSync(aside).equals(snapBytes), 'the snapshot is kept as evidence, byte for byte').toBe(true);
    await expectPrefixThenAppend(dir, from - 1, 'repaired after a lost segment');
  });

  it('after a flipped byte in the snapshotted last record, repair from it moves the record and the snapshot aside; older snapshots stay', async () => {
    const dir = copyLogDir(base, tempDir);
    // An older snapshot, below the cut, must survive the repair and still count.
    const log0 = await openLog(dir, testLogOptions());
    await log0.writeSnapshot(state(N - 30), N - 30);
    await log0.close();
    flipPayloadByte(dir, N);
    await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    const log = await openLog(dir, testLogOptions({ truncateFromSeq: N }));
    expect(log.lastSeq).toBe(N - 1);
    expect(log.snapshots().map((s) => s.anchorSeq)).toEqual([N - 30]);
    await log.close();
    expect(snapshotNames(dir)).toEqual([snapName(N - 30), `${snapName(N)}.broken`]);
    await expectPrefixThenAppend(dir, N - 1, 'repaired after a damaged last record');
    expect((await verifyLog(dir)).snapshots).toBe(1);
  });
});
