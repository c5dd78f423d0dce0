import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../server/cli/main.js';
import { analyzeLog, openLog } from '../../server/log/index.js';

function capture(): { io: { out: (s: string) => void; err: (s: string) => void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => err.push(s) }, out, err };
}

describe('worldline CLI', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-cli-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const logDir = path.join(root, 'demo');
  const pub = path.join(root, 'keys', 'checkpoint.pub');

  it('demo builds a signed log that verifies, and a second run resumes from its snapshot', async () => {
    const c = capture();
    expect(await main(['demo', '--data', root, '--records', '3000'], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/verify: ok, 3003 records/);
    const c2 = capture();
    expect(await main(['demo', '--data', root, '--records', '1000'], c2.io)).toBe(0);
    expect(c2.out.join('\n')).toMatch(/resuming from snapshot at seq 3003/);
  });

  it('verify prints a one-line summary and exits 0; --pubkey checks the signatures', async () => {
    const c = capture();
    expect(await main(['verify', logDir], c.io)).toBe(0);
    expect(c.out).toHaveLength(1);
    expect(c.out[0]).toMatch(/^ok: 4004 records, last seq 4004, head [0-9a-f]{64}, 1 segments/);
    const s = capture();
    expect(await main(['verify', logDir, '--pubkey', pub, '--json'], s.io)).toBe(0);
    const report = JSON.parse(s.out[0]!) as { ok: boolean; checkpoints: { verified: number } };
    expect(report.ok).toBe(true);
    expect(report.checkpoints.verified).toBe(4);
  });

  it('verify with the wrong public key fails and names the checkpoint', async () => {
    const other = path.join(root, 'other-keys');
    expect(await main(['keygen', other], capture().io)).toBe(0);
    const c = capture();
    expect(await main(['verify', logDir, '--pubkey', path.join(other, 'checkpoint.pub')], c.io)).toBe(1);
    expect(c.err.join('\n')).toMatch(/CHECKPOINT_SIGNATURE_INVALID: first bad seq 1001/);
  });

  it('inspect --json prints one object per record with seq, kind, hash and decoded payload', async () => {
    const c = capture();
    expect(await main(['inspect', logDir, '--from', '999', '--to', '1002', '--json'], c.io)).toBe(0);
    const rows = c.out.map((l) => JSON.parse(l) as { seq: number; kind: string; hash: string; payload: Record<string, unknown> });
    expect(rows.map((r) => r.seq)).toEqual([999, 1000, 1001, 1002]);
    expect(rows[2]!.kind).toBe('checkpoint');
    expect(rows[0]!.kind).toBe('effect');
    expect(rows[0]!.payload['kind']).toBe('Move');
    expect(rows[0]!.hash).toMatch(/^[0-9a-f]{64}$/);
    const t = capture();
    expect(await main(['inspect', logDir, '--from', '5', '--to', '6'], t.io)).toBe(0);
    expect(t.out).toHaveLength(2);
    expect(t.out[0]).toMatch(/^\s+5\s+effect\s+[0-9a-f]{16}\s+\d+B\s+\{/);
  });

  it('inspect on a live log whose segment is compacted away mid-read: says so and to run it again, no stack trace', async () => {
    const open = fs.openSync;
    const spy = vi.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
      // As if the server deleted the segment after inspect listed it.
      if (String(file).endsWith('.wlseg') && rest[0] === 'r') throw Object.assign(new Error(`ENOENT: no such file or directory, open '${String(file)}'`), { code: 'ENOENT', path: String(file) });
      return (open as (...a: unknown[]) => number)(file, ...rest);
    }) as typeof fs.openSync);
    const c = capture();
    try {
      expect(await main(['inspect', logDir, '--from', '5', '--to', '6'], c.io)).toBe(1);
    } finally {
      spy.mockRestore();
    }
    expect(c.err.join('\n')).toMatch(/^worldline: .*\.wlseg went away while it was being read \(a running server deletes segments under logRetention snapshots.*\); run the command again$/);
  });

  it('verify exits 1 naming the first bad seq on mid-log damage, and repair makes it open again', async () => {
    const copy = path.join(root, 'damaged');
    fs.cpSync(logDir, copy, { recursive: true });
    const seg = analyzeLog(copy).segments[0]!;
    // Flip one byte well inside the log (not in the last records).
    const fd = fs.openSync(seg.file, 'r+');
    const at = Math.floor(seg.validEnd / 2);
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0xff;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
    const c = capture();
    expect(await main(['verify', copy], c.io)).toBe(1);
    const m = /LOG_CORRUPTION_DETECTED: first bad seq (\d+)/.exec(c.err.join('\n'));
    expect(m).not.toBeNull();
    const bad = Number(m![1]);
    expect(bad).toBeGreaterThan(1000);
    expect(bad).toBeLessThan(3500);
    expect(c.err.join('\n')).toContain(`. To fix: restore the damaged or missing segment from a backup, or accept losing seq ${bad} and everything after it (acknowledged records among them) with \`worldline repair ${copy} --truncate-from ${bad}\``);
    expect(await main(['repair', copy, '--truncate-from', String(bad)], capture().io)).toBe(0);
    const v = capture();
    expect(await main(['verify', copy], v.io)).toBe(0);
    expect(v.out[0]).toContain(`last seq ${bad - 1},`);
  });

  it('verify exits 3 on a torn tail only', async () => {
    const copy = path.join(root, 'torn');
    fs.cpSync(logDir, copy, { recursive: true });
    const seg = analyzeLog(copy).segments[0]!;
    // Half of a frame after the last record: a write that never completed, so never acknowledged. (Cutting into
    // record 4004 is no torn tail: the demo's snapshot at 4004 proves it was durable; see the next test.)
    fs.appendFileSync(seg.file, Buffer.from([64, 0, 0, 0, 0xa5, 0x0f, 0, 0]));
    const c = capture();
    expect(await main(['verify', copy], c.io)).toBe(3);
    expect(c.err.join('\n')).toMatch(/torn tail at seq 4005/);
  });

  it('inspect on a log with a torn tail of zeros prints every intact record and exits 0, as on any torn tail', async () => {
    const copy = path.join(root, 'zeroed-tail');
    fs.cpSync(logDir, copy, { recursive: true });
    // A zeroed sector after the last record: its length field reads 0 (not a frame cut short).
    fs.appendFileSync(analyzeLog(copy).segments[0]!.file, Buffer.alloc(512));
    const c = capture();
    expect(await main(['inspect', copy, '--from', '4002', '--json'], c.io)).toBe(0);
    expect(c.out.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([4002, 4003, 4004]);
    expect(c.err).toEqual(['warning: log is intact only through seq 4004 (frame length field is invalid); showing that part']);
  });

  it('verify exits 1 when the tail a snapshot covers is cut, says how to repair, and repair makes it open again', async () => {
    const copy = path.join(root, 'cut-under-snapshot');
    fs.cpSync(logDir, copy, { recursive: true });
    expect(fs.readdirSync(path.join(copy, 'snapshots'))).toContain('00000000000000004004.wlsnap');
    const seg = analyzeLog(copy).segments[0]!;
    fs.truncateSync(seg.file, seg.validEnd - 7);
    const c = capture();
    expect(await main(['verify', copy], c.io)).toBe(1);
    const err = c.err.join('\n');
    expect(err).toMatch(/LOG_CORRUPTION_DETECTED: first bad seq 4004: .*anchored at seq 4004/);
    expect(err).toContain(`worldline repair ${copy} --truncate-from 4004`);
    const r = capture();
    expect(await main(['repair', copy, '--truncate-from', '4004'], r.io)).toBe(0);
    expect(r.out.join('\n')).toMatch(/log now ends at seq 4003; moved aside: .*00000000000000004004\.wlsnap\.broken/);
    const v = capture();
    expect(await main(['verify', copy], v.io)).toBe(0);
    expect(v.out[0]).toContain('last seq 4003,');
  });

  it('verify exits 1 on a log whose segments folder is gone but whose snapshot is there, saying to restore it', async () => {
    const copy = path.join(root, 'segments-lost');
    fs.cpSync(logDir, copy, { recursive: true });
    fs.rmSync(path.join(copy, 'segments'), { recursive: true });
    const c = capture();
    expect(await main(['verify', copy], c.io)).toBe(1);
    expect(c.err.join('\n')).toMatch(/^LOG_CORRUPTION_DETECTED: first bad seq 1: no segment is left, but snapshot 00000000000000004004\.wlsnap .* anchored at seq 4004.*To fix: restore .*segments from a backup/);
  });

  it('a folder whose only Worldline-looking part is a snapshots/ folder without a snapshot is no log, not "ok: 0 records"', async () => {
    const dir = path.join(root, 'only-empty-snapshots');
    fs.mkdirSync(path.join(dir, 'snapshots'), { recursive: true });
    for (const command of ['verify', 'inspect']) {
      const c = capture();
      expect(await main([command, dir], c.io), command).toBe(2);
      expect(c.out, command).toEqual([]);
      expect(c.err.at(-1), command).toContain(`${dir} holds no Worldline log`);
    }
  });

  it("every command's --help (or -h) prints the usage on stdout and exits 0, rather than an unknown-option error", async () => {
    for (const command of ['serve', 'token', 'worlds', 'demo', 'verify', 'inspect', 'repair', 'compact', 'keygen', 'replay']) {
      for (const flag of ['--help', '-h']) {
        const c = capture();
        expect(await main([command, flag], c.io), `${command} ${flag}`).toBe(0);
        expect(c.err).toEqual([]);
        expect(c.out.join('\n')).toContain(`  ${command} `);
      }
    }
    // After `--` it is an argument, not a flag.
    const c = capture();
    expect(await main(['verify', '--', '--help'], c.io)).toBe(2);
  });

  it('repair and compact on a log a live process holds: LOG_LOCKED saying to stop the server, not to pick a --data they do not take', async () => {
    const copy = path.join(root, 'locked');
    fs.cpSync(logDir, copy, { recursive: true });
    const held = await openLog(copy, { onFsyncFailure: 'fail' });
    try {
      for (const args of [['compact', copy], ['repair', copy, '--truncate-from', '10']]) {
        const c = capture();
        expect(await main(args, c.io), args[0]).toBe(1);
        expect(c.err[0]).toMatch(new RegExp(`^worldline: LOG_LOCKED \\(7005\\): .*locked is in use by a running server \\(process ${process.pid}\\); ${args[0]} needs the log to itself: stop that server first`));
        expect(c.err[0]).not.toContain('--data');
      }
    } finally {
      await held.close();
    }
  });

  it('bad usage exits 2 with a message that says what to do', async () => {
    const c = capture();
    expect(await main(['verify'], c.io)).toBe(2);
    expect(c.err[0]).toMatch(/CONFIG_INVALID \(7014\): expected exactly one log directory/);
    expect(await main(['inspect', logDir, '--from', 'abc'], c.io)).toBe(2);
    expect(await main(['verify', path.join(root, 'nope')], c.io)).toBe(2);
    expect(c.err.join('\n')).toMatch(/holds no Worldline log.*e\.g\. \.\/data\/worlds\/default/);
    // A server's data folder: the world logs in it are named.
    const data = path.join(root, 'data');
    fs.mkdirSync(path.join(data, 'worlds'), { recursive: true });
    fs.cpSync(logDir, path.join(data, 'worlds', 'lobby'), { recursive: true });
    expect(await main(['verify', data], c.io)).toBe(2);
    expect(c.err.at(-1)).toContain(`it is a server's data folder: pass one world's log, ${path.join(data, 'worlds', 'lobby')}`);
    // replay takes the same directory, and says the same.
    expect(await main(['replay', data], c.io)).toBe(2);
    expect(c.err.at(-1)).toContain(`it is a server's data folder: pass one world's log, ${path.join(data, 'worlds', 'lobby')}`);
    // The folder `demo --data` was given holds its log in demo/.
    const demoData = path.join(root, 'demo-data');
    fs.cpSync(logDir, path.join(demoData, 'demo'), { recursive: true });
    expect(await main(['verify', demoData], c.io)).toBe(2);
    expect(c.err.at(-1)).toContain(`it holds a log one level down: pass ${path.join(demoData, 'demo')}`);
    expect(await main(['frobnicate'], c.io)).toBe(2);
    expect(await main(['repair', logDir], c.io)).toBe(2);
  });
});
