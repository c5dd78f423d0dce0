/**
 * A real short write: the kernel cuts a write short at the process's file size limit (RLIMIT_FSIZE, set with
 * prlimit), then refuses the next one with EFBIG, as a filling disk cuts one short before ENOSPC. Unlike the injected
 * FileLayer of faults.test.ts, this reaches the write loops that run in production: writeFully on the log's thread
 * and the frame writer worker's own loop over fs.writeSync. The record cut short must be rejected (retryable), cut
 * back, and never acknowledged; every acknowledged record must be there when the log is opened again.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { verifyLog } from '../../server/log/index.js';
import { readAll, useTempDirs } from '../helpers/log.js';
import { payloadFor } from './fixtures/file-size-limit-child.js';

const CHILD = fileURLToPath(new URL('./fixtures/file-size-limit-child.ts', import.meta.url));
const tempDir = useTempDirs('worldline-fsize-');
const LIMIT = 64 * 1024;

let skipReason = '';
try {
  execFileSync('prlimit', ['--version'], { stdio: 'pipe' });
} catch (err) {
  skipReason = `prlimit (util-linux) is not available: ${(err as Error).message.split('\n')[0]}`;
}

describe('a write the kernel cuts short at the file size limit', () => {
  for (const via of ['thread', 'worker'] as const) {
    it.skipIf(skipReason !== '')(`is rejected with EFBIG and cut back, and no acknowledged record is lost (written by the ${via})${skipReason ? ` [skipped: ${skipReason}]` : ''}`, async () => {
      const dir = tempDir();
      const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, dir, via, String(LIMIT)], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { acked: number[]; rejection?: { codeName: string; errno: string }; sizeBefore: number; sizeAfter: number; status: string };
      // The failed write started below the limit and ran past it: the kernel wrote part of it (a short write).
      expect(out.sizeBefore).toBeLessThan(LIMIT);
      expect(out.rejection).toEqual({ codeName: 'LOG_WRITE_FAILED', errno: 'EFBIG' });
      expect(out.sizeAfter, 'the partial frame is cut back').toBe(out.sizeBefore);
      expect(out.status).toBe('read-only');
      const n = out.acked.length;
      expect(n).toBeGreaterThan(50);
      expect(out.acked).toEqual(Array.from({ length: n }, (_, i) => i + 1));

      // Reopened without the limit: exactly the acknowledged records, intact.
      const report = await verifyLog(dir);
      expect(report.problem).toBeUndefined();
      expect(report.lastSeq).toBe(n);
      const all = await readAll(dir);
      expect(all.map((x) => x.seq)).toEqual(out.acked);
      for (const x of all) expect(x.payload.equals(payloadFor(x.seq)), `payload of ${x.seq}`).toBe(true);
    });
  }
});
