/**
 * What a bench leaves behind however it ends: the child processes it started (servers, load generators, providers)
 * are killed and its scratch directories removed, at a normal exit, after an uncaught error, and on SIGINT, SIGTERM
 * or SIGHUP. Node ends a process on those signals without its 'exit' event, so without the handlers here a runner
 * stopped on its own (a CI job's timeout, `kill PID`, a closed terminal) left its server running as an orphan with
 * its data directory, and the next run met a busy machine.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

const children = new Set<ChildProcess>();
const scratch = new Set<string>();
let guarded = false;

/** How long a signalled runner waits for its killed children to be gone before it exits anyway. */
const REAP_MS = 3000;

function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

function removeScratch(): void {
  for (const d of scratch) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort at exit: a directory that cannot go now is left, as before
    }
  }
}

/** Installs the exit and signal handlers once, the first time something needs cleaning up. */
function guard(): void {
  if (guarded) return;
  guarded = true;
  process.on('exit', () => {
    killChildren();
    removeScratch();
  });
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      const left = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
      console.error(`\nbench: ${signal}: stopping ${left.length} child process(es) and exiting`);
      // Killed children are waited for (bounded), so their files are closed before their directories go.
      const gone = Promise.all(left.map((c) => new Promise<void>((r) => c.once('exit', () => r()))));
      killChildren();
      const timer = setTimeout(() => process.exit(code), REAP_MS);
      void gone.then(() => {
        clearTimeout(timer);
        process.exit(code);
      });
    });
  }
}

/** Registers a child process so it is killed when the bench exits, however it exits. */
export function track(c: ChildProcess): void {
  guard();
  children.add(c);
  c.once('exit', () => children.delete(c));
}

/** Registers a scratch directory so it is removed when the bench exits (removing it earlier is still the bench's job). */
export function removeAtExit(dir: string): void {
  guard();
  scratch.add(dir);
}
