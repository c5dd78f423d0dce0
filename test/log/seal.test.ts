import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isWorldlineError } from '../../server/errors.js';
import { analyzeLog, analyzeLogParallel, openLog, verifyLog } from '../../server/log/index.js';

// Sealed segments: recovery checks a finished segment with one file hash against its seal; anything that does not
// match falls back to the frame-by-frame scan, so the verdict is always the deep scan's.
describe('sealed segments', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const build = async (records = 3000): Promise<string> => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-seal-'));
    dirs.push(dir);
    const log = await openLog(dir, { create: { worldId: 'w', worldSeed: 's' }, segmentBytes: 16 * 1024, onFsyncFailure: 'fail' });
    for (let i = 0; i < records; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => log.append('effect', Buffer.from(JSON.stringify({ i: i + j, pad: 'p'.repeat((i + j) % 50) })))));
    await log.writeSnapshot(Buffer.from('state-at-1234'), 1234);
    await log.close();
    return dir;
  };
  const summary = (a: ReturnType<typeof analyzeLog>) => ({ lastSeq: a.lastSeq, lastHash: a.lastHash.toString('hex'), problem: a.problem && { seq: a.problem.seq, torn: a.problem.torn }, snapshots: a.snapshots.map((s) => s.anchorSeq), index: a.segments.map((s) => s.index) });

  it('seals every finished segment; recovery trusts matching seals and agrees with the deep scan', async () => {
    const dir = await build();
    const fast = analyzeLog(dir);
    const deep = analyzeLog(dir, { deep: true });
    expect(fast.segments.length).toBeGreaterThan(5);
    const segs = fs.readdirSync(path.join(dir, 'segments'));
    expect(segs.filter((f) => f.endsWith('.wlseg.sum')).length).toBe(fast.segments.length - 1);
    expect(fast.segments.slice(0, -1).every((s) => s.viaSeal === true)).toBe(true);
    expect(fast.segments.at(-1)!.viaSeal).toBeFalsy();
    expect(deep.segments.some((s) => s.viaSeal)).toBe(false);
    expect(summary(fast)).toEqual(summary(deep));
    expect(fast.snapshots.map((s) => s.anchorSeq)).toEqual([1234]); // anchor hash read from a sealed segment
    expect(summary(await analyzeLogParallel(dir, { threads: 2, minBytes: 0 }))).toEqual(summary(deep));
    const log = await openLog(dir, {});
    expect(log.lastSeq).toBe(3000);
    expect(Buffer.from(log.latestSnapshot()!.state).toString()).toBe('state-at-1234');
    await log.close();
  });

  it('a flipped bit in a sealed segment fails its seal, and the full scan names the damaged record', async () => {
    const dir = await build();
    const deepBefore = analyzeLog(dir, { deep: true });
    const seg = deepBefore.segments[2]!;
    const at = seg.headerSize + Math.floor((seg.validEnd - seg.headerSize) / 2);
    const fd = fs.openSync(seg.file, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x04;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
    const fast = analyzeLog(dir);
    const deep = analyzeLog(dir, { deep: true });
    expect(fast.segments[2]!.viaSeal).toBeFalsy();
    expect(fast.problem?.torn).toBe(false);
    expect(summary(fast)).toEqual(summary(deep));
    const err = await openLog(dir, {}).then(() => undefined, (e: unknown) => e);
    expect(isWorldlineError(err, 'LOG_CORRUPTION_DETECTED')).toBe(true);
    expect((err as { details: { seq: number } }).details.seq).toBe(deep.problem!.seq);
    expect((await verifyLog(dir)).problem?.seq).toBe(deep.problem!.seq);
  });

  it('a damaged or stale seal is ignored, never trusted', async () => {
    const dir = await build();
    const segDir = path.join(dir, 'segments');
    const sums = fs.readdirSync(segDir).filter((f) => f.endsWith('.sum')).sort();
    const first = path.join(segDir, sums[0]!);
    fs.writeFileSync(first, fs.readFileSync(first, 'utf8').replace(/"last_seq":(\d+)/, (_m, n: string) => `"last_seq":${Number(n) + 1}`));
    const second = path.join(segDir, sums[1]!);
    fs.writeFileSync(second, '{"not":"a seal"}');
    const fast = analyzeLog(dir);
    expect(fast.segments[0]!.viaSeal).toBeFalsy();
    expect(fast.segments[1]!.viaSeal).toBeFalsy();
    expect(fast.segments[2]!.viaSeal).toBe(true);
    expect(summary(fast)).toEqual(summary(analyzeLog(dir, { deep: true })));
    expect(fast.problem).toBeUndefined();
  });

  it('repair removes the seals of segments it changes', async () => {
    const dir = await build();
    const deep = analyzeLog(dir, { deep: true });
    const mid = deep.segments[3]!;
    const log = await openLog(dir, { truncateFromSeq: mid.header.firstSeq + 5 });
    expect(log.lastSeq).toBe(mid.header.firstSeq + 4);
    await log.close();
    expect(fs.existsSync(`${mid.file}.sum`)).toBe(false);
    const after = analyzeLog(dir);
    expect(after.problem).toBeUndefined();
    expect(summary(after)).toEqual(summary(analyzeLog(dir, { deep: true })));
  });
});
