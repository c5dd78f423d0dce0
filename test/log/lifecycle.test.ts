import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isWorldlineError } from '../../server/errors.js';
import { openLog, verifyLog } from '../../server/log/index.js';

describe('log lifecycle', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const tmp = (): string => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-life-'));
    dirs.push(d);
    return d;
  };

  it('close() settles every accepted append, and refuses appends made while closing', async () => {
    const dir = tmp();
    const log = await openLog(dir, { create: { worldId: 'w', worldSeed: '1' }, onFsyncFailure: 'fail' });
    const accepted = Array.from({ length: 500 }, (_, i) => log.append('effect', Buffer.from(`r${i}`)));
    const closing = log.close();
    const late = log.append('effect', Buffer.from('late')).then(() => 'accepted', (e: unknown) => e);
    await closing;
    const results = await Promise.all(accepted);
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(isWorldlineError(await late, 'LOG_CLOSED')).toBe(true);
    await expect(log.append('effect', Buffer.from('after'))).rejects.toSatisfy((e: unknown) => isWorldlineError(e, 'LOG_CLOSED'));
    const report = await verifyLog(dir);
    expect(report.ok).toBe(true);
    expect(report.lastSeq).toBe(500);
  });

  it('close() called again while the first close is flushing waits for it: every accepted append is written, none left unsettled', async () => {
    const dir = tmp();
    const log = await openLog(dir, { create: { worldId: 'w', worldSeed: '1' }, onFsyncFailure: 'fail' });
    const accepted = Array.from({ length: 500 }, (_, i) => log.append('effect', Buffer.from(`r${i}`)));
    // Two shutdown paths (a signal handler and a host's close, say) closing the same log.
    const both = Promise.all([log.close(), log.close()]);
    const outcome = await Promise.race([
      Promise.all([both, Promise.allSettled(accepted)]).then(() => 'settled'),
      new Promise((r) => setTimeout(r, 3000, 'still pending after 3 s')),
    ]);
    expect(outcome).toBe('settled');
    const results = await Promise.allSettled(accepted);
    expect(results.map((r) => r.status)).toEqual(results.map(() => 'fulfilled'));
    expect(log.status).toBe('closed');
    const report = await verifyLog(dir);
    expect(report.ok).toBe(true);
    expect(report.lastSeq).toBe(500);
  });

  it('reopening continues the same chain with contiguous seqs', async () => {
    const dir = tmp();
    const a = await openLog(dir, { create: { worldId: 'w', worldSeed: '1' } });
    await a.append('effect', Buffer.from('one'));
    await a.close();
    const b = await openLog(dir, { create: { worldId: 'w', worldSeed: '1' } });
    expect((await b.append('effect', Buffer.from('two'))).seq).toBe(2);
    expect([...b.records()].map((r) => Buffer.from(r.payload).toString())).toEqual(['one', 'two']);
    await b.close();
    await expect(openLog(dir, { create: { worldId: 'other', worldSeed: '1' } })).rejects.toSatisfy((e: unknown) => isWorldlineError(e, 'LOG_WORLD_MISMATCH'));
    await expect(openLog(tmp(), {})).rejects.toSatisfy((e: unknown) => isWorldlineError(e, 'CONFIG_INVALID'));
  });
});

describe('mkdirDurableSync', () => {
  it('fsyncs every directory it creates and the existing one the new chain hangs from, and nothing when all exist', async () => {
    const { mkdirDurableSync } = await import('../../server/log/files.js');
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-mkdir-'));
    try {
      const synced: string[] = [];
      const leaf = path.join(root, 'worlds', 'w1', 'segments');
      expect(mkdirDurableSync(leaf, (d) => synced.push(d))).toEqual([leaf, path.join(root, 'worlds', 'w1'), path.join(root, 'worlds'), root]);
      expect(synced).toEqual([leaf, path.join(root, 'worlds', 'w1'), path.join(root, 'worlds'), root]);
      expect(fs.statSync(leaf).isDirectory()).toBe(true);
      // A sibling under an existing parent: the new directory and that parent only.
      const sib = path.join(root, 'worlds', 'w1', 'snapshots');
      expect(mkdirDurableSync(sib, () => {})).toEqual([sib, path.join(root, 'worlds', 'w1')]);
      expect(mkdirDurableSync(leaf, () => {})).toEqual([]);
      // The real fsync works on real directories.
      expect(mkdirDurableSync(path.join(root, 'x', 'y'))).toHaveLength(3);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
