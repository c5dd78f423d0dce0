/**
 * docs/server.md's "REST in three calls", followed to the letter against a real server hosting the default world:
 * the intent body and the observe paths are read out of the doc's shell block, and what comes back is checked
 * against the doc's sample answers and against docs/openapi.yaml (each schema's required fields, its status and kind
 * values), with each view's `context_digest` recomputed as docs/protocol.md ("Conventions") defines it. Then what the
 * OpenAPI document says of the token: `Authorization: Bearer <token>` (an HTTP auth scheme, so case-insensitive) or the
 * `token` query parameter, and a missing one named as such.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sharedTestServer, token } from './harness.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (p: string): string => fs.readFileSync(path.join(root, p), 'utf8');
const serverMd = read('docs/server.md');
const openapi = read('docs/openapi.yaml');
const asyncapi = read('docs/asyncapi.yaml');

/** The walkthrough's shell block in server.md. */
const walk = /REST in three calls[\s\S]*?```sh\n([\s\S]*?)\n```/.exec(serverMd)?.[1] ?? '';

/** A schema's `required: [...]` list in openapi.yaml, found after the line that names it. */
function required(after: RegExp): string[] {
  const at = openapi.search(after);
  expect(at, `openapi.yaml: ${after}`).toBeGreaterThanOrEqual(0);
  const m = /required: \[([^\]]*)\]/.exec(openapi.slice(at));
  return (m?.[1] ?? '').split(',').map((s) => s.trim());
}

/** A components schema's property names in openapi.yaml (the lines at indent 8 below `    NAME:`). */
function properties(name: string): string[] {
  const lines = openapi.split('\n');
  const start = lines.indexOf(`    ${name}:`);
  expect(start, `openapi.yaml schema ${name}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && /^ {0,4}\S/.test(l));
  return lines.slice(start + 1, end).map((l) => /^ {8}(\w+):/.exec(l)?.[1]).filter((k): k is string => k !== undefined);
}

/** An `enum: [...]` in openapi.yaml on the first line after `after`. */
function enumAfter(after: RegExp): string[] {
  const at = openapi.search(after);
  const m = /enum: \[([^\]]*)\]/.exec(openapi.slice(at));
  return (m?.[1] ?? '').split(',').map((s) => s.trim());
}

/** RFC 8785 canonical JSON, for the plain values of a view (integers, strings, objects). */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
}

/** The set digest of docs/protocol.md: the sum mod 2^256 of SHA-256(`<id as JSON>:<canonical record>`), 64 hex digits. */
function setDigest(view: { entities: Record<string, unknown> }): string {
  let sum = 0n;
  for (const [id, record] of Object.entries(view.entities)) sum += BigInt(`0x${createHash('sha256').update(`${JSON.stringify(id)}:${canonical(record)}`).digest('hex')}`);
  return (sum % (1n << 256n)).toString(16).padStart(64, '0');
}

/** The top-level keys a sample answer (`# {...}`) shows, before its `...`. */
function sampleKeys(sample: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < sample.length; i++) {
    const ch = sample[i];
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === '"' && depth === 1 && (sample[i - 1] === '{' || sample[i - 1] === ',')) {
      const m = /^"(\w+)":/.exec(sample.slice(i));
      if (m) keys.push(m[1]!);
    }
    if (ch === '"') i = sample.indexOf('"', i + 1); // skip the string's contents
  }
  return keys;
}

describe("docs/server.md's REST walkthrough and docs/openapi.yaml", () => {
  const srv = sharedTestServer({ tickMs: 50 });

  it('the walkthrough is in the doc: an agent token, an intent, a snapshot observe and a long poll', () => {
    expect(walk).toMatch(/worldline token --agent (\w+)/);
    expect(walk).toMatch(/-d '(\{"intent".*\})'/);
    expect([...walk.matchAll(/"\$W(\/agents\/[^"]+)"/g)]).toHaveLength(2);
  });

  it('answers as the doc shows and as openapi.yaml describes, with the digests protocol.md defines', async () => {
    const agent = /worldline token --agent (\w+)/.exec(walk)![1]!;
    const body = /-d '(\{"intent".*\})'/.exec(walk)![1]!;
    const [observe, poll] = [...walk.matchAll(/"\$W(\/agents\/[^"]+)"/g)].map((m) => m[1]!);
    const samples = [...walk.matchAll(/^# (\{.*\})$/gm)].map((m) => m[1]!);
    expect(samples).toHaveLength(3);
    const t = await token(srv(), agent);
    const W = `${srv().httpUrl}/v1/worlds/default`;
    const auth = { authorization: `Bearer ${t}` };

    // 1. The intent: committed, with the fields of IntentOutcome and of the doc's sample.
    const r1 = await fetch(`${W}/intents`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
    expect(r1.status).toBe(200);
    const outcome = (await r1.json()) as Record<string, unknown>;
    for (const k of required(/^ {4}IntentOutcome:$/m)) expect(outcome, `IntentOutcome.${k}`).toHaveProperty(k);
    expect(enumAfter(/^ {4}IntentOutcome:$/m)).toContain(outcome['status']);
    for (const k of sampleKeys(samples[0]!)) expect(outcome, `sample key ${k}`).toHaveProperty(k);
    expect(outcome['status']).toBe('committed');
    for (const k of Object.keys(outcome)) expect(properties('IntentOutcome'), `IntentOutcome.${k} is described`).toContain(k);
    // A retry of the same req_id: the same outcome, without the effect record.
    const again = (await (await fetch(`${W}/intents`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body })).json()) as Record<string, unknown>;
    expect(again['global_seq']).toBe(outcome['global_seq']);
    expect(again).not.toHaveProperty('effect');
    expect(outcome['agent_id']).toBe(agent);

    // 2. The view, as a snapshot holding the agent and the NPC the doc names.
    const r2 = await fetch(`${W}${observe!.replace(/\$T/g, t)}`, { headers: auth });
    expect(r2.status).toBe(200);
    const snap = (await r2.json()) as { kind: string; view_seq: number; view: { entities: Record<string, unknown> }; context_digest: string };
    // The observe answer's oneOf: the deltas form, then the snapshot form.
    const observeDoc = openapi.slice(openapi.indexOf('/observe:'), openapi.indexOf('\ncomponents:'));
    const [deltasRequired, snapshotRequired] = [...observeDoc.matchAll(/required: \[([^\]]*)\]/g)].slice(-2).map((m) => m[1]!.split(',').map((x) => x.trim()));
    expect(snapshotRequired).toContain('view');
    for (const k of snapshotRequired!) expect(snap, `snapshot.${k}`).toHaveProperty(k);
    for (const k of sampleKeys(samples[1]!)) expect(snap, `sample key ${k}`).toHaveProperty(k);
    expect(snap.kind).toBe('snapshot');
    const named = Object.keys(JSON.parse(samples[1]!.replace(/\{\.\.\.\}/g, '{}').replace(/"context_digest":"\.\.\."/, '"context_digest":""')).view.entities as object);
    expect(Object.keys(snap.view.entities).sort()).toEqual(named.sort());
    expect(snap.context_digest).toBe(setDigest(snap.view));

    // 3. The long poll after that view (the doc's sample view_seq is the snapshot's: here, the one we got): deltas
    // after it, each applying to the view before it.
    expect(Number(/after=(\d+)/.exec(poll!)![1])).toBe(Number(/"view_seq":(\d+)/.exec(samples[1]!)![1]));
    const after = snap.view_seq;
    const r3 = await fetch(`${W}${poll!.replace(/after=\d+/, `after=${after}`)}`, { headers: auth });
    expect(r3.status).toBe(200);
    const polled = (await r3.json()) as { kind: string; deltas: Array<Record<string, unknown>> };
    expect(polled.kind).toBe('deltas');
    for (const k of deltasRequired!) expect(polled, `deltas.${k}`).toHaveProperty(k);
    expect(polled.deltas.length).toBeGreaterThan(0);
    let from = after;
    for (const d of polled.deltas) {
      for (const k of required(/^ {4}Delta:$/m)) expect(d, `Delta.${k}`).toHaveProperty(k);
      for (const k of Object.keys(d)) expect(properties('Delta'), `Delta.${k} is described`).toContain(k);
      expect(d['from_seq']).toBe(from);
      from = d['view_seq'] as number;
    }
    for (const k of sampleKeys(samples[2]!)) expect(polled, `sample key ${k}`).toHaveProperty(k);
    for (const k of sampleKeys(/"deltas":\[(\{.*)/.exec(samples[2]!)![1]!)) expect(polled.deltas[0], `sample delta key ${k}`).toHaveProperty(k);
    // The view the deltas lead to has the digest the last one names.
    const now = (await (await fetch(`${W}${observe!}`, { headers: auth })).json()) as typeof snap;
    if (now.view_seq === from) expect(polled.deltas.at(-1)!['context_digest']).toBe(setDigest(now.view));
  });

  it('openapi.yaml and asyncapi.yaml describe context_digest as the set digest protocol.md defines', () => {
    expect(/context_digest: \{ type: string, description: '([^']*)'/.exec(openapi)?.[1]).toMatch(/set digest/);
    expect(/ {4}Digest:\n(?: {6}.*\n)*? {6}description: (.*)/.exec(asyncapi)?.[1]).toMatch(/set digest/);
  });

  it('takes the token in Authorization with the scheme in any case, or in the query; a missing one says where it goes', async () => {
    const t = await token(srv(), 'casey');
    const url = `${srv().httpUrl}/v1/worlds/default`;
    for (const authorization of [`Bearer ${t}`, `bearer ${t}`, `BEARER  ${t}`]) {
      const r = await fetch(url, { headers: { authorization } });
      expect(r.status, authorization.slice(0, 8)).toBe(200);
    }
    expect((await fetch(`${url}?token=${t}`)).status).toBe(200);
    const none = await fetch(url);
    expect(none.status).toBe(401);
    const err = ((await none.json()) as { error: { name: string; message: string } }).error;
    expect(err.name).toBe('UNAUTHORIZED');
    expect(err.message).toContain('Authorization: Bearer');
    expect(err.message).not.toContain('Hello');
    // The catalogue (docs/errors.md) tells REST callers the same.
    expect(/^\| 5001 \| UNAUTHORIZED \|.*$/m.exec(read('docs/errors.md'))?.[0]).toContain('`Authorization: Bearer <token>`');
  });
});
