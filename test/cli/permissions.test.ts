/**
 * The log commands run by a user who may not read or write the log (not the server's user): each names the file and
 * what to do, exits 4, and prints no stack trace; a folder it may not list is never taken for an empty log ("ok, 0
 * records"). As root, the CLI runs as nobody (root itself passes every permission check); otherwise as this user,
 * to whom a mode of 000 denies its own files too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTempDirs, writeLog } from '../helpers/log.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const tempDir = useTempDirs('worldline-cli-perms-');
const asOther = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

/**
 * Whether the other user can run the CLI from this checkout at all: a clone under a folder only its owner may enter
 * (/root, mode 700) cannot be read by nobody, and every case would fail for that reason, not the one it tests.
 */
function otherUserCanRun(): boolean {
  if (!('uid' in asOther)) return true;
  const r = spawnSync(process.execPath, ['-e', 'require("fs").accessSync(process.argv[1], require("fs").constants.R_OK)', path.join(repo, 'node_modules', 'tsx', 'package.json')], { encoding: 'utf8', timeout: 10_000, ...asOther });
  return r.status === 0;
}
const runnable = otherUserCanRun();

/** Runs `worldline ...args` from source as the other user. */
function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/arena/serve-entry.ts', ...args], { cwd: repo, encoding: 'utf8', timeout: 60_000, ...asOther });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A log of 200 records in 4 KiB segments, in a folder the other user can reach. */
async function makeLog(): Promise<string> {
  const root = tempDir();
  fs.chmodSync(root, 0o755);
  const dir = path.join(root, 'log');
  await writeLog(dir, 200);
  return dir;
}

function expectDenied(r: ReturnType<typeof cli>, file: string): void {
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^worldline: cannot \w+ /);
  expect(r.stderr).toContain(` ${file}: permission denied (EACCES); run the command as the user that owns the log`);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.status).toBe(4);
}

// Skipped only where nobody cannot read this checkout (it says so in the test name).
describe.skipIf(!runnable)(`log commands on a log this user may not read or write${runnable ? '' : ' (skipped: uid 65534 cannot read this checkout)'}`, () => {
  it('a segments folder it may not list: verify, inspect and replay say so, and verify never reports an empty, valid log', async () => {
    const dir = await makeLog();
    const segments = path.join(dir, 'segments');
    fs.chmodSync(segments, 0o000);
    try {
      for (const command of ['verify', 'inspect', 'replay']) {
        const r = cli(command, dir);
        expect(r.stdout, command).not.toMatch(/^ok/);
        expectDenied(r, segments);
      }
    } finally {
      fs.chmodSync(segments, 0o755);
    }
  });

  it('a log folder it may not enter is not "no Worldline log here"', async () => {
    const dir = await makeLog();
    fs.chmodSync(dir, 0o000);
    try {
      const r = cli('verify', dir);
      expect(r.stderr).not.toContain('holds no Worldline log');
      expectDenied(r, path.join(dir, 'segments'));
    } finally {
      fs.chmodSync(dir, 0o755);
    }
  });

  it('one segment it may not read: verify names that file', async () => {
    const dir = await makeLog();
    const seg = fs.readdirSync(path.join(dir, 'segments')).filter((n) => n.endsWith('.wlseg')).sort()[1]!;
    const file = path.join(dir, 'segments', seg);
    fs.chmodSync(file, 0o000);
    try {
      expectDenied(cli('verify', dir), file);
    } finally {
      fs.chmodSync(file, 0o644);
    }
  });

  it('repair and compact in a folder it may not write: permission denied, and the log is unchanged', async () => {
    const dir = await makeLog();
    fs.chmodSync(dir, 0o555);
    try {
      const before = fs.readdirSync(path.join(dir, 'segments')).sort();
      for (const args of [['repair', dir, '--truncate-from', '150'], ['compact', dir]]) {
        const r = cli(...args);
        expect(r.status, args[0]).toBe(4);
        expect(r.stderr).toMatch(new RegExp(`^worldline: cannot open ${dir}/LOCK\\S*: permission denied \\(EACCES\\); run the command as the user that owns the log`));
        expect(r.stderr).not.toMatch(/\n\s+at /);
      }
      expect(fs.readdirSync(path.join(dir, 'segments')).sort()).toEqual(before);
    } finally {
      fs.chmodSync(dir, 0o755);
    }
    expect(cli('verify', dir).stdout).toMatch(/^ok: 200 records, last seq 200/);
  });

  it('serve with a data folder it may not write: exit 2, one CONFIG_INVALID line naming dataDir (not a log command\'s advice)', () => {
    const root = tempDir();
    fs.chmodSync(root, 0o755);
    const data = path.join(root, 'data');
    fs.mkdirSync(data, { mode: 0o555 });
    fs.chmodSync(data, 0o555);
    const r = cli('serve', '--port', '0', '--data', data);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`config dataDir: ${data} cannot be used as the data folder (EACCES: this user may not write it)`);
    expect(r.stderr).not.toMatch(/run the command as the user that owns the log/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
