/** fast-check generators for wire messages and RFC 6902 ops, shared by the round-trip and fuzz tests. */
import fc from 'fast-check';
import type { ClientMessage, JsonValue, ServerMessage, Vec3, WireOp } from '../../server/protocol/index.js';

/** Doubles JSON can carry exactly: finite, and no -0 (JSON has no negative zero). */
export const double = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x));
/** Numbers that look like positions: integers, short decimals, float32 values and arbitrary doubles. */
export const position = fc.oneof(
  fc.integer({ min: -100_000, max: 100_000 }),
  fc.integer({ min: -10_000_000, max: 10_000_000 }).map((n) => n / 100),
  fc.float({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x)),
  double,
);
export const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const key = text.filter((k) => k !== '__proto__');
export const seq = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
export const jsonValue: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    position,
    text,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(key, tie('v'), { maxKeys: 4 }),
  ),
})).v;
const vec3: fc.Arbitrary<Vec3> = fc.record({ x: double, y: double, z: double });
const hex = fc.oneof(fc.constant(''), fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')));
const nonEmpty = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });

const pathToken = fc.oneof(fc.constantFrom('x', 'y', 'hp', 'a~b', 'c/d', ''), fc.string({ unit: 'grapheme', maxLength: 5 }));
export const pointer = fc.array(pathToken, { minLength: 0, maxLength: 4 }).map((ts) => ts.map((t) => '/' + t.replace(/~/g, '~0').replace(/\//g, '~1')).join(''));
export const op: fc.Arbitrary<WireOp> = fc.oneof(
  fc.record({ op: fc.constantFrom('add' as const, 'replace' as const, 'test' as const), path: pointer, value: jsonValue }),
  fc.record({ op: fc.constant('remove' as const), path: pointer }),
  fc.record({ op: fc.constantFrom('move' as const, 'copy' as const), from: pointer, path: pointer }),
);

export const clientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  fc.record(
    {
      type: fc.constant('hello' as const),
      token: text,
      agent_id: text,
      role: fc.constantFrom('agent' as const, 'engine' as const, 'viewer' as const, 'admin' as const),
      client_version: text,
      schema_version: fc.constantFrom('1.0.0', '1.4.2', '1'),
      resume: fc.record({ view_seq: seq }),
    },
    { requiredKeys: ['type', 'token', 'agent_id', 'client_version', 'schema_version'] },
  ),
  fc.record({
    type: fc.constant('submit_intent' as const),
    intent: fc.record(
      { req_id: nonEmpty, kind: nonEmpty, payload: jsonValue, context_seq: seq, priority: fc.integer({ min: -1000, max: 1000 }), deadline_ms: fc.integer({ min: 1, max: 86_400_000 }) },
      { requiredKeys: ['req_id', 'kind', 'payload', 'context_seq', 'priority'] },
    ),
  }),
  fc.record({ type: fc.constant('begin_generation' as const), req_id: nonEmpty, context_seq: seq }),
  fc.record({ type: fc.constant('cancel_intent' as const), req_id: nonEmpty }),
  fc.record({ type: fc.constant('emit' as const), kind: nonEmpty, payload: jsonValue, priority: fc.integer({ min: -1000, max: 1000 }), req_id: text }),
  fc.record({ type: fc.constant('ping' as const), client_time: double }),
  fc.record({ type: fc.constant('close' as const), code: fc.integer({ min: 1000, max: 4999 }), reason: text }),
  fc.record({ type: fc.constant('time_tick' as const), sim_time: seq, delta_time: double, frame_number: seq }),
  fc.record({ type: fc.constant('collision_event' as const), entity_a: nonEmpty, entity_b: nonEmpty, impact_force: double, position: vec3, normal: vec3 }),
  fc.record({
    type: fc.constant('position_report' as const),
    frame_number: seq,
    entities: fc.array(fc.record({ entity_id: nonEmpty, position: vec3, velocity: vec3 }, { requiredKeys: ['entity_id', 'position'] }), { maxLength: 4 }),
  }),
);

const errorBody = fc.record({
  code: fc.constantFrom(1001, 2002, 7004, 7016),
  name: fc.constantFrom('STALE_CONTEXT', 'INVALID_INTENT', 'SCHEMA_VERSION_MISMATCH', 'MALFORMED_FRAME'),
  message: text,
  recovery: fc.constantFrom('RETRY', 'RETRY_WITH_DELAY', 'REGENERATE', 'MODIFY_INTENT', 'DEFER', 'SHED_OLDEST', 'ABORT'),
  details: fc.dictionary(key, jsonValue, { maxKeys: 3 }),
});
const snapshotBody = fc.record({ view_seq: seq, view: jsonValue, context_digest: hex });

export const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(
  fc.record(
    { type: fc.constant('welcome' as const), session: text, world: text, agent: text, schema_version: fc.constantFrom('1.0.0', '1.9.9'), server_time: double, view_seq: seq, snapshot: snapshotBody },
    { requiredKeys: ['type', 'session', 'world', 'agent', 'schema_version', 'server_time', 'view_seq'] },
  ),
  fc.record({ type: fc.constant('observation_delta' as const), view_seq: seq, from_seq: seq, context_digest: hex, ops: fc.array(op, { maxLength: 8 }), global_seq: seq, sim_time: seq, server_time: seq }),
  snapshotBody.map((s) => ({ type: 'snapshot' as const, ...s })),
  fc.record(
    { type: fc.constant('intent_result' as const), req_id: text, status: fc.constantFrom('accepted' as const, 'rejected' as const, 'duplicate' as const, 'cancelled' as const), global_seq: seq, error: errorBody },
    { requiredKeys: ['type', 'req_id', 'status'] },
  ),
  fc.record({ type: fc.constant('cancelled' as const), req_id: text, reason: text, stale_due_to: fc.array(fc.record({ view_seq: seq, global_seq: seq, kind: text }), { maxLength: 3 }), server_time: double }),
  fc.record({ type: fc.constant('pong' as const), client_time: double, server_time: double, sim_time: seq }),
  errorBody.map((e) => ({ type: 'error' as const, ...e })),
  fc.record({ type: fc.constant('move_command' as const), entity_id: text, target_position: vec3, speed: double, use_pathfinding: fc.boolean(), global_seq: seq, req_id: text }),
  fc.record({ type: fc.constant('close' as const), code: fc.integer({ min: 1000, max: 4999 }), reason: text }),
);
