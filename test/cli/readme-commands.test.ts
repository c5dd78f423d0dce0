/**
 * The README's "Command line" block against the CLI's own usage (`worldline --help`): each command the README lists
 * exists, names no flag the CLI does not take, and leaves out none of the flags on the command's first usage line. A
 * flag added to, or renamed in, the CLI without the README (or the other way round) fails here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../../server/cli/main.js';

const readme = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');
const block = /## Command line\n\n```\n([\s\S]*?)\n```/.exec(readme)?.[1] ?? '';
const flags = (s: string): string[] => [...new Set(s.match(/--[a-z][a-z-]*/g) ?? [])].sort();

async function usage(): Promise<string> {
  const out: string[] = [];
  expect(await main(['--help'], { out: (s) => out.push(s), err: () => undefined })).toBe(0);
  return out.join('\n');
}

/** Each command's usage lines, from `  CMD ...` up to the next command: its first line and all its flag lines. */
function usageByCommand(text: string): Map<string, { first: string; all: string }> {
  const m = new Map<string, { first: string; all: string }>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const head = /^ {2}([a-z]+) (.*)$/.exec(line);
    if (head) {
      current = head[1]!;
      // The description starts after a run of spaces; only the synopsis before it names flags.
      const synopsis = head[2]!.split(/\s{3,}/)[0]!;
      m.set(current, { first: synopsis, all: synopsis });
    } else if (current && /^ {9}\[/.test(line)) {
      const e = m.get(current)!;
      m.set(current, { first: e.first, all: `${e.all} ${line}` });
    } else if (!/^ {10,}/.test(line)) {
      current = undefined;
    }
  }
  return m;
}

describe("the README's command line", () => {
  it('lists the commands with the flags the CLI takes', async () => {
    const real = usageByCommand(await usage());
    expect(real.size).toBeGreaterThanOrEqual(10);
    const lines = block.split('\n').filter((l) => /^worldline [a-z]/.test(l));
    const listed = lines.map((l) => /^worldline ([a-z]+)/.exec(l)![1]!);
    expect(listed.sort()).toEqual([...real.keys()].sort());
    for (const line of lines) {
      const command = /^worldline ([a-z]+)/.exec(line)![1]!;
      // The README line's synopsis, before its description (two or more spaces).
      const synopsis = line.split(/\s{3,}/)[0]!;
      const u = real.get(command)!;
      for (const f of flags(synopsis)) expect(flags(u.all), `README: worldline ${command} ${f}`).toContain(f);
      for (const f of flags(u.first)) expect(flags(synopsis), `worldline --help: ${command} ${f}, missing from the README`).toContain(f);
    }
  });
});
