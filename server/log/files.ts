/**
 * The file layer the log writes through. Production uses node:fs; tests inject one that writes short, fails with
 * ENOSPC or EIO, or fails fsync, to prove the log's handling of each.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface FileLayer {
  open(path: string, flags: string): Promise<number>;
  /** One write(2): may write fewer bytes than asked. Returns the count written. */
  write(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  fsync(fd: number): Promise<void>;
  fdatasync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  close(fd: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsync a directory so a rename or create in it is durable. */
  fsyncDir(path: string): Promise<void>;
}

const cb = <T>(fn: (done: (err: NodeJS.ErrnoException | null, v?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));

/** The real file layer: callback fs (cheaper than fs/promises on the hot path). */
export const nodeFileLayer: FileLayer = {
  open: (path, flags) => cb<number>((d) => fs.open(path, flags, 0o644, d)),
  write: (fd, buf, offset, length, position) => cb<number>((d) => fs.write(fd, buf, offset, length, position, d)),
  fsync: (fd) => cb<void>((d) => fs.fsync(fd, d)),
  fdatasync: (fd) => cb<void>((d) => fs.fdatasync(fd, d)),
  ftruncate: (fd, length) => cb<void>((d) => fs.ftruncate(fd, length, d)),
  close: (fd) => cb<void>((d) => fs.close(fd, d)),
  rename: (from, to) => cb<void>((d) => fs.rename(from, to, d)),
  unlink: (path) => cb<void>((d) => fs.unlink(path, d)),
  fsyncDir: async (path) => {
    const fd = await cb<number>((d) => fs.open(path, 'r', d));
    try {
      await cb<void>((d) => fs.fsync(fd, d));
    } finally {
      await cb<void>((d) => fs.close(fd, d));
    }
  },
};

/** Writes all of buf[offset, offset+length) at `position`, looping on short writes. */
export async function writeFully(files: FileLayer, fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const n = await files.write(fd, buf, offset + done, length - done, position + done);
    if (n <= 0) {
      const err = new Error(`write returned ${n} with ${length - done} bytes left`) as NodeJS.ErrnoException;
      err.code = 'EIO';
      throw err;
    }
    done += n;
  }
}

export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * mkdir -p, durably: each directory it creates is fsynced (so the entries made in it survive a power loss) and so is
 * the existing directory the new chain hangs from (so the first new directory's own entry does). A log's first
 * record is acknowledged as durable only after an fsync of its segment file and of the segments directory, which is
 * worth nothing if the directory itself can vanish with the crash. Returns the directories it fsynced, innermost
 * first; none when everything existed.
 */
export function mkdirDurableSync(dir: string, fsyncDir: (dir: string) => void = fsyncDirSync): string[] {
  const first = fs.mkdirSync(dir, { recursive: true });
  if (first === undefined) return [];
  const synced: string[] = [];
  const stop = path.dirname(path.resolve(first));
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    fsyncDir(d);
    synced.push(d);
    if (d === stop || path.dirname(d) === d) break;
  }
  return synced;
}

/** Errors after which the disk may accept writes again later (space freed, transient device error). */
export function isWriteSpaceError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EIO' || code === 'EDQUOT' || code === 'EFBIG';
}

/**
 * The files in `dir` whose names match `pattern`, sorted by name, as full paths; none when the folder does not exist
 * (a log without snapshots yet, a directory that is not a log). A folder that exists but cannot be read (EACCES) is an
 * error: taken for an empty one, a log nobody may read would verify as "ok, 0 records".
 */
export function filesMatching(dir: string, pattern: RegExp): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => pattern.test(n)).sort().map((n) => path.join(dir, n));
}
