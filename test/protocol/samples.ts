/**
 * One or more sample of every wire message, in the model's shape: the sources of the golden frames under
 * test/fixtures/frames/v1 and of the round-trip tests. Values are chosen to exercise each field's encoding:
 * large seqs, negative priorities, non-ASCII text, every op kind and every number form of the compact op stream.
 */
import type { ClientMessage, ServerMessage } from '../../server/protocol/index.js';

const DIGEST = '5d41402abc4b2a76b9719d911017c592aa1ae8d4b1d4a43c0c8a2c9f3f6e0b7e';
const BIG = 2 ** 53 - 1;

export const clientSamples: Readonly<Record<string, ClientMessage>> = {
  Hello: { type: 'hello', token: 'eyJhbGciOiJIUzI1NiJ9.e30.sig', agent_id: 'a1', role: 'agent', client_version: 'worldline-ts/0.1.0', schema_version: '1.0.0', resume: { view_seq: 41, incarnation: '5bed44c3-a50d-4c74-987b-21adc44afbbd' } },
  'Hello-engine': { type: 'hello', token: '', agent_id: '', role: 'engine', client_version: 'unity/2022.3', schema_version: '1.2.0' },
  SubmitIntent: {
    type: 'submit_intent',
    intent: { req_id: 'r-1', kind: 'Move', payload: { dx: 1.5, dy: -2, note: 'naïve ✓', tags: ['a', null, true] }, context_seq: 1234567890123, priority: -5, deadline_ms: 250 },
  },
  'SubmitIntent-minimal': { type: 'submit_intent', intent: { req_id: 'r-2', kind: 'Speak', payload: null, context_seq: 0, priority: 0 } },
  BeginGeneration: { type: 'begin_generation', req_id: 'g-7', context_seq: BIG },
  CancelIntent: { type: 'cancel_intent', req_id: 'g-7' },
  Emit: { type: 'emit', kind: 'Spawn', payload: { id: 'e9', x: 10, y: 20, hp: 100 }, priority: 10, req_id: 'em-1' },
  Ping: { type: 'ping', client_time: 1722940000123.25 },
  TimeTick: { type: 'time_tick', sim_time: 1200, delta_time: 0.016666666666666666, frame_number: 72000 },
  CollisionEvent: { type: 'collision_event', entity_a: 'e1', entity_b: 'e2', impact_force: 12.5, position: { x: 1.25, y: -3, z: 0 }, normal: { x: 0, y: 1, z: 0 } },
  PositionReport: {
    type: 'position_report',
    frame_number: 72001,
    entities: [
      { entity_id: 'e1', position: { x: 100.5, y: 200.25, z: 0 }, velocity: { x: -1, y: 0.5, z: 0 } },
      { entity_id: 'e2', position: { x: 0.1, y: 0.2, z: 0.3 } },
    ],
  },
  Close: { type: 'close', code: 1000, reason: 'agent left ✓' },
};

export const serverSamples: Readonly<Record<string, ServerMessage>> = {
  Welcome: {
    type: 'welcome',
    session: 's-0f3a',
    world: 'arena',
    agent: 'a1',
    schema_version: '1.0.0',
    server_time: 1722940000456,
    view_seq: 42,
    snapshot: { view_seq: 42, view: { entities: { a1: { id: 'a1', x: 500, y: 500.5, hp: 100 }, e2: { id: 'e2', x: 510.25, y: 490, hp: 80 } } }, context_digest: DIGEST },
  },
  'Welcome-resume': { type: 'welcome', session: 's-0f3b', world: 'arena', agent: 'a1', schema_version: '1.0.0', server_time: 1722940000999, view_seq: 42, incarnation: '5bed44c3-a50d-4c74-987b-21adc44afbbd' },
  ObservationDelta: {
    type: 'observation_delta',
    view_seq: 43,
    from_seq: 42,
    context_digest: DIGEST,
    ops: [
      { op: 'replace', path: '/entities/a1/x', value: 501.25 },
      { op: 'replace', path: '/entities/a1/y', value: 498 },
      { op: 'add', path: '/entities/e3', value: { id: 'e3', x: 640.1, y: 512.37, hp: 100 } },
      { op: 'remove', path: '/entities/e2' },
    ],
    global_seq: 9001,
    sim_time: 1200,
    server_time: 1795240000123,
  },
  'ObservationDelta-values': {
    type: 'observation_delta',
    view_seq: BIG,
    from_seq: BIG - 1,
    context_digest: '',
    ops: [
      { op: 'replace', path: '/entities/e~1odd/x', value: 0.1 + 0.2 },
      { op: 'replace', path: '/entities/e~1odd/y', value: -0.5 },
      { op: 'replace', path: '/entities/e~1odd/hp', value: -7 },
      { op: 'replace', path: '/entities/e~1odd/big', value: BIG },
      { op: 'replace', path: '/entities/e~1odd/tiny', value: 5e-324 },
      { op: 'replace', path: '/entities/e~1odd/huge', value: 1e300 },
      { op: 'replace', path: '/entities/e~1odd/neg', value: -123.4567 },
      { op: 'add', path: '/entities/e~1odd/name', value: 'Zoë 🚀' },
      { op: 'add', path: '/entities/e~1odd/flags', value: [true, false, null, [], {}] },
      { op: 'test', path: '/entities/e~1odd/hp', value: -7 },
      { op: 'copy', from: '/entities/e~1odd/x', path: '/entities/e~1odd/x0' },
      { op: 'move', from: '/entities/e~1odd/x0', path: '/entities/e~1odd/x1' },
      { op: 'remove', path: '/entities/e~1odd/x1' },
    ],
    global_seq: 0,
    sim_time: 0,
    server_time: 0,
  },
  'ObservationDelta-snapshot': {
    type: 'observation_delta',
    view_seq: 100,
    from_seq: 43,
    context_digest: DIGEST,
    ops: [{ op: 'replace', path: '', value: { entities: { a1: { id: 'a1', x: 1, y: 2, hp: 3 } } } }],
    global_seq: 12000,
    sim_time: 1300,
    server_time: 1795240005123,
  },
  Snapshot: { type: 'snapshot', view_seq: 7, view: { entities: { a1: { id: 'a1', x: 3, y: 4, hp: 100, label: 'scout' } } }, context_digest: DIGEST },
  IntentResult: { type: 'intent_result', req_id: 'r-1', status: 'accepted', global_seq: 9001 },
  'IntentResult-rejected': {
    type: 'intent_result',
    req_id: 'r-3',
    status: 'rejected',
    error: { code: 1001, name: 'STALE_CONTEXT', message: 'The view moved on by 3 events since context_seq 40.', recovery: 'REGENERATE', details: { context_seq: 40, view_seq: 43 } },
  },
  Cancelled: {
    type: 'cancelled',
    req_id: 'g-7',
    reason: 'stale_context',
    stale_due_to: [
      { view_seq: 43, global_seq: 9001, kind: 'Move' },
      { view_seq: 44, global_seq: 9005, kind: 'Collision' },
    ],
    server_time: 1795240005123.375,
  },
  Pong: { type: 'pong', client_time: 1722940000123.25, server_time: 1722940000125, sim_time: 1200 },
  Error: { type: 'error', code: 7004, name: 'SCHEMA_VERSION_MISMATCH', message: 'The client speaks protocol 2.0.0; this side speaks 1.0.0.', recovery: 'ABORT', details: {} },
  MoveCommand: { type: 'move_command', entity_id: 'e1', target_position: { x: 12.5, y: 0, z: -4 }, speed: 3.5, use_pathfinding: true, global_seq: 9002, req_id: 'r-9' },
  'Close-server': { type: 'close', code: 4008, reason: 'quarantined' },
};

/**
 * Frames on a channel of a shared socket (docs/protocol.md "Channels"): each sample sent on a channel whose number
 * takes a different encoding (one byte, two, four).
 */
export const channelSamples: ReadonlyArray<{ name: string; channel: number } & ({ direction: 'client'; message: ClientMessage } | { direction: 'server'; message: ServerMessage })> = [
  { name: 'Ping-ch3', channel: 3, direction: 'client', message: clientSamples['Ping'] as ClientMessage },
  { name: 'Close-ch200', channel: 200, direction: 'client', message: clientSamples['Close'] as ClientMessage },
  { name: 'Cancelled-ch300', channel: 300, direction: 'server', message: serverSamples['Cancelled'] as ServerMessage },
  { name: 'Pong-ch70000', channel: 70000, direction: 'server', message: serverSamples['Pong'] as ServerMessage },
];
