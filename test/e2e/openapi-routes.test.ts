/**
 * docs/openapi.yaml against the HTTP endpoints the server registers, both ways: every route server/transport
 * registers is in the document and every operation the document lists is registered; a real server answers each one
 * with the success status the document gives it, its content type and the fields its schema requires; a call without
 * a token is refused with 401 and the error body every refusal has (`default: Error`), except where the document
 * says no token is needed; and a body field of the wrong type is refused as the document types it, not read as
 * something the client did not send.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sharedTestServer, token, type TestServer } from './harness.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (p: string): string => fs.readFileSync(path.join(root, p), 'utf8');
const openapi = read('docs/openapi.yaml');

interface Operation {
  /** The operation's lines, up to the next operation or path. */
  readonly block: string;
  /** Its response codes ('200', '201', 'default', ...). */
  readonly responses: string[];
  /** security: [] (no token needed). */
  readonly open: boolean;
}

/** The document's operations by "METHOD /path" (the paths section, 2-space paths, 4-space methods). */
function documented(): Map<string, Operation> {
  const lines = openapi.slice(0, openapi.indexOf('\ncomponents:')).split('\n');
  const ops = new Map<string, Operation>();
  let at = '';
  for (let i = 0; i < lines.length; i++) {
    const p = /^ {2}(\/\S*):$/.exec(lines[i]!);
    if (p) at = p[1]!;
    const m = /^ {4}(get|post|delete|put|patch):$/.exec(lines[i]!);
    if (!m) continue;
    const end = lines.findIndex((l, j) => j > i && /^ {0,4}\S/.test(l));
    const block = lines.slice(i + 1, end < 0 ? undefined : end).join('\n');
    const responses = [...block.matchAll(/^ {8}(?:'(\d{3})'|(default)):/gm)].map((r) => r[1] ?? r[2]!);
    ops.set(`${m[1]!.toUpperCase()} ${at}`, { block, responses, open: /^ {6}security: \[\]$/m.test(block) });
  }
  return ops;
}

/** The routes server/transport registers on the uWS app, as "METHOD /path" with {params}. */
function registered(): string[] {
  const out: string[] = [];
  for (const file of ['server/transport/server.ts', 'server/transport/rest.ts']) {
    for (const m of read(file).matchAll(/\bapp\.(get|post|del|put|patch)\('([^']+)'/g)) {
      out.push(`${m[1] === 'del' ? 'DELETE' : m[1]!.toUpperCase()} ${m[2]!.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return out;
}

/** A components schema's `required: [...]`, if it has one. */
function requiredOf(schema: string): string[] {
  const at = openapi.search(new RegExp(`^ {4}${schema}:$`, 'm'));
  expect(at, `openapi.yaml schema ${schema}`).toBeGreaterThanOrEqual(0);
  const block = openapi.slice(at).split('\n').slice(1);
  const end = block.findIndex((l) => /^ {0,4}\S/.test(l));
  return /required: \[([^\]]*)\]/.exec(block.slice(0, end).join('\n'))?.[1]?.split(',').map((s) => s.trim()) ?? [];
}

/** The lines of one response of an operation (`'200':` and what is indented under it). */
function responseBlock(op: Operation, status: string): string {
  const lines = op.block.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`        '${status}':`));
  const end = lines.findIndex((l, i) => i > start && /^ {0,8}\S/.test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/**
 * What a success answer must hold: the `required` lists of its response (its own, or its $ref schema's), any one of
 * them for a oneOf; none when it names none.
 */
function requiredFor(op: Operation, status: string): string[][] {
  const text = responseBlock(op, status);
  const ref = /\$ref: '#\/components\/schemas\/(\w+)'/.exec(text)?.[1];
  const lists = [...text.matchAll(/required: \[([^\]]*)\]/g)].map((m) => m[1]!.split(',').map((s) => s.trim()));
  if (ref !== undefined && lists.length === 0) return [requiredOf(ref)];
  return /oneOf/.test(text) ? lists : lists.slice(0, 1);
}

interface Call {
  readonly path: string;
  readonly body?: unknown;
  /** 'admin' (default) or 'agent' (agent oa-agent). */
  readonly as?: 'admin' | 'agent';
}

/** One successful call of each documented operation, in an order that works (create before delete, spawn first). */
const calls: Array<[string, Call]> = [
  ['GET /livez', { path: '/livez' }],
  ['GET /readyz', { path: '/readyz' }],
  ['GET /metrics', { path: '/metrics' }],
  ['GET /v1/worlds', { path: '/v1/worlds' }],
  ['POST /v1/worlds', { path: '/v1/worlds', body: { id: 'oa-made', world: 'arena' } }],
  ['GET /v1/worlds/{worldId}', { path: '/v1/worlds/default' }],
  ['DELETE /v1/worlds/{worldId}', { path: '/v1/worlds/oa-made?purge=true' }],
  ['GET /v1/worlds/{worldId}/sessions', { path: '/v1/worlds/default/sessions' }],
  ['GET /v1/worlds/{worldId}/quarantine', { path: '/v1/worlds/default/quarantine' }],
  ['DELETE /v1/worlds/{worldId}/quarantine/{key}', { path: '/v1/worlds/default/quarantine/oa-agent' }],
  ['POST /v1/worlds/{worldId}/intents', { as: 'agent', path: '/v1/worlds/default/intents', body: { intent: { req_id: 'oa-spawn', kind: 'Spawn', payload: { entity_id: 'oa-agent', fields: { x: 10, y: 10 } }, context_seq: 0 } } }],
  ['POST /v1/worlds/{worldId}/intents/{reqId}/cancel', { as: 'agent', path: '/v1/worlds/default/intents/oa-spawn/cancel', body: {} }],
  ['POST /v1/worlds/{worldId}/emit', { path: '/v1/worlds/default/emit', body: { kind: 'Speak', payload: { text: 'hello' } } }],
  ['GET /v1/worlds/{worldId}/agents/{agentId}/observe', { as: 'agent', path: '/v1/worlds/default/agents/oa-agent/observe' }],
];

/** The method of an operation key. */
const methodOf = (key: string): string => key.slice(0, key.indexOf(' '));

describe('docs/openapi.yaml and the HTTP endpoints', () => {
  const srv = sharedTestServer();
  const ops = documented();
  const request = async (s: TestServer, key: string, c: Call, tok: string | undefined): Promise<Response> =>
    fetch(`${s.httpUrl}${c.path}`, {
      method: methodOf(key),
      headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(c.body !== undefined ? { body: JSON.stringify(c.body) } : {}),
    });

  it('documents every route the server registers, and registers every operation it documents', () => {
    expect(ops.size).toBeGreaterThan(10);
    expect([...new Set(registered())].sort()).toEqual([...ops.keys()].sort());
    // This file calls each documented operation once.
    expect(calls.map(([k]) => k).sort()).toEqual([...ops.keys()].sort());
  });

  it('answers each operation with the success status, content type and required fields the document gives', async () => {
    const s = srv();
    const tokens = { admin: await token(s, undefined, 'admin'), agent: await token(s, 'oa-agent') };
    for (const [key, c] of calls) {
      const op = ops.get(key)!;
      const ok = op.responses.filter((r) => /^2\d\d$/.test(r));
      expect(ok, `${key}: one success status`).toHaveLength(1);
      const res = await request(s, key, c, tokens[c.as ?? 'admin']);
      const text = await res.text();
      expect(`${res.status}`, `${key}: ${text.slice(0, 300)}`).toBe(ok[0]);
      const type = /\b([a-z]+\/[a-z0-9.+-]+):/.exec(responseBlock(op, ok[0]!))?.[1];
      expect(type, `${key}: a documented content type`).toBeDefined();
      expect(res.headers.get('content-type'), key).toMatch(new RegExp(`^${type!.replace('/', '\\/')}\\b`));
      if (type !== 'application/json') continue;
      const body = JSON.parse(text) as Record<string, unknown>;
      const lists = requiredFor(op, ok[0]!);
      if (lists.length > 0) expect(lists.some((l) => l.every((k) => k in body)), `${key}: ${JSON.stringify(lists)} in ${text.slice(0, 200)}`).toBe(true);
    }
  });

  it('refuses each operation that needs a token with 401 and the error body every refusal has, when none is sent', async () => {
    const s = srv();
    for (const [key, c] of calls) {
      const op = ops.get(key)!;
      if (op.open) continue;
      expect(op.responses, `${key}: documents its errors`).toContain('default');
      const res = await request(s, key, c, undefined);
      expect(res.status, key).toBe(401);
      expect(res.headers.get('content-type'), key).toMatch(/^application\/json\b/);
      const body = (await res.json()) as { error: Record<string, unknown> };
      expect(body.error, key).toMatchObject({ code: 5001, name: 'UNAUTHORIZED', recovery: 'ABORT' });
      expect(typeof body.error['message'], key).toBe('string');
    }
  });

  it('refuses a body field of the wrong type as the document types it (emit priority: integer), not reading it as 0', async () => {
    const s = srv();
    expect(/\/emit:[\s\S]*?priority: \{ type: integer, minimum: -1000, maximum: 1000\b/.test(openapi)).toBe(true);
    const admin = await token(s, undefined, 'admin');
    for (const priority of ['high', 1.5, null, 5000]) {
      const res = await request(s, 'POST /v1/worlds/{worldId}/emit', { path: '/v1/worlds/default/emit', body: { kind: 'Speak', payload: { text: 'hi' }, priority } }, admin);
      expect(res.status, JSON.stringify(priority)).toBe(400);
      expect(((await res.json()) as { error: unknown }).error, JSON.stringify(priority)).toMatchObject({ name: 'INVALID_INTENT', details: { field: 'priority' } });
    }
  });
});
