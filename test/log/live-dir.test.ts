/**
 * Reading a live data directory (verify, inspect, replay, openLogReadOnly take no lock): the writer may grow and cut
 * back the last segment while it is scanned. A read-only log's disk probe writes a 64 KiB block past the last frame
 * and truncates it again; a scan that saw the longer size must end where the file now ends, not spin.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { analyzeLog } from '../../server/log/index.js';
import { useTempDirs, writeLog } from '../helpers/log.js';

const tempDir = useTempDirs('worldline-live-dir-');

afterEach(() => vi.restoreAllMocks());

/**
 * Makes the file shrink back to `size` right after the scan takes its size (fstat) and before it reads it, and fails
 * a read loop that would never end (a synchronous spin would otherwise hang the test runner).
 */
function shrinkAfterSizeCheck(file: string, size: number): void {
  const realRead = fs.readSync.bind(fs) as (...args: unknown[]) => number;
  const realFstat = fs.fstatSync.bind(fs) as (...args: unknown[]) => fs.Stats;
  let reads = 0;
  let armed = false;
  let cut = false;
  vi.spyOn(fs, 'fstatSync').mockImplementation(((...args: unknown[]) => {
    const st = realFstat(...args);
    if (!cut && st.size > size) armed = true;
    return st;
  }) as typeof fs.fstatSync);
  vi.spyOn(fs, 'readSync').mockImplementation(((...args: unknown[]) => {
    if (++reads > 10_000) throw new Error('the scan keeps reading a file that ends: it would never terminate');
    if (armed && !cut) {
      cut = true;
      fs.truncateSync(file, size);
    }
    return realRead(...args);
  }) as typeof fs.readSync);
}

describe('scanning a live directory', () => {
  it("a last segment cut back between the scan's size check and its reads (the disk probe's block) ends the scan at the file's end", async () => {
    const dir = tempDir();
    await writeLog(dir, 30, { segmentBytes: 1024 * 1024 });
    const file = path.join(dir, 'segments', '00000000000000000001.wlseg');
    const size = fs.statSync(file).size;
    fs.appendFileSync(file, Buffer.alloc(64 * 1024)); // the probe's block, present when the scan takes the size
    shrinkAfterSizeCheck(file, size); // and cut back before the scan reads
    const a = analyzeLog(dir);
    vi.restoreAllMocks();
    expect(a.problem).toBeUndefined();
    expect(a.lastSeq).toBe(30);
  });
});
