/**
 * Snapshots and compaction: a snapshot vouches for the state at an anchor (seq, chain hash); compaction deletes whole
 * segments before the older kept anchor, and the log stays verifiable from that anchor.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { openLog, openLogReadOnly, verifyLog } from '../../server/log/index.js';
import { FaultyFiles } from '../helpers/faulty-files.js';
import {
  appendRecords, computeLayout, expectRecords, frameBytes, readAll, recordFor, rejectsWith, testLogOptions, throwsWith, useTempDirs, type Rec,
} from '../helpers/log.js';

const tempDir = useTempDirs('worldline-snapshots-');
const state = (n: number): Buffer => Buffer.from(JSON.stringify({ state: n, agents: Array.from({ length: n % 7 }, (_, i) => `a${i}`) }));

function snapshotFileNames(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'snapshots')).filter((n) => n.endsWith('.wlsnap')).sort();
}

describe('snapshots and compaction', () => {
  it('compacts segments before the older kept anchor; the log reopens, verifies from the anchor, and refuses compacted ranges', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    const records = await appendRecords(log, 220);
    const layout = computeLayout(dir, records);
    expect(layout.segments.length).toBeGreaterThanOrEqual(4);

    await log.writeSnapshot(state(1), 100);
    await log.writeSnapshot(state(2), 150);
    expect(log.latestSnapshot()?.anchorSeq).toBe(150);
    expect(Buffer.from(log.latestSnapshot()!.state).equals(state(2))).toBe(true);

    // Whole segments whose every record is at or before the older anchor (100) go; the one holding 101 stays.
    const expectRemoved = layout.segments.filter((s, i) => i + 1 < layout.segments.length && layout.segments[i + 1]!.firstSeq - 1 <= 100);
    expect(expectRemoved.length).toBeGreaterThanOrEqual(1);
    const removed = await log.compact();
    expect(removed.map((f) => path.basename(f)).sort()).toEqual(expectRemoved.map((s) => path.basename(s.file)).sort());
    for (const s of expectRemoved) expect(fs.existsSync(s.file)).toBe(false);
    const firstSeq = layout.segments[expectRemoved.length]!.firstSeq;
    expect(firstSeq).toBeLessThanOrEqual(101);
    expect(log.firstSeq).toBe(firstSeq);

    const e = throwsWith(() => [...log.records(firstSeq - 1)], 'LOG_RANGE_UNAVAILABLE');
    expect(e.details['firstSeq']).toBe(firstSeq);
    throwsWith(() => [...log.records(1, 5)], 'LOG_RANGE_UNAVAILABLE');
    expect([...log.records(firstSeq)].map((r) => r.seq)).toEqual(Array.from({ length: 220 - firstSeq + 1 }, (_, i) => firstSeq + i));

    const more = await appendRecords(log, 15);
    await log.close();

    const reopened = await openLog(dir, testLogOptions());
    expect(reopened.firstSeq).toBe(firstSeq);
    expect(reopened.lastSeq).toBe(235);
    expect(reopened.latestSnapshot()?.anchorSeq).toBe(150);
    expect(Buffer.from(reopened.latestSnapshot()!.state).equals(state(2))).toBe(true);
    throwsWith(() => [...reopened.records(1)], 'LOG_RANGE_UNAVAILABLE');
    await reopened.close();

    const report = await verifyLog(dir);
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
    // Named by the older snapshot: the one whose anchor is nearest the compacted start.
    expect(report.anchoredFrom).toBe(100);
    expect(report.firstSeq).toBe(firstSeq);
    expect(report.snapshots).toBe(2);
    const all = await readAll(dir);
    expectRecords(all, new Map([...records].filter(([s]) => s >= firstSeq)));
    expectRecords(all, more);

    // A corrupted newest snapshot: the older one takes over (and still anchors the compacted start).
    const newest = path.join(dir, 'snapshots', snapshotFileNames(dir)[1]!);
    expect(path.basename(newest)).toBe(`${String(150).padStart(20, '0')}.wlsnap`);
    const buf = fs.readFileSync(newest);
    buf[buf.length - 40]! ^= 0x04;
    fs.writeFileSync(newest, buf);
    const fallback = await openLog(dir, testLogOptions());
    expect(fallback.latestSnapshot()?.anchorSeq).toBe(100);
    expect(Buffer.from(fallback.latestSnapshot()!.state).equals(state(1))).toBe(true);
    await fallback.close();
    const report2 = await verifyLog(dir);
    expect(report2.ok).toBe(true);
    expect(report2.anchoredFrom).toBe(100);
    expect(report2.snapshots).toBe(1);
    expect(report2.warnings.join('\n')).toMatch(/00000000000000000150\.wlsnap/);

    // Both snapshots gone bad: nothing vouches for the compacted start any more, so the log is refused.
    const older = path.join(dir, 'snapshots', snapshotFileNames(dir)[0]!);
    const b2 = fs.readFileSync(older);
    b2[20]! ^= 0x01;
    fs.writeFileSync(older, b2);
    const err = await rejectsWith(openLog(dir, testLogOptions()), 'LOG_CORRUPTION_DETECTED');
    expect(err.details['seq']).toBe(1);
  });

  it('keeps only the newest two snapshots (or snapshotsToKeep)', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await appendRecords(log, 50);
    for (const anchor of [10, 20, 30, 40]) await log.writeSnapshot(state(anchor), anchor);
    expect(snapshotFileNames(dir).map((n) => Number(n.slice(0, 20)))).toEqual([30, 40]);
    expect(log.latestSnapshot()?.anchorSeq).toBe(40);
    // Every kept snapshot, newest first, with its own state (a restore may start from the older one).
    expect(log.snapshots().map((s) => [s.anchorSeq, Buffer.from(s.state).toString()])).toEqual([[40, state(40).toString()], [30, state(30).toString()]]);
    await log.close();
    const readOnly = await openLogReadOnly(dir);
    expect(readOnly.snapshots().map((s) => [s.anchorSeq, Buffer.from(s.state).toString()])).toEqual([[40, state(40).toString()], [30, state(30).toString()]]);
    const reopened = await openLog(dir, testLogOptions({ snapshotsToKeep: 3 }));
    expect(reopened.latestSnapshot()?.anchorSeq).toBe(40);
    expect(Buffer.from(reopened.latestSnapshot()!.state).equals(state(40))).toBe(true);
    await reopened.writeSnapshot(state(45), 45);
    await reopened.writeSnapshot(state(50), 50);
    expect(snapshotFileNames(dir).map((n) => Number(n.slice(0, 20)))).toEqual([40, 45, 50]);
    expect(reopened.snapshots().map((s) => s.anchorSeq)).toEqual([50, 45, 40]);
    await reopened.close();
    expect((await verifyLog(dir)).snapshots).toBe(3);
  });

  it('a snapshot the disk has no room for fails alone: its temporary file is removed, the log appends on, and the next snapshot is written', async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ files }));
    await appendRecords(log, 20);
    await log.writeSnapshot(state(10), 10);
    // Snapshots are written through the log's file layer (asynchronously): a full disk shows there first as a short write.
    files.faultIf = (p) => p.includes('snapshots');
    files.spaceLeft = 5;
    await expect(log.writeSnapshot(state(20), 20)).rejects.toThrow(/ENOSPC|space/i);
    expect(fs.readdirSync(path.join(dir, 'snapshots')).sort()).toEqual(snapshotFileNames(dir));
    expect(snapshotFileNames(dir).map((n) => Number(n.slice(0, 20)))).toEqual([10]);
    expect(log.latestSnapshot()?.anchorSeq).toBe(10);
    files.heal();
    await appendRecords(log, 5);
    await log.writeSnapshot(state(25), 25);
    expect(snapshotFileNames(dir).map((n) => Number(n.slice(0, 20)))).toEqual([10, 25]);
    await log.close();
    expect((await verifyLog(dir)).snapshots).toBe(2);
  });

  it("a snapshot's temporary file left by a kill during its write is removed at open; files that are not ours stay", async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await appendRecords(log, 30);
    await log.writeSnapshot(state(20), 20);
    await log.close();
    const sdir = path.join(dir, 'snapshots');
    const name = (seq: number): string => `${String(seq).padStart(20, '0')}.wlsnap`;
    // What writeSnapshotFile leaves when the process dies between writing `<name>.tmp` and renaming it.
    const tmp = path.join(sdir, `${name(30)}.tmp`);
    fs.writeFileSync(tmp, fs.readFileSync(path.join(sdir, name(20))).subarray(0, 30));
    const notOurs = ['notes.tmp', 'backup.wlsnap.tmp', `${name(31)}.tmp.keep`];
    for (const n of notOurs) fs.writeFileSync(path.join(sdir, n), 'operator file');
    const events: string[] = [];
    const reopened = await openLog(dir, testLogOptions({ onEvent: (e, d) => void (e === 'removed-temp-snapshot' && events.push(String(d['file']))) }));
    expect(reopened.latestSnapshot()?.anchorSeq).toBe(20);
    await reopened.close();
    expect(fs.existsSync(tmp)).toBe(false);
    expect(events).toEqual([path.basename(tmp)]);
    expect(fs.readdirSync(sdir).sort()).toEqual([name(20), ...notOurs].sort());
  });

  it('a snapshot anchor must be a seq the log has', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await appendRecords(log, 5);
    await rejectsWith(log.writeSnapshot(state(1), 6), 'CONFIG_INVALID');
    await rejectsWith(log.writeSnapshot(state(1), -1), 'CONFIG_INVALID');
    await log.writeSnapshot(state(0), 0);
    expect(log.latestSnapshot()?.anchorSeq).toBe(0);
    await log.close();
    expect((await verifyLog(dir)).ok).toBe(true);
  });

  it('compaction without a snapshot removes nothing', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await appendRecords(log, 150, (s) => recordFor(s));
    expect(await log.compact()).toEqual([]);
    expect(log.firstSeq).toBe(1);
    await log.close();
  });

  it('compaction never deletes the segment being written while its successor is only queued', async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ files, snapshotsToKeep: 1 }));
    const segFiles = (d: string): string[] => fs.readdirSync(path.join(d, 'segments')).filter((n) => n.endsWith('.wlseg')).sort();
    const acked = new Map<number, Rec>();
    // Fill the first segment up to where the next record must roll to a new one.
    for (;;) {
      const size = fs.statSync(path.join(dir, 'segments', segFiles(dir)[0]!)).size;
      if (size + frameBytes(recordFor(log.lastSeq + 1)) > 4096) break;
      for (const [seq, r] of await appendRecords(log, 1)) acked.set(seq, r);
    }
    const anchor = log.lastSeq;
    await log.writeSnapshot(state(anchor), anchor); // vouches for everything in the first segment
    const roll = files.gateNextWrite(); // the roll's first write (the seal, then the new segment) waits here
    const next = recordFor(anchor + 1);
    const appended = log.append(next.kind, next.payload);
    await roll.reached;
    const removed = await log.compact();
    // A crash now: the directory as it stands must still hold every acknowledged record.
    const crashed = tempDir();
    for (const name of ['segments', 'snapshots']) fs.cpSync(path.join(dir, name), path.join(crashed, name), { recursive: true });
    roll.release();
    await appended;
    acked.set(anchor + 1, next);
    const reopened = await openLog(crashed, testLogOptions());
    expect(reopened.meta.logId, 'the crash image is the same log, not a new one').toBe(log.meta.logId);
    expect(reopened.lastSeq).toBe(anchor);
    await reopened.close();
    expect(removed).toEqual([]);
    // Once the successor exists, the segment can go.
    const first = segFiles(dir)[0];
    expect((await log.compact()).map((f) => path.basename(f))).toEqual([first]);
    await log.close();
    expect((await verifyLog(dir)).ok).toBe(true);
    expectRecords(await readAll(dir), new Map([[anchor + 1, next]]));
  });

  it('a repair moves the snapshots past its cut aside, and the ones written after it are kept', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await appendRecords(log, 100);
    await log.writeSnapshot(state(80), 80);
    await log.writeSnapshot(state(90), 90);
    await log.close();
    // An operator rolls the log back to seq 49; the snapshots at 80 and 90 now describe records that are gone.
    const repaired = await openLog(dir, testLogOptions({ truncateFromSeq: 50 }));
    expect(repaired.lastSeq).toBe(49);
    expect(repaired.latestSnapshot()).toBeUndefined();
    // Left in place they would prove records 50..90 durable and refuse the next open; aside, they are evidence.
    expect(fs.readdirSync(path.join(dir, 'snapshots')).sort()).toEqual(['00000000000000000080.wlsnap.broken', '00000000000000000090.wlsnap.broken']);
    await appendRecords(repaired, 10);
    await repaired.writeSnapshot(state(55), 55);
    await repaired.writeSnapshot(state(59), 59);
    expect(repaired.latestSnapshot()?.anchorSeq, 'the snapshot just written').toBe(59);
    await repaired.close();
    const reopened = await openLog(dir, testLogOptions());
    expect(reopened.latestSnapshot()?.anchorSeq).toBe(59);
    expect(Buffer.from(reopened.latestSnapshot()!.state).equals(state(59))).toBe(true);
    await reopened.close();
    expect((await verifyLog(dir)).snapshots, 'the newest two valid snapshots are kept').toBe(2);
  });

  it("under 'none', compaction relies only on a snapshot whose anchor is synced: a machine crash never leaves a log nothing anchors", async () => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ files, durability: 'none', snapshotsToKeep: 1 }));
    const acked = await appendRecords(log, 150); // several segments; each roll syncs the finished one
    const anchor = log.lastSeq; // in the last segment, which nothing has synced yet
    await log.writeSnapshot(state(anchor), anchor);
    await log.compact();
    // A machine crash now: every segment keeps only what was synced (the new ones, their header at least).
    const crashed = tempDir();
    for (const name of ['segments', 'snapshots']) fs.cpSync(path.join(dir, name), path.join(crashed, name), { recursive: true });
    for (const name of fs.readdirSync(path.join(dir, 'segments')).filter((n) => n.endsWith('.wlseg'))) {
      const synced = files.syncedSizes.get(path.join(dir, 'segments', name));
      expect(synced, `${name} was synced at least at its creation`).toBeDefined();
      fs.truncateSync(path.join(crashed, 'segments', name), synced);
    }
    await log.close();
    const reopened = await openLog(crashed, testLogOptions());
    expect(reopened.lastSeq).toBeGreaterThan(0);
    const kept = new Map([...acked].filter(([seq]) => seq >= reopened.firstSeq && seq <= reopened.lastSeq));
    await reopened.close();
    expectRecords(await readAll(crashed), kept);
  });
});

describe('verify on a live directory', () => {
  it('a segment compacted away between the listing and its read is not damage: the scan runs again', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await appendRecords(log, 220);
    await log.writeSnapshot(state(1), 100);
    await log.writeSnapshot(state(2), 150);
    await log.close();
    const segDir = path.join(dir, 'segments');
    const names = fs.readdirSync(segDir).filter((n) => n.endsWith('.wlseg')).sort();
    // What compaction deletes: the segments whose records all precede the older anchor (100).
    const compactable = names.filter((_n, i) => i + 1 < names.length && Number.parseInt(names[i + 1]!, 10) - 1 <= 100).map((n) => path.join(segDir, n));
    expect(compactable.length).toBeGreaterThanOrEqual(1);
    // The server (another process) compacts just as verify, having listed the segments, opens the first one.
    const open = fs.openSync;
    let compactedDuringScan = false;
    const spy = vi.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
      if (!compactedDuringScan && String(file) === compactable[0]) {
        compactedDuringScan = true;
        for (const f of compactable) fs.unlinkSync(f);
      }
      return (open as (...a: unknown[]) => number)(file, ...rest);
    }) as typeof fs.openSync);
    try {
      const report = await verifyLog(dir);
      expect(compactedDuringScan).toBe(true);
      expect(report.problem).toBeUndefined();
      expect(report.ok).toBe(true);
      expect(report.firstSeq).toBe(Number.parseInt(path.basename(names[compactable.length]!), 10));
      expect(report.anchoredFrom).toBe(100);
    } finally {
      spy.mockRestore();
    }
  });
});
