import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeLog, analyzeLogParallel, openLog } from '../../server/log/index.js';

// The parallel scan must judge a log exactly as the serial one does: same head, same first bad seq.
describe('parallel recovery scan', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const build = async (records: number): Promise<string> => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-pscan-'));
    dirs.push(dir);
    const log = await openLog(dir, { create: { worldId: 'w', worldSeed: 's' }, segmentBytes: 16 * 1024, onFsyncFailure: 'fail' });
    await Promise.all(Array.from({ length: records }, (_, i) => log.append(i % 7 === 0 ? 'outcome' : 'effect', Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(i % 90) })))));
    await log.writeSnapshot(Buffer.from('state'), 1500);
    await log.close();
    return dir;
  };
  const strip = (a: Awaited<ReturnType<typeof analyzeLogParallel>>) => ({
    lastSeq: a.lastSeq, lastHash: a.lastHash.toString('hex'), firstSeq: a.firstSeq, segments: a.segments.map((s) => [s.header.firstSeq, s.lastSeq, s.validEnd, s.index]),
    snapshots: a.snapshots.map((s) => s.anchorSeq), problem: a.problem && { seq: a.problem.seq, torn: a.problem.torn, offset: a.problem.offset },
  });

  it('agrees with the serial scan on an intact multi-segment log', async () => {
    const dir = await build(3000);
    const serial = analyzeLog(dir);
    const parallel = await analyzeLogParallel(dir, { threads: 2, minBytes: 0 });
    expect(serial.segments.length).toBeGreaterThan(4);
    expect(strip(parallel)).toEqual(strip(serial));
    expect(parallel.lastSeq).toBe(3000);
    expect(parallel.threads).toBe(2); // really scanned by workers, not the fallback
    expect(parallel.snapshots.map((s) => s.anchorSeq)).toEqual([1500]);
  });

  it('names the same first bad seq when a middle segment is damaged', async () => {
    const dir = await build(3000);
    const seg = analyzeLog(dir).segments[3]!;
    const fd = fs.openSync(seg.file, 'r+');
    const at = seg.headerSize + 200;
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x10;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
    const serial = analyzeLog(dir);
    const parallel = await analyzeLogParallel(dir, { threads: 2, minBytes: 0 });
    expect(serial.problem?.torn).toBe(false);
    expect(serial.problem!.seq).toBeGreaterThan(seg.header.firstSeq - 1);
    expect(strip(parallel)).toEqual(strip(serial));
  });
});
