/**
 * The contract's rules: proto/worldline.proto follows the conventions (package, csharp_namespace, *_UNSPECIFIED
 * zeros, uint64 seqs, one envelope per direction), its ErrorCode and Recovery enums mirror server/errors.ts, the
 * generated descriptor matches it, the envelopes carry exactly the model's messages; and the version and
 * unknown-field rules hold in every codec.
 */
import fs from 'node:fs';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { ErrorCatalogue, Recovery, WorldlineError } from '../../server/errors.js';
import { ClientMessageType, ServerMessageType, Subprotocol, createWorldCodecs, type Hello, type WireCodec } from '../../server/protocol/index.js';
import { renderProtoSchemaModule } from '../../server/protocol/proto-schema-source.js';

const protoText = fs.readFileSync(new URL('../../proto/worldline.proto', import.meta.url), 'utf8');
const root = protobuf.parse(protoText, { keepCase: true }).root;
const ns = root.lookup('worldline.v1') as protobuf.Namespace;
const codecs: WireCodec[] = Object.values(createWorldCodecs());

function allTypes(n: protobuf.NamespaceBase): protobuf.ReflectionObject[] {
  return n.nestedArray.flatMap((o) => (o instanceof protobuf.Namespace || o instanceof protobuf.Type ? [o, ...allTypes(o)] : [o]));
}

describe('proto/worldline.proto', () => {
  it('is package worldline.v1 with the C# namespace set', () => {
    expect(/^package worldline\.v1;$/m.test(protoText)).toBe(true);
    expect(ns.options?.['csharp_namespace']).toBe('Worldline.V1');
  });

  it('ErrorCode mirrors the error catalogue exactly, name for name and number for number', () => {
    const e = ns.lookupEnum('ErrorCode').values;
    const fromProto = Object.entries(e).filter(([k]) => k !== 'ERROR_CODE_UNSPECIFIED').map(([k, v]) => [k.replace(/^ERROR_CODE_/, ''), v]);
    const fromCatalogue = Object.entries(ErrorCatalogue).map(([k, v]) => [k, v.code]);
    expect(Object.fromEntries(fromProto)).toEqual(Object.fromEntries(fromCatalogue));
    expect(e['ERROR_CODE_UNSPECIFIED']).toBe(0);
  });

  it('Recovery mirrors server/errors.ts Recovery', () => {
    const names = Object.keys(ns.lookupEnum('Recovery').values).filter((k) => k !== 'RECOVERY_UNSPECIFIED').map((k) => k.replace(/^RECOVERY_/, ''));
    expect(names).toEqual(Object.values(Recovery));
  });

  it('every enum starts with its *_UNSPECIFIED zero value', () => {
    const enums = allTypes(ns).filter((o): o is protobuf.Enum => o instanceof protobuf.Enum);
    expect(enums.length).toBeGreaterThanOrEqual(4);
    for (const en of enums) {
      const zero = Object.entries(en.values).find(([, v]) => v === 0);
      expect(zero?.[0], en.name).toMatch(/_UNSPECIFIED$/);
    }
  });

  it('sequence numbers, ticks and frame numbers are uint64', () => {
    const fields = allTypes(ns).flatMap((o) => (o instanceof protobuf.Type ? o.fieldsArray : []));
    const seqs = fields.filter((f) => /(_seq|^sim_time|^frame_number)$/.test(f.name));
    expect(seqs.length).toBeGreaterThan(10);
    for (const f of seqs) expect(f.type, `${f.parent?.name}.${f.name}`).toBe('uint64');
  });

  it('one ClientFrame and one ServerFrame envelope, whose oneofs carry exactly the model\'s messages', () => {
    const members = (t: string): string[] => ns.lookupType(t).oneofs['frame']!.oneof;
    expect(members('ClientFrame').sort()).toEqual([...Object.values(ClientMessageType)].sort());
    expect(members('ServerFrame').sort()).toEqual([...Object.values(ServerMessageType)].sort());
  });

  it('the generated descriptor (server/protocol/proto-schema.gen.ts) is up to date', () => {
    const gen = fs.readFileSync(new URL('../../server/protocol/proto-schema.gen.ts', import.meta.url), 'utf8');
    expect(gen, 'run: node --import tsx server/protocol/proto-schema-source.ts > server/protocol/proto-schema.gen.ts').toBe(renderProtoSchemaModule(protoText));
  });
});

const hello = (schema_version: string): Hello => ({ type: 'hello', token: 't', agent_id: 'a1', role: 'agent', client_version: 'test', schema_version });

function thrown(fn: () => unknown): WorldlineError {
  try {
    fn();
  } catch (err) {
    if (err instanceof WorldlineError) return err;
    throw err;
  }
  throw new Error('expected a WorldlineError');
}

describe('versions and unknown fields, in every codec', () => {
  for (const codec of codecs) {
    it(`${codec.subprotocol}: another major schema_version gets SCHEMA_VERSION_MISMATCH with guidance; a newer minor is accepted`, () => {
      const e = thrown(() => codec.decodeClient(codec.encodeClient(hello('2.0.0'))));
      expect(e.codeName).toBe('SCHEMA_VERSION_MISMATCH');
      expect(e.message).toMatch(/2\.0\.0.*1\.0\.0.*Connect to a server that speaks protocol 2\.x/);
      expect(thrown(() => codec.decodeClient(codec.encodeClient(hello('0.9.1')))).message).toMatch(/Upgrade the client/);
      expect(thrown(() => codec.decodeClient(codec.encodeClient(hello('one')))).codeName).toBe('MALFORMED_FRAME');
      expect(thrown(() => codec.decodeClient(codec.encodeClient(hello('')))).codeName).toBe('MALFORMED_FRAME');
      expect(codec.decodeClient(codec.encodeClient(hello('1.9.0')))).toEqual(hello('1.9.0'));
      const welcome = { type: 'welcome', session: 's', world: 'w', agent: 'a', schema_version: '3.1.0', server_time: 1, view_seq: 0 } as const;
      expect(thrown(() => codec.decodeServer(codec.encodeServer(welcome))).codeName).toBe('SCHEMA_VERSION_MISMATCH');
    });

    it(`${codec.subprotocol}: a bad intent is INVALID_INTENT naming the req_id and field; a bad frame is MALFORMED_FRAME`, () => {
      const intent = { type: 'submit_intent', intent: { req_id: 'r-9', kind: 'Move', payload: {}, context_seq: 1, priority: 5000 } } as const;
      const e = thrown(() => codec.decodeClient(codec.encodeClient(intent)));
      expect(e.codeName).toBe('INVALID_INTENT');
      expect(e.details).toMatchObject({ req_id: 'r-9', field: 'intent.priority' });
      const noKind = thrown(() => codec.decodeClient(codec.encodeClient({ ...intent, intent: { ...intent.intent, priority: 0, kind: '' } })));
      expect(noKind.details).toMatchObject({ req_id: 'r-9', field: 'intent.kind' });
      expect(thrown(() => codec.decodeClient(codec.encodeClient({ type: 'cancel_intent', req_id: '' }))).codeName).toBe('MALFORMED_FRAME');
      // An Emit with a req_id is answered by that req_id: one that cannot be decoded names it too.
      const emit = thrown(() => codec.decodeClient(codec.encodeClient({ type: 'emit', kind: 'Collision', payload: {}, priority: 5000, req_id: 'e-1' })));
      expect(emit.codeName).toBe('MALFORMED_FRAME');
      expect(emit.details).toEqual({ req_id: 'e-1', field: 'priority' });
      expect(thrown(() => codec.decodeClient(codec.encodeClient({ type: 'emit', kind: '', payload: {}, priority: 0, req_id: '' }))).details).toEqual({ field: 'kind' });
    });
  }

  it('json and msgpack: unknown fields are ignored, unknown message types refused', () => {
    for (const codec of codecs.filter((c) => c.subprotocol !== Subprotocol.PROTO)) {
      const withExtra = { ...hello('1.0.0'), future_field: { nested: [1, 2] }, resume: { view_seq: 4, since: 'x' } };
      const frame = codec.binary ? codec.encodeClient(withExtra as Hello) : JSON.stringify(withExtra);
      expect(codec.decodeClient(frame)).toEqual({ ...hello('1.0.0'), resume: { view_seq: 4 } });
      const unknown = codec.binary ? codec.encodeClient({ type: 'teleport' } as never) : '{"type":"teleport"}';
      expect(thrown(() => codec.decodeClient(unknown)).message).toMatch(/Unknown message type "teleport"/);
    }
  });

  it('proto: unknown field numbers are ignored, an unknown envelope member is MALFORMED_FRAME', () => {
    const codec = codecs.find((c) => c.subprotocol === Subprotocol.PROTO)!;
    const base = codec.encodeClient(hello('1.0.0')) as Uint8Array;
    // Inside Hello (field 1 of ClientFrame), append field 50 (varint 7) and field 51 (bytes "zz"): a newer minor's fields.
    const extra = [0x90, 0x03, 0x07, 0x9a, 0x03, 0x02, 0x7a, 0x7a];
    const inner = base.subarray(2);
    expect(base[0]).toBe(0x0a);
    const patched = Uint8Array.from([0x0a, inner.length + extra.length, ...inner, ...extra]);
    expect(codec.decodeClient(patched)).toEqual(hello('1.0.0'));
    // ClientFrame field 20: a message from a newer protocol this server does not know.
    expect(thrown(() => codec.decodeClient(Uint8Array.from([0xa2, 0x01, 0x00]))).message).toMatch(/carries no message this server knows/);
  });
});
