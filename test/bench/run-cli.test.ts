/** bench/run.ts as a user meets it: a bad option is a clear message and exit 2, never a stack trace or a silent run. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const runTs = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.ts');
const bench = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', runTs, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('bench/run.ts options', () => {
  it.each([
    [['arena', '--clients', 'abc'], /bench arena: --clients must be a number >= 1, got "abc"/],
    [['arena', '--clinets', '5'], /bench arena: Unknown option '--clinets'/],
    [['--smoke', 'host', '--agent', '50'], /bench host: Unknown option '--agent'.*--agents N/],
    [['--smoke', 'cancel', '--agent', '5'], /bench cancel: Unknown option '--agent'.*--agents N/],
  ])('%j: exit 2 with the message alone', (args, message) => {
    const r = bench(...args);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.status).toBe(2);
  }, 70_000);
});
