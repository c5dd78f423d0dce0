/** docs/protocol.md and docs/asyncapi.yaml describe every message of the model, in the right direction. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCatalogue } from '../../server/errors.js';
import { ClientMessageType, ServerMessageType, SUBPROTOCOLS } from '../../server/protocol/index.js';
import { worldNotFound } from '../../server/transport/http.js';

const read = (p: string): string => fs.readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

/** The lines of a top-level-indented YAML block (by its key line) up to the next line at the same or less indent. */
function yamlBlock(text: string, keyLine: RegExp): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => keyLine.test(l));
  expect(start, `block ${keyLine}`).toBeGreaterThanOrEqual(0);
  const indent = (lines[start] as string).search(/\S/);
  const end = lines.findIndex((l, i) => i > start && l.trim() !== '' && l.search(/\S/) <= indent);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

describe('protocol docs', () => {
  const md = read('docs/protocol.md');
  const yaml = read('docs/asyncapi.yaml');
  const client = Object.values(ClientMessageType);
  const server = Object.values(ServerMessageType);

  it('protocol.md has a row for every message and names every subprotocol', () => {
    for (const t of [...client, ...server]) expect(md, t).toMatch(new RegExp(`^\\| \`${t}\` \\|`, 'm'));
    for (const s of SUBPROTOCOLS) expect(md).toContain(`\`${s}\``);
  });

  it('asyncapi.yaml is AsyncAPI 3.0 with the endpoint, and lists each message once in the right operation', () => {
    expect(yaml).toMatch(/^asyncapi: 3\.0\.0$/m);
    expect(yaml).toContain('address: /v1/worlds/{worldId}/ws');
    const channelMessages = [...yamlBlock(yaml, /^ {4}messages:$/).matchAll(/^ {6}(\w+): \{ \$ref: '#\/components\/messages\/(\w+)' \}$/gm)];
    // A message both directions carry (close) is listed once and referenced by both operations.
    expect(channelMessages.map((m) => m[1]).sort()).toEqual([...new Set([...client, ...server])].sort());
    const opMessages = (op: string): string[] => [...yamlBlock(yaml, new RegExp(`^ {2}${op}:$`)).matchAll(/#\/channels\/world\/messages\/(\w+)/g)].map((m) => m[1] as string);
    expect(opMessages('receiveClientFrames').sort()).toEqual([...client].sort());
    expect(opMessages('sendServerFrames').sort()).toEqual([...server].sort());
    for (const t of [...client, ...server]) expect(yaml, `schema for ${t}`).toContain(`type: { const: ${t} }`);
  });

  it("asyncapi.yaml's message schemas have every field the golden frames carry", () => {
    /** A schema's property names: its own (`properties:` lines) and those of the schemas its allOf refers to. */
    const propsOf = (name: string): string[] => {
      const block = yamlBlock(yaml, new RegExp(`^ {4}${name}:$`));
      // Properties sit at indent 8 (plain schemas) or 12 (an allOf's inline object, which names only `type`).
      const own = [...block.matchAll(/^(?: {8}| {12})(\w+):/gm)].map((m) => m[1] as string);
      const refs = [...block.matchAll(/^ {8}- \$ref: '#\/components\/schemas\/(\w+)'$/gm)].map((m) => propsOf(m[1] as string));
      return [...own, ...refs.flat()];
    };
    const dir = new URL('../fixtures/frames/v1/source/', import.meta.url);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) {
      const msg = (JSON.parse(fs.readFileSync(new URL(f, dir), 'utf8')) as { message: Record<string, unknown> }).message;
      const schema = new RegExp(`^ {4}${String(msg['type'])}:\\n(?: {6}.*\\n)*? {6}payload: \\{ \\$ref: '#\\/components\\/schemas\\/(\\w+)' \\}`, 'm').exec(yaml)?.[1];
      expect(schema, `asyncapi message for ${f}`).toBeDefined();
      const props = propsOf(schema!);
      for (const k of Object.keys(msg)) expect(props, `${f}: ${schema}.${k}`).toContain(k);
    }
  });
});

describe("protocol.md's table of refused WebSocket upgrades", () => {
  const md = read('docs/protocol.md');
  const table = /The server may refuse the\s+upgrade itself[\s\S]*?\n\n(\|[\s\S]*?)\n\n/.exec(md)?.[1] ?? '';
  const rows = new Map([...table.matchAll(/^\| (\d{3}) \| `(\w+)`[^|]*\| ([^|]*) \|/gm)].map((m) => [m[2]!, { status: m[1]!, when: m[3]! }]));

  it('has a row for every error the upgrade handler refuses with, at its status', () => {
    const src = read('server/transport/server.ts');
    const upgrade = src.slice(src.indexOf('upgrade: (res, req, context) => {'), src.indexOf('open: (ws) => {'));
    const codes = new Set([...upgrade.matchAll(/new WorldlineError\('(\w+)'/g)].map((m) => m[1]!));
    if (upgrade.includes('worldNotFound(')) codes.add('WORLD_NOT_FOUND');
    if (upgrade.includes('.refusal(')) codes.add('AGENT_QUARANTINED');
    expect(codes.size).toBeGreaterThan(4);
    for (const code of codes) {
      expect(rows.has(code), `${code} in the table`).toBe(true);
      expect(rows.get(code)?.status, code).toBe(String(ErrorCatalogue[code as keyof typeof ErrorCatalogue].http));
    }
  });

  it('says what WORLD_NOT_FOUND says: it names no hosted world (another tenant\'s ids are not for anyone to read)', () => {
    expect(worldNotFound('west').message).not.toMatch(/hosts/);
    expect(rows.get('WORLD_NOT_FOUND')?.when).not.toMatch(/names the hosted/);
  });
});
