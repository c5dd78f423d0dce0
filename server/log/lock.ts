/**
 * Exclusive lock on a data directory. Node has no flock, so the lock is a file holding the owner's pid and process
 * start time, created whole (written aside, then hard-linked into place: it fails if the lock exists, and no one
 * ever reads a half-written lock). A lock whose owner is gone (kill -9) is stale and taken over by renaming it aside
 * and checking that the file moved is the one judged stale (a contender that moved a fresh lock puts it back).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WorldlineError } from '../errors.js';

const LOCK_NAME = 'LOCK';

/** Fields 3 on of /proc/PID/stat (from the state on), after the parenthesised command name, which may hold spaces. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Start time of a process in clock ticks since boot (field 22), from /proc; undefined where /proc is unavailable. */
function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

function isAlive(pid: number, startTime: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const stat = procStat(pid);
  // A process killed (kill -9) but not yet reaped by its parent is a zombie: it still answers kill(pid, 0) and has its
  // /proc entry, yet holds nothing (kill -9 and exit end all of a Node process's threads at once). A restart right
  // after a kill -9, while the parent has not reaped it yet (for about a second in some containers), must not be refused.
  if (stat?.[0] === 'Z' || stat?.[0] === 'X') return false;
  // A recycled pid runs a different process: its start time differs.
  const now = stat?.[19];
  return startTime === undefined || now === undefined || now === startTime;
}

export interface DirLock {
  release(): void;
}

export interface LockOptions {
  /** Test seam: runs after a lock was judged stale and before it is moved aside (another contender's moment). */
  readonly beforeTakeover?: () => void;
}

/** Creates `file` holding `content` only if it does not exist: written aside, then hard-linked (never seen empty). */
function createWith(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, content, { flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function readLock(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Takes the lock on dir, or throws LOG_LOCKED naming the holder. */
export function lockDir(dir: string, opts: LockOptions = {}): DirLock {
  const file = path.join(dir, LOCK_NAME);
  const mine = JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) ?? null, host: process.env['HOSTNAME'] ?? null });
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createWith(file, mine)) {
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          try {
            if (fs.readFileSync(file, 'utf8') === mine) fs.unlinkSync(file);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    }
    const seen = readLock(file);
    if (seen === undefined) continue;
    let holder: { pid?: number; start?: string | null } = {};
    try {
      holder = JSON.parse(seen) as typeof holder;
    } catch {
      // Unreadable lock (written by something else, or damaged): stale. Ours are never seen half-written.
    }
    if (typeof holder.pid === 'number' && isAlive(holder.pid, holder.start ?? undefined)) {
      throw new WorldlineError('LOG_LOCKED', `data directory ${dir} is locked by running process ${holder.pid}; stop it or use another --data directory`, { dir, pid: holder.pid });
    }
    // Take the stale lock over: move it aside (only one contender can move a given file), then check that what moved
    // is the stale lock that was judged. Another contender may have taken it over first and made its own lock, which
    // this rename then moved: put that one back, so its owner keeps the lock, and look again.
    opts.beforeTakeover?.();
    const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      continue; // Gone already (taken over, or released): look again.
    }
    const moved = readLock(aside);
    if (moved !== seen) {
      try {
        fs.linkSync(aside, file);
      } catch {
        // A third contender made a lock meanwhile; it holds the directory now, and the loop will see it.
      }
    }
    fs.rmSync(aside, { force: true });
  }
  throw new WorldlineError('LOG_LOCKED', `could not take the lock on ${dir}: another process keeps taking it`, { dir });
}
