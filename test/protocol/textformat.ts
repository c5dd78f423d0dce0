/**
 * A reader for the protobuf text format that `protoc --decode` prints, and the tree we expect it to print for a
 * model message. Written from the .proto and the text format, not from the codec, so the golden-frame test has a
 * decoder that shares no code with ours.
 */
import type { ClientMessage, ErrorBody, JsonValue, ServerMessage, SnapshotBody, Vec3, WireOp } from '../../server/protocol/index.js';

export type TextValue = number | string | Uint8Array | TextNode;
export interface TextNode {
  [field: string]: TextValue[];
}

function unescape(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (s[i] !== '\\') {
      // protoc prints non-ASCII either escaped or as raw UTF-8; keep raw characters as their UTF-8 bytes.
      for (const b of Buffer.from(String.fromCodePoint(s.codePointAt(i) as number), 'utf8')) out.push(b);
      if (c >= 0xd800 && c <= 0xdbff) i++;
      continue;
    }
    const n = s[++i] as string;
    if (/[0-7]/.test(n)) {
      let oct = n;
      while (oct.length < 3 && /[0-7]/.test(s[i + 1] ?? '')) oct += s[++i];
      out.push(parseInt(oct, 8));
    } else if (n === 'x') {
      let hex = '';
      while (hex.length < 2 && /[0-9a-fA-F]/.test(s[i + 1] ?? '')) hex += s[++i];
      out.push(parseInt(hex, 16));
    } else {
      const simple: Record<string, number> = { n: 10, r: 13, t: 9, '"': 34, "'": 39, '\\': 92, a: 7, b: 8, f: 12, v: 11 };
      const b = simple[n];
      if (b === undefined) throw new Error(`unknown escape \\${n}`);
      out.push(b);
    }
  }
  return Uint8Array.from(out);
}

/** Parses protoc's text output into nested nodes; every field maps to the list of its values. */
export function parseTextFormat(text: string): TextNode {
  const rootNode: TextNode = {};
  const stack: TextNode[] = [rootNode];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const top = stack[stack.length - 1] as TextNode;
    if (line === '}') {
      stack.pop();
      continue;
    }
    const open = /^(\w+) \{$/.exec(line);
    if (open) {
      const child: TextNode = {};
      (top[open[1] as string] ??= []).push(child);
      stack.push(child);
      continue;
    }
    const kv = /^(\w+): (.*)$/.exec(line);
    if (!kv) throw new Error(`cannot parse text format line: ${line}`);
    const [, name, rawValue] = kv as unknown as [string, string, string];
    let value: TextValue;
    if (rawValue.startsWith('"')) value = unescape(rawValue.slice(1, -1));
    else if (/^-?(\d|inf|nan)/.test(rawValue)) value = Number(rawValue.replace(/^(-?)inf$/, '$1Infinity').replace(/^nan$/, 'NaN'));
    else value = rawValue; // enum names, true, false
    (top[name] ??= []).push(value);
  }
  return rootNode;
}

/** What we expect in a bytes field, checked by meaning. */
export type Expected =
  | { readonly kind: 'str'; readonly value: string }
  | { readonly kind: 'json'; readonly value: JsonValue }
  | { readonly kind: 'hex'; readonly value: string }
  | { readonly kind: 'ops'; readonly value: readonly WireOp[] };

export type ExpectedValue = number | string | boolean | Expected | ExpectedNode;
export interface ExpectedNode {
  [field: string]: ExpectedValue[];
}

const str = (value: string): Expected => ({ kind: 'str', value });

/** Builds a node from fields, leaving out proto3 defaults (protoc prints only what is on the wire). */
function node(fields: Record<string, ExpectedValue | readonly ExpectedValue[] | undefined>): ExpectedNode {
  const out: ExpectedNode = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === 0 || v === false) continue;
    if (Array.isArray(v)) {
      if (v.length > 0) out[k] = [...(v as ExpectedValue[])];
      continue;
    }
    const one = v as ExpectedValue;
    if (typeof one === 'object' && 'kind' in one && one.kind === 'str' && one.value === '') continue;
    if (typeof one === 'object' && 'kind' in one && one.kind === 'hex' && one.value === '') continue;
    if (typeof one === 'object' && 'kind' in one && one.kind === 'json' && one.value === null) continue;
    out[k] = [one];
  }
  return out;
}

const vec = (v: Vec3): ExpectedNode => node({ x: v.x, y: v.y, z: v.z });
const enumName = (prefix: string, v: string | undefined): string | undefined => (v === undefined ? undefined : `${prefix}_${v.toUpperCase()}`);
const snapshot = (s: SnapshotBody): ExpectedNode => node({ view_seq: s.view_seq, view_json: { kind: 'json', value: s.view }, context_digest: { kind: 'hex', value: s.context_digest } });
const error = (e: ErrorBody): ExpectedNode =>
  node({
    code: `ERROR_CODE_${e.name}`,
    name: str(e.name),
    message: str(e.message),
    recovery: enumName('RECOVERY', e.recovery),
    details_json: Object.keys(e.details).length === 0 ? undefined : { kind: 'json', value: e.details },
  });

export function expectedClientTree(m: ClientMessage): ExpectedNode {
  switch (m.type) {
    case 'hello':
      return node({
        hello: node({
          token: str(m.token),
          agent_id: str(m.agent_id),
          role: enumName('ROLE', m.role),
          client_version: str(m.client_version),
          schema_version: str(m.schema_version),
          resume: m.resume ? node({ view_seq: m.resume.view_seq, incarnation: m.resume.incarnation !== undefined ? str(m.resume.incarnation) : undefined }) : undefined,
        }),
      });
    case 'submit_intent': {
      const i = m.intent;
      return node({
        submit_intent: node({
          intent: node({ req_id: str(i.req_id), kind: str(i.kind), payload_json: { kind: 'json', value: i.payload }, context_seq: i.context_seq, priority: i.priority, deadline_ms: i.deadline_ms }),
        }),
      });
    }
    case 'begin_generation':
      return node({ begin_generation: node({ req_id: str(m.req_id), context_seq: m.context_seq }) });
    case 'cancel_intent':
      return node({ cancel_intent: node({ req_id: str(m.req_id) }) });
    case 'emit':
      return node({ emit: node({ kind: str(m.kind), payload_json: { kind: 'json', value: m.payload }, priority: m.priority, req_id: str(m.req_id) }) });
    case 'ping':
      return node({ ping: node({ client_time: m.client_time }) });
    case 'time_tick':
      return node({ time_tick: node({ sim_time: m.sim_time, delta_time: m.delta_time, frame_number: m.frame_number }) });
    case 'collision_event':
      return node({ collision_event: node({ entity_a: str(m.entity_a), entity_b: str(m.entity_b), impact_force: m.impact_force, position: vec(m.position), normal: vec(m.normal) }) });
    case 'position_report':
      return node({
        position_report: node({
          frame_number: m.frame_number,
          entities: m.entities.map((e) => node({ entity_id: str(e.entity_id), position: vec(e.position), velocity: e.velocity ? vec(e.velocity) : undefined })),
        }),
      });
    case 'close':
      return node({ close: node({ code: m.code, reason: str(m.reason) }) });
  }
}

export function expectedServerTree(m: ServerMessage): ExpectedNode {
  switch (m.type) {
    case 'welcome':
      return node({
        welcome: node({
          session: str(m.session),
          world: str(m.world),
          agent: str(m.agent),
          schema_version: str(m.schema_version),
          server_time: m.server_time,
          view_seq: m.view_seq,
          snapshot: m.snapshot ? snapshot(m.snapshot) : undefined,
          incarnation: m.incarnation !== undefined ? str(m.incarnation) : undefined,
        }),
      });
    case 'observation_delta':
      return node({
        observation_delta: node({
          view_seq: m.view_seq,
          from_seq: m.from_seq,
          context_digest: { kind: 'hex', value: m.context_digest },
          ops: m.ops.length ? { kind: 'ops', value: m.ops } : undefined,
          global_seq: m.global_seq,
          sim_time: m.sim_time,
          server_time: m.server_time,
        }),
      });
    case 'snapshot':
      return node({ snapshot: snapshot(m) });
    case 'intent_result': {
      // global_seq is `optional`: present on the wire even when 0, so it cannot go through node()'s default rule.
      const body = node({ req_id: str(m.req_id), status: enumName('INTENT_STATUS', m.status), error: m.error ? error(m.error) : undefined });
      if (m.global_seq !== undefined) body['global_seq'] = [m.global_seq];
      return node({ intent_result: body });
    }
    case 'cancelled':
      return node({ cancelled: node({ req_id: str(m.req_id), reason: str(m.reason), stale_due_to: m.stale_due_to.map((c) => node({ view_seq: c.view_seq, global_seq: c.global_seq, kind: str(c.kind) })), server_time: m.server_time }) });
    case 'pong':
      return node({ pong: node({ client_time: m.client_time, server_time: m.server_time, sim_time: m.sim_time }) });
    case 'error':
      return node({ error: error(m) });
    case 'move_command':
      return node({
        move_command: node({
          entity_id: str(m.entity_id),
          target_position: vec(m.target_position),
          speed: m.speed,
          use_pathfinding: m.use_pathfinding,
          global_seq: m.global_seq,
          req_id: str(m.req_id),
        }),
      });
    case 'close':
      return node({ close: node({ code: m.code, reason: str(m.reason) }) });
  }
}
