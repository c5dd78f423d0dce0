/**
 * Exclusive lock on a data directory. Node has no flock, so the lock is a file created with O_EXCL holding the
 * owner's pid and process start time; a lock whose owner is gone (kill -9) is stale and taken over by renaming it
 * aside first, which only one contender can do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WorldlineError } from '../errors.js';

const LOCK_NAME = 'LOCK';

/** Start time of a process in clock ticks since boot, from /proc; undefined where /proc is unavailable. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counted after the parenthesised command name, which may itself contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function isAlive(pid: number, startTime: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // A recycled pid runs a different process: its start time differs.
  const now = processStartTime(pid);
  return startTime === undefined || now === undefined || now === startTime;
}

export interface DirLock {
  release(): void;
}

/** Takes the lock on dir, or throws LOG_LOCKED naming the holder. */
export function lockDir(dir: string): DirLock {
  const file = path.join(dir, LOCK_NAME);
  const mine = JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) ?? null, host: process.env['HOSTNAME'] ?? null });
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.writeFileSync(file, mine, { flag: 'wx' });
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
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: { pid?: number; start?: string | null } = {};
    try {
      holder = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof holder;
    } catch {
      // Unreadable or half-written lock: treat as stale below.
    }
    if (typeof holder.pid === 'number' && isAlive(holder.pid, holder.start ?? undefined)) {
      throw new WorldlineError('LOG_LOCKED', `data directory ${dir} is locked by running process ${holder.pid}; stop it or use another --data directory`, { dir, pid: holder.pid });
    }
    try {
      fs.renameSync(file, `${file}.stale-${process.pid}`);
      fs.unlinkSync(`${file}.stale-${process.pid}`);
    } catch {
      // Another contender took it over first; loop and try again.
    }
  }
  throw new WorldlineError('LOG_LOCKED', `could not take the lock on ${dir}: another process keeps taking it`, { dir });
}
