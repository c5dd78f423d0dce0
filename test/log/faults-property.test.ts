/**
 * Random write faults (short writes, ENOSPC after a random byte budget, on segment files or only on segment
 * creation) under every durability policy. After each round the directory a machine crash would leave (every file
 * cut to its size at its last sync) must open with every record acknowledged so far under 'batch' and 'always';
 * at the end the log must hold exactly the acknowledged records, contiguous and verifiable.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openLog, verifyLog } from '../../server/log/index.js';
import { FaultyFiles } from '../helpers/faulty-files.js';
import { expectRecords, readAll, recordFor, testLogOptions, useTempDirs, waitFor, type Rec } from '../helpers/log.js';

const tempDir = useTempDirs('worldline-faults-property-');

/** The segments a machine crash would leave now: each file cut to what its last sync made durable. */
function crashImage(dir: string, files: FaultyFiles): string {
  const out = tempDir();
  fs.mkdirSync(path.join(out, 'segments'));
  for (const name of fs.readdirSync(path.join(dir, 'segments')).filter((n) => n.endsWith('.wlseg'))) {
    const synced = files.syncedSizes.get(path.join(dir, 'segments', name));
    if (synced === undefined) continue; // never synced: a crash may lose it (only its creation syncs it, so none)
    fs.copyFileSync(path.join(dir, 'segments', name), path.join(out, 'segments', name));
    fs.truncateSync(path.join(out, 'segments', name), synced);
  }
  return out;
}

describe('random write faults', () => {
  it('never lose an acknowledged record nor keep a rejected one', async () => {
    const round = fc.record({
      appends: fc.integer({ min: 1, max: 40 }),
      spaceLeft: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }),
      maxWriteBytes: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
      onlySegmentCreation: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(round, { minLength: 1, maxLength: 6 }), fc.constantFrom('batch', 'always', 'none') as fc.Arbitrary<'batch' | 'always' | 'none'>, async (rounds, durability) => {
        const dir = tempDir();
        const files = new FaultyFiles();
        const log = await openLog(dir, testLogOptions({ files, durability, probeIntervalMs: 5 }));
        const acked = new Map<number, Rec>();
        for (const r of rounds) {
          files.heal();
          await waitFor(() => log.status === 'open', 'the probe to find the disk writable', 500);
          files.maxWriteBytes = r.maxWriteBytes;
          files.spaceLeft = r.spaceLeft;
          if (r.onlySegmentCreation) files.faultIf = (p) => p.endsWith('.tmp');
          const start = log.lastSeq + 1;
          await Promise.all(
            Array.from({ length: r.appends }, (_, i) => {
              const rec = recordFor(start + i);
              return log.append(rec.kind, rec.payload).then((res) => void acked.set(res.seq, rec), () => {});
            }),
          );
          if (durability !== 'none') {
            const image = crashImage(dir, files);
            const survived = await readAll(image, testLogOptions());
            expectRecords(survived, acked);
          }
        }
        files.heal();
        await log.close();
        expect((await verifyLog(dir)).problem).toBeUndefined();
        const all = await readAll(dir);
        expect(all.length, 'only acknowledged records are in the log').toBe(acked.size);
        expectRecords(all, acked);
      }),
      { numRuns: 40 },
    );
  });
});
