/**
 * Where the server's log lines go by default: a file descriptor (stdout), written asynchronously and in order. Once
 * a write fails for good (EPIPE: `serve | head -1`, or `serve | tee` with tee killed by the same Ctrl-C) the reader is
 * gone, and every line after it is dropped: the server runs on and shuts down as usual.
 *
 * pino's own destination (sonic-boom) is not used for this: its synchronous flush at exit retries any failed write
 * for ever, so a process exiting with a line still buffered for a pipe without a reader hung in Atomics.wait, deaf
 * to SIGTERM.
 */
import fs from 'node:fs';
import type { DestinationStream } from 'pino';

/** How long the flush at exit waits, in all, for a full pipe to take the rest (EAGAIN) before dropping it. */
const EXIT_FLUSH_MS = 1000;
/** Wait before a write that found the pipe full (EAGAIN) is tried again. */
const RETRY_MS = 10;
/**
 * Characters of lines waiting for a slow reader, at most: past it lines are dropped (and counted, in a line written
 * once the reader catches up), so a reader that falls behind cannot grow the server's memory without bound.
 */
export const MAX_PENDING_CHARS = 16 * 1024 * 1024;

export class LogSink implements DestinationStream {
  private pending: string[] = [];
  /** Bytes handed to fs.write and not yet confirmed written (undefined when none is in flight). */
  private inFlight: Buffer | undefined;
  /** Bytes a full pipe refused (EAGAIN), tried again shortly: on a timer that does not keep the process alive. */
  private retry: Buffer | undefined;
  private gone = false;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly fd = 1) {}

  /** True once a write failed for good: lines are dropped from then on. */
  get closed(): boolean {
    return this.gone;
  }

  private pendingChars = 0;
  private dropped = 0;

  /**
   * Characters held for the reader (bounded by MAX_PENDING_CHARS): lines waiting, and the bytes of the write in flight
   * or waiting to be retried, which leave the pending list when they are handed to fs.write but stay in memory until
   * the reader takes them. And lines dropped since it fell behind.
   */
  get backlog(): { chars: number; dropped: number } {
    return { chars: this.held(), dropped: this.dropped };
  }

  private held(): number {
    return this.pendingChars + (this.inFlight?.length ?? 0) + (this.retry?.length ?? 0);
  }

  write(line: string): void {
    if (this.gone) return;
    // The reader caught up: say what it missed, in the log's own format, before the next line. The note counts toward
    // the bound as the line does (a write in flight that shrank by a partial write made room for the line alone).
    const note = this.dropped > 0 ? `{"level":40,"time":${Date.now()},"msg":"log lines dropped: the reader of the server's output fell behind","dropped":${this.dropped}}\n` : '';
    if (this.held() + note.length + line.length > MAX_PENDING_CHARS) {
      this.dropped++;
      return;
    }
    if (note !== '') {
      this.dropped = 0;
      this.pending.push(note);
      this.pendingChars += note.length;
    }
    this.pending.push(line);
    this.pendingChars += line.length;
    if (this.inFlight === undefined && this.retry === undefined) this.next();
  }

  /** Calls back (and resolves) once every line written so far is out, or dropped with the reader gone (pino's logger.flush). */
  flush(cb?: (err?: Error) => void): Promise<void> {
    const done = this.gone || (this.inFlight === undefined && this.retry === undefined && this.pending.length === 0)
      ? Promise.resolve()
      : new Promise<void>((resolve) => this.waiters.push(resolve));
    if (cb) void done.then(() => cb());
    return done;
  }

  /**
   * Writes what is still buffered synchronously, for when the process exits without an event loop to finish it. A
   * failed write drops the rest, and a pipe that stays full drops it after EXIT_FLUSH_MS: never a hang. A write in
   * flight may be lost.
   */
  flushSync(): void {
    if (this.gone || (this.retry === undefined && this.pending.length === 0)) return;
    let buf = Buffer.concat([this.retry ?? Buffer.alloc(0), Buffer.from(this.pending.join(''))]);
    this.retry = undefined;
    this.pending = [];
    this.pendingChars = 0;
    const deadline = Date.now() + EXIT_FLUSH_MS;
    while (buf.length > 0) {
      try {
        buf = buf.subarray(fs.writeSync(this.fd, buf));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() >= deadline) return this.drop();
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_MS);
      }
    }
  }

  private next(): void {
    if (this.pending.length === 0) {
      for (const w of this.waiters.splice(0)) w();
      return;
    }
    this.send(Buffer.from(this.pending.length === 1 ? (this.pending[0] as string) : this.pending.join('')));
    this.pending = [];
    this.pendingChars = 0;
  }

  private send(buf: Buffer): void {
    this.inFlight = buf;
    fs.write(this.fd, buf, 0, buf.length, null, (err, written) => {
      this.inFlight = undefined;
      if (this.gone) return;
      if (err) {
        if (err.code !== 'EAGAIN') return this.drop();
        this.retry = buf;
        setTimeout(() => {
          if (this.retry === undefined || this.gone) return;
          this.retry = undefined;
          this.send(buf);
        }, RETRY_MS).unref();
        return;
      }
      if (written < buf.length) return this.send(buf.subarray(written));
      this.next();
    });
  }

  private drop(): void {
    this.gone = true;
    this.pending = [];
    this.pendingChars = 0;
    this.retry = undefined;
    for (const w of this.waiters.splice(0)) w();
  }
}

let stdoutSink: LogSink | undefined;

/** The process's one sink on stdout, flushed (boundedly) when the process exits. */
export function stdoutLogSink(): LogSink {
  if (stdoutSink === undefined) {
    const sink = new LogSink(1);
    process.once('exit', () => sink.flushSync());
    stdoutSink = sink;
  }
  return stdoutSink;
}
