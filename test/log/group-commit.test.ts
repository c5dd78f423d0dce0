/**
 * Group commit: seqs are assigned in call order, promises resolve in seq order, one fdatasync covers many records
 * under 'batch', and flush() resolves only after every earlier append has settled.
 */
import { describe, expect, it } from 'vitest';
import { openLog, verifyLog, type Durability } from '../../server/log/index.js';
import { FaultyFiles } from '../helpers/faulty-files.js';
import { expectRecords, readAll, recordFor, testLogOptions, useTempDirs, type Rec } from '../helpers/log.js';

const tempDir = useTempDirs('worldline-group-commit-');

describe('group commit', () => {
  it.each(['batch', 'always', 'none'] as const)("under '%s', concurrent appends get contiguous seqs in call order and resolve in seq order", async (durability: Durability) => {
    const dir = tempDir();
    const files = new FaultyFiles();
    const log = await openLog(dir, testLogOptions({ durability, files }));
    const n = durability === 'always' ? 150 : 1000;
    const resolvedOrder: number[] = [];
    const records = new Map<number, Rec>();
    const pending = Array.from({ length: n }, (_, i) => {
      const r = recordFor(i + 1);
      records.set(i + 1, r);
      return log.append(r.kind, r.payload).then((res) => {
        resolvedOrder.push(res.seq);
        return res;
      });
    });
    // Seq and chain position are assigned synchronously, before anything is written.
    expect(log.lastSeq).toBe(n);
    const results = await Promise.all(pending);
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(resolvedOrder).toEqual(results.map((r) => r.seq));
    expect(log.durableSeq).toBe(n);
    const stored = [...log.records()];
    stored.forEach((s, i) => expect(Buffer.from(s.hash).equals(Buffer.from(results[i]!.hash))).toBe(true));
    if (durability === 'batch') expect(files.syncs).toBeLessThan(n / 4); // many records per fdatasync
    if (durability === 'always') expect(files.syncs).toBeGreaterThanOrEqual(n); // one fsync per record
    await log.close();
    expect((await verifyLog(dir)).ok).toBe(true);
    expectRecords(await readAll(dir), records);
  });

  it('rounds of concurrent appends interleaved with awaits stay contiguous across segment rollovers', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    const records = new Map<number, Rec>();
    let expectedSeq = 1;
    for (let round = 0; round < 40; round++) {
      const batch = Array.from({ length: 1 + (round % 13) }, () => {
        const seq = expectedSeq++;
        const r = recordFor(seq);
        records.set(seq, r);
        return log.append(r.kind, r.payload);
      });
      if (round % 3 === 0) await Promise.resolve(); // let a batch start writing while more arrive
      const res = await Promise.all(batch);
      expect(res.map((r) => r.seq)).toEqual(Array.from({ length: batch.length }, (_, i) => expectedSeq - batch.length + i));
    }
    await log.close();
    const report = await verifyLog(dir);
    expect(report.ok).toBe(true);
    expect(report.segments).toBeGreaterThan(1);
    expectRecords(await readAll(dir), records);
  });

  it('flush() resolves only after every earlier append has settled, even with a batch in flight', async () => {
    const dir = tempDir();
    const log = await openLog(dir, testLogOptions());
    await log.flush(); // nothing pending: resolves at once
    for (let round = 0; round < 5; round++) {
      const settled: boolean[] = [];
      const first = Array.from({ length: 50 }, (_, i) => log.append('effect', recordFor(i).payload).then(() => (settled[i] = true)));
      // Let the first batch be taken off the queue and start writing, then add more behind it.
      await new Promise((r) => setImmediate(r));
      const second = Array.from({ length: 50 }, (_, i) => log.append('effect', recordFor(i).payload).then(() => (settled[50 + i] = true)));
      const target = log.lastSeq;
      await log.flush();
      expect(settled.filter(Boolean).length, `round ${round}`).toBe(100);
      expect(log.durableSeq).toBeGreaterThanOrEqual(target);
      await Promise.all([...first, ...second]);
    }
    await log.close();
    expect((await verifyLog(dir)).records).toBe(500);
  });
});
