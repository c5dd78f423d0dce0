/**
 * A FileLayer that wraps the real one and misbehaves on request: short writes, ENOSPC after a byte budget (with the
 * short write a full disk really gives first), EIO, failing fsync, and gates that hold an operation until released
 * so a test can act inside a window deterministically.
 */
import fs from 'node:fs';
import { nodeFileLayer, type FileLayer } from '../../server/log/index.js';

export function errnoError(code: string, what: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: injected fault in ${what}`) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

export interface Gate {
  /** Resolves when an operation reaches the gate. */
  readonly reached: Promise<void>;
  release(): void;
}

function makeGate(): Gate & { wait(): Promise<void> } {
  let arrive!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((r) => (arrive = r));
  const opened = new Promise<void>((r) => (open = r));
  return {
    reached,
    release: () => open(),
    wait: () => {
      arrive();
      return opened;
    },
  };
}

export class FaultyFiles implements FileLayer {
  private readonly paths = new Map<number, string>();
  /** Each write(2) writes at most this many bytes. */
  maxWriteBytes: number | undefined;
  /** Bytes the "disk" still accepts; a write past it is short, the next one fails with ENOSPC. */
  spaceLeft: number | undefined;
  /** Every write fails with this errno (e.g. 'EIO'). */
  writeError: string | undefined;
  /** Only writes this accepts (by the path the fd was opened with, and file position) get spaceLeft / writeError. */
  faultIf: (path: string, position: number) => boolean = () => true;
  /** fsync and fdatasync fail with this errno. */
  syncError: string | undefined;
  writes = 0;
  syncs = 0;
  /** Size of each file (by path) at its last fsync/fdatasync: what a machine crash would leave of it. */
  readonly syncedSizes = new Map<string, number>();
  private truncateGate: (Gate & { wait(): Promise<void> }) | undefined;
  private writeGate: (Gate & { wait(): Promise<void> }) | undefined;

  constructor(private readonly inner: FileLayer = nodeFileLayer) {}

  /** Clears every injected fault (the disk works again). */
  heal(): void {
    this.maxWriteBytes = this.spaceLeft = this.writeError = this.syncError = undefined;
    this.faultIf = () => true;
  }

  /** The next ftruncate waits at this gate until released. */
  gateNextTruncate(): Gate {
    this.truncateGate = makeGate();
    return this.truncateGate;
  }

  /** The next write waits at this gate until released (then proceeds under the faults in force at that time). */
  gateNextWrite(): Gate {
    this.writeGate = makeGate();
    return this.writeGate;
  }

  async open(path: string, flags: string): Promise<number> {
    const fd = await this.inner.open(path, flags);
    this.paths.set(fd, path);
    return fd;
  }

  async write(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    this.writes++;
    const gate = this.writeGate;
    if (gate) {
      this.writeGate = undefined;
      await gate.wait();
    }
    let n = length;
    if (this.maxWriteBytes !== undefined) n = Math.min(n, this.maxWriteBytes);
    const path = this.paths.get(fd) ?? '';
    if (this.faultIf(path, position)) {
      if (this.writeError !== undefined) throw errnoError(this.writeError, `write to ${path}`);
      if (this.spaceLeft !== undefined) {
        if (this.spaceLeft <= 0) throw errnoError('ENOSPC', `write to ${path}`);
        n = Math.min(n, this.spaceLeft);
        this.spaceLeft -= n;
      }
    }
    return this.inner.write(fd, buf, offset, n, position);
  }

  async fsync(fd: number): Promise<void> {
    this.syncs++;
    if (this.syncError !== undefined) throw errnoError(this.syncError, 'fsync');
    this.noteSynced(fd);
    return this.inner.fsync(fd);
  }

  async fdatasync(fd: number): Promise<void> {
    this.syncs++;
    if (this.syncError !== undefined) throw errnoError(this.syncError, 'fdatasync');
    this.noteSynced(fd);
    return this.inner.fdatasync(fd);
  }

  private noteSynced(fd: number): void {
    const path = this.paths.get(fd);
    if (path !== undefined) this.syncedSizes.set(path, fs.fstatSync(fd).size);
  }

  async ftruncate(fd: number, length: number): Promise<void> {
    const gate = this.truncateGate;
    if (gate) {
      this.truncateGate = undefined;
      await gate.wait();
    }
    return this.inner.ftruncate(fd, length);
  }

  async close(fd: number): Promise<void> {
    this.paths.delete(fd);
    return this.inner.close(fd);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.inner.rename(from, to);
    for (const [fd, p] of this.paths) if (p === from) this.paths.set(fd, to);
    const synced = this.syncedSizes.get(from);
    if (synced !== undefined) this.syncedSizes.set(to, synced);
  }

  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }

  fsyncDir(path: string): Promise<void> {
    if (this.syncError !== undefined) return Promise.reject(errnoError(this.syncError, 'fsync of a directory'));
    return this.inner.fsyncDir(path);
  }
}
