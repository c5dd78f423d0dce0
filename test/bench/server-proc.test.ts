import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS } from '../../bench/arena/server-proc.js';

describe('server node flags', () => {
  it('the benches run the server with the V8 flags `npm start` gives it', () => {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    const start = pkg.scripts['start']!.split(/\s+/);
    expect(start[0]).toBe('node');
    const flags = start.slice(1, start.indexOf('bin/worldline.js'));
    expect(flags).toEqual([...SERVER_NODE_FLAGS]);
  });
});
