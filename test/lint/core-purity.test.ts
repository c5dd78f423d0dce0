import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The core must stay pure: the lint rule that enforces it is itself tested, so it cannot silently stop working.
describe('core purity lint rule', () => {
  const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });
  const lint = async (file: string, code: string): Promise<string[]> => {
    const [r] = await eslint.lintText(code, { filePath: file });
    return (r?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  };

  it.each([
    ["import { openLog } from '../log/index.js';", 'log'],
    ["import type { X } from '../transport/server.js';", 'transport'],
    ["import { metrics } from '../obs/metrics.js';", 'obs'],
    ["import fs from 'node:fs';", 'file system'],
    ["import net from 'net';", 'network'],
    ["import pino from 'pino';", 'observability'],
    ["import uws from 'uWebSockets.js';", 'transport'],
  ])('rejects %s in server/core', async (code, word) => {
    const msgs = await lint('server/core/example.ts', `${code}\nexport const x = 1;\n`);
    expect(msgs.length).toBe(1);
    expect(msgs[0]).toContain(word);
  });

  it('allows the same imports outside the core, and pure imports inside it', async () => {
    expect(await lint('server/log/example.ts', "import fs from 'node:fs';\nexport const x = fs;\n")).toEqual([]);
    expect(await lint('server/core/example.ts', "import type { Clock } from './ports.js';\nimport { hash } from 'node:crypto';\nexport const x = (c: Clock) => hash('sha256', String(c.now()));\n")).toEqual([]);
  });
});
