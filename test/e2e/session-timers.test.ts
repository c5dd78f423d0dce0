/**
 * What a session leaves behind once closed. Node keeps a list per distinct timer wait; an unref'd timer's list stays
 * after clearTimeout until the wait would have ended. A session's token-expiry timer waits the token's time left,
 * another number of ms for each session: unref'd, every session that ever joined left a list (~0.2 KB) for as long as
 * its token was valid (up to days), so reconnecting clients grew the server's memory without bound.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const CHILD = fileURLToPath(new URL('./fixtures/timer-lists-child.ts', import.meta.url));

it('sessions that joined and left leave no timers behind', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-timers-'));
  try {
    const r = spawnSync(process.execPath, ['--expose-internals', '--import', 'tsx', CHILD, dir, '300'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { before: number; after: number; sessions: number };
    expect(out.sessions).toBe(300);
    // The server's own timers (tick loop, idle sweep, probes) use a few fixed waits.
    expect(out.after - out.before).toBeLessThan(10);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
