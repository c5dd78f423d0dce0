/**
 * Round trips through every codec, exactness of the compact op stream, lazy path definitions, encode-once
 * assembly, and subprotocol negotiation.
 */
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { WorldlineError } from '../../server/errors.js';
import {
  FragmentCache,
  PathDictionary,
  PathTable,
  SentPaths,
  Subprotocol,
  OpCode,
  WireSession,
  createWorldCodecs,
  negotiateSubprotocol,
  type DeltaHeader,
  type DeltaVisitor,
  type JsonValue,
  type ObservationDelta,
  type WireCodec,
  type WireOp,
} from '../../server/protocol/index.js';
import { decodeOpStream, visitOpStream, encodeBinaryFragment, assembleOpStream, fragmentBytes, fragmentPathIds } from '../../server/protocol/opstream.js';
import { WORLDLINE_PROTO } from '../../server/protocol/proto-schema.gen.js';
import { clientMessage, jsonValue, op, serverMessage } from './arbitraries.js';

const codecs = (): WireCodec[] => Object.values(createWorldCodecs());
const DIGEST = 'ab'.repeat(32);

describe('round trips', () => {
  for (const codec of codecs()) {
    it(`${codec.subprotocol}: any client message decodes to itself`, () => {
      fc.assert(fc.property(clientMessage, (m) => {
        expect(codec.decodeClient(codec.encodeClient(m))).toEqual(m);
      }), { numRuns: 400 });
    });
    it(`${codec.subprotocol}: any server message decodes to itself`, () => {
      fc.assert(fc.property(serverMessage, (m) => {
        expect(codec.decodeServer(codec.encodeServer(m, new WireSession()), new WireSession())).toEqual(m);
      }), { numRuns: 400 });
    });
    it(`${codec.subprotocol}: frames are ${codec.binary ? 'binary' : 'text'}`, () => {
      const f = codec.encodeServer({ type: 'pong', client_time: 1, server_time: 2, sim_time: 3 });
      expect(typeof f === 'string').toBe(!codec.binary);
    });
  }
});

/** Deep equality that tells -0 from 0 and compares NaN to itself (vitest's toEqual already uses Object.is on leaves). */
const sameOps = (a: readonly WireOp[], b: readonly WireOp[]): void => expect(a).toEqual(b);

describe('compact op stream', () => {
  const anyNumber = fc.oneof(fc.double(), fc.float(), fc.integer(), fc.constantFrom(-0, 0, 5e-324, -5e-324, 2 ** 53, -(2 ** 53), 2 ** 53 - 1, Number.MAX_VALUE, 0.1, 512.37, -123.4567, 1e21));

  it('keeps path definitions by id, dense or not: a huge id is held without a huge array, a redefinition is refused', () => {
    const d = new PathDictionary();
    d.define(0, '/a');
    d.define(3, '/b');
    d.define(2 ** 40, '/far');
    d.define(3, '/b');
    expect([d.get(0), d.get(3), d.get(2 ** 40), d.size]).toEqual(['/a', '/b', '/far', 3]);
    expect(() => d.get(1)).toThrow(/used before its definition/);
    expect(() => d.get(2 ** 40 + 1)).toThrow(/used before its definition/);
    expect(() => d.define(2 ** 40, '/other')).toThrow(/redefined/);
    expect(() => d.define(0, '/other')).toThrow(/redefined/);
  });

  it('decodes to exactly the numbers that went in, -0, NaN and infinities included', () => {
    fc.assert(
      fc.property(fc.array(anyNumber, { minLength: 1, maxLength: 20 }), (xs) => {
        const table = new PathTable();
        const ops: WireOp[] = xs.map((x, i) => ({ op: 'replace', path: `/entities/e/${i}`, value: x }));
        const bytes = assembleOpStream(new SentPaths(), table, [encodeBinaryFragment(ops, table)]);
        const back = decodeOpStream(bytes, new PathDictionary());
        back.forEach((o, i) => expect(Object.is((o as { value: number }).value, xs[i])).toBe(true));
      }),
      { numRuns: 1000 },
    );
  });

  it('picks the smallest exact number form', () => {
    const size = (x: number): number => {
      const table = new PathTable();
      table.intern('/p');
      return fragmentBytes(encodeBinaryFragment([{ op: 'replace', path: '/p', value: x }], table)).length - 2; // head byte and path id
    };
    expect(size(0)).toBe(1);
    expect(size(500)).toBe(2); // varint
    expect(size(-1)).toBe(1);
    expect(size(0.5)).toBe(1); // decimal, one digit
    expect(size(512.37)).toBe(3); // decimal, two digits
    expect(size(Math.fround(512.3699951171875))).toBe(4); // float32
    expect(size(0.1 + 0.2)).toBe(8); // float64
    expect(size(-0)).toBe(4); // float32 keeps the sign
  });

  it('any ops, split into any fragments, decode to exactly the same ops and apply like them', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.array(fc.nat({ max: 30 }), { maxLength: 6 }), (ops, cuts) => {
        const table = new PathTable();
        const bounds = [...new Set([0, ...cuts.map((c) => Math.min(c, ops.length)), ops.length])].sort((a, b) => a - b);
        const fragments = bounds.slice(1).map((end, i) => encodeBinaryFragment(ops.slice(bounds[i], end), table));
        const back = decodeOpStream(assembleOpStream(new SentPaths(), table, fragments), new PathDictionary());
        sameOps(back, ops);
      }),
      { numRuns: 500 },
    );
  });

  it('a view patched with decoded ops equals the view patched with the original ops (fast-json-patch)', () => {
    const world = (n: number): Record<string, JsonValue> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`e${i}`, { id: `e${i}`, x: i, y: -i, hp: 100 }]));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 9 }), fc.constantFrom('x', 'y', 'hp'), jsonValue), { maxLength: 20 }), fc.nat({ max: 9 }), (changes, gone) => {
        const ops: WireOp[] = changes.map(([e, k, v]) => ({ op: 'replace', path: `/entities/e${e}/${k}`, value: v }));
        ops.push({ op: 'remove', path: `/entities/e${gone}` }, { op: 'add', path: `/entities/e${gone}`, value: { id: `e${gone}`, x: 0.5, y: 1e-7 } });
        for (const codec of codecs()) {
          const frame = codec.assembleDelta(new WireSession(), { view_seq: 2, from_seq: 1, context_digest: DIGEST }, [codec.encodeFragment(ops)]);
          const msg = codec.decodeServer(frame, new WireSession()) as ObservationDelta;
          const a = jsonpatch.applyPatch({ entities: world(10) }, jsonpatch.deepClone(ops) as jsonpatch.Operation[], true, false).newDocument;
          const b = jsonpatch.applyPatch({ entities: world(10) }, msg.ops as jsonpatch.Operation[], true, false).newDocument;
          expect(b).toEqual(a);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('numbers next to each other in a fragment use the relative path form, never across fragments', () => {
    const table = new PathTable();
    const f1 = encodeBinaryFragment([{ op: 'replace', path: '/e/1/x', value: 1 }, { op: 'replace', path: '/e/1/y', value: 2 }], table);
    // head, id, value; head (relative), value
    expect([...fragmentBytes(f1)]).toEqual([0x43, 0, 1, 0x4b, 2]);
    const f2 = encodeBinaryFragment([{ op: 'replace', path: '/e/2/x', value: 3 }], table);
    expect(fragmentBytes(f2)[0]! & 0x08).toBe(0);
  });

  it('keeps a fragment\'s distinct path ids in order of first use, past the two held inline', () => {
    const table = new PathTable();
    const ops = ['/a', '/b', '/a', '/c', '/d', '/b'].map((path, i) => ({ op: 'replace' as const, path, value: i }));
    expect(fragmentPathIds(encodeBinaryFragment(ops, table))).toEqual([0, 1, 2, 3]);
    expect(fragmentPathIds(encodeBinaryFragment([{ op: 'remove', path: '/c' }], table))).toEqual([2]);
    expect(fragmentPathIds(encodeBinaryFragment([], table))).toEqual([]);
    // Fragments share chunks: each one's bytes stay its own however many are encoded after it.
    const first = encodeBinaryFragment([{ op: 'replace', path: '/a', value: 7 }], table);
    const before = [...fragmentBytes(first)];
    for (let i = 0; i < 20_000; i++) encodeBinaryFragment([{ op: 'replace', path: '/b', value: i }], table);
    expect([...fragmentBytes(first)]).toEqual(before);
  });
});

describe('path definitions are sent lazily, once per connection', () => {
  for (const codec of codecs().filter((c) => c.binary)) {
    it(`${codec.subprotocol}`, () => {
      const server = new WireSession();
      const client = new WireSession();
      const header: DeltaHeader = { view_seq: 2, from_seq: 1, context_digest: DIGEST };
      const ops = (v: number): WireOp[] => [{ op: 'replace', path: '/entities/e1/x', value: v }, { op: 'replace', path: '/entities/e1/y', value: v }];
      const first = codec.assembleDelta(server, header, [codec.encodeFragment(ops(1))]) as Uint8Array;
      const second = codec.assembleDelta(server, { ...header, view_seq: 3, from_seq: 2 }, [codec.encodeFragment(ops(2))]) as Uint8Array;
      const defsBytes = 2 * (1 + 1 + 1 + '/entities/e1/x'.length);
      expect(first.length - second.length).toBe(defsBytes);
      expect((codec.decodeServer(first, client) as ObservationDelta).ops).toEqual(ops(1));
      expect((codec.decodeServer(second, client) as ObservationDelta).ops).toEqual(ops(2));
      // A connection that missed the definitions cannot read the second frame: a typed error, not a wrong path.
      expect(() => codec.decodeServer(second, new WireSession())).toThrow(WorldlineError);
      // A new connection (also a resumed one) is sent the definitions again.
      expect((codec.assembleDelta(new WireSession(), header, [codec.encodeFragment(ops(1))]) as Uint8Array).length).toBe(first.length);
    });
  }
});

/** Records what decodeServer hands a visitor, as RFC 6902 objects plus the path ids. */
class Recorder implements DeltaVisitor {
  headers: Array<[number, number]> = [];
  ops: WireOp[] = [];
  ids: number[] = [];
  delta(fromSeq: number, viewSeq: number): void {
    this.headers.push([fromSeq, viewSeq]);
  }
  op(code: number, pathId: number, path: string, value: JsonValue | undefined, from: string | undefined): void {
    const name = Object.keys(OpCode).find((k) => OpCode[k as keyof typeof OpCode] === code) as WireOp['op'];
    this.ops.push(from !== undefined ? ({ op: name, from, path } as WireOp) : value !== undefined ? ({ op: name, path, value } as WireOp) : ({ op: name, path } as WireOp));
    this.ids.push(pathId);
  }
}

describe('ops handed to a visitor as they are decoded', () => {
  for (const codec of codecs()) {
    it(`${codec.subprotocol}: the visitor gets the header, then exactly the ops decodeServer returns otherwise, with their path ids`, () => {
      fc.assert(
        fc.property(fc.array(fc.array(op, { maxLength: 6 }), { minLength: 1, maxLength: 4 }), (deltas) => {
          const server = new WireSession();
          const plain = new WireSession();
          const visited = new WireSession();
          deltas.forEach((ops, i) => {
            const header = { view_seq: i + 1, from_seq: i, context_digest: DIGEST, global_seq: 7, sim_time: 3, server_time: 1795240000000 };
            const frame = codec.assembleDelta(server, header, [codec.encodeFragment(ops)]);
            const r = new Recorder();
            const got = codec.decodeServer(frame, visited, r) as ObservationDelta;
            const want = codec.decodeServer(frame, plain) as ObservationDelta;
            expect(got).toEqual({ ...want, ops: [] });
            expect(r.headers).toEqual([[i, i + 1]]);
            sameOps(r.ops, want.ops);
            // Binary codecs name each path by the id the world's table gave it; JSON has none.
            expect(r.ids).toEqual(want.ops.map((o) => (codec.binary ? codec.paths!.intern(o.path) : -1)));
          });
        }),
        { numRuns: 200 },
      );
    });
  }

  it('a defect part-way through the ops throws after the visitor saw the ops before it', () => {
    const table = new PathTable();
    const ops: WireOp[] = [{ op: 'replace', path: '/entities/e1/x', value: 1 }, { op: 'replace', path: '/entities/e2/x', value: 'abc' }];
    const bytes = assembleOpStream(new SentPaths(), table, [encodeBinaryFragment(ops, table)]);
    const r = new Recorder();
    // Cut inside the second op's string value.
    expect(() => visitOpStream(bytes.subarray(0, bytes.length - 1), new PathDictionary(), r)).toThrow(/./);
    expect(r.ops).toEqual([ops[0]]);
    const whole = new Recorder();
    expect(visitOpStream(bytes, new PathDictionary(), whole)).toBe(2);
    expect(whole.ops).toEqual(ops);
  });
});

describe('encode once, assemble per connection', () => {
  it('frames assembled from shared fragments equal frames encoded per agent, in every codec', () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }), fc.array(fc.array(fc.nat({ max: 7 }), { maxLength: 8 }), { minLength: 1, maxLength: 5 }), (changes, agents) => {
        for (const codec of codecs()) {
          const shared = changes.map((c) => codec.encodeFragment(c));
          const reference = createWorldCodecs()[codec.subprotocol];
          agents.forEach((picks, a) => {
            const chosen = picks.filter((i) => i < changes.length);
            const header = { view_seq: 10 + a, from_seq: 9 + a, context_digest: DIGEST, global_seq: 77, sim_time: 5, server_time: 1795240000000 };
            const assembled = codec.assembleDelta(new WireSession(), header, chosen.map((i) => shared[i]!));
            const delta: ObservationDelta = { type: 'observation_delta', ...header, ops: chosen.flatMap((i) => changes[i]!) };
            const decoded = codec.decodeServer(assembled, new WireSession());
            expect(decoded).toEqual(delta);
            // Byte-identical to encoding the agent's delta on its own in a world that interned paths in the same order.
            if (!codec.binary) expect(assembled).toBe(reference.encodeServer(delta));
          });
        }
      }),
      { numRuns: 150 },
    );
  });

  it('the hand-written proto ObservationDelta is byte-identical to protobufjs encoding the same fields', () => {
    const ServerFrame = protobuf.Root.fromJSON(WORLDLINE_PROTO).lookupType('worldline.v1.ServerFrame');
    const codec = createWorldCodecs()[Subprotocol.PROTO];
    fc.assert(
      fc.property(fc.array(op, { maxLength: 5 }), fc.maxSafeNat(), fc.maxSafeNat(), fc.nat(), (ops, viewSeq, fromSeq, globalSeq) => {
        const session = new WireSession();
        const header = { view_seq: viewSeq, from_seq: fromSeq, context_digest: DIGEST, global_seq: globalSeq, sim_time: 0 };
        const frame = codec.assembleDelta(session, header, [codec.encodeFragment(ops)]) as Uint8Array;
        const opsBytes = (ServerFrame.decode(frame) as unknown as { observation_delta: { ops: Uint8Array } }).observation_delta.ops;
        // proto3 leaves fields at their defaults off the wire; protobufjs writes whatever is set, so set only the rest.
        const fields: Record<string, unknown> = { view_seq: viewSeq, from_seq: fromSeq, context_digest: Buffer.from(DIGEST, 'hex'), ops: opsBytes, global_seq: globalSeq };
        for (const [k, v] of Object.entries(fields)) if (v === 0 || (ArrayBuffer.isView(v) && v.byteLength === 0) || (Array.isArray(v) && v.length === 0)) delete fields[k];
        const viaLib = ServerFrame.encode({ observation_delta: fields }).finish();
        expect(Buffer.from(frame).equals(Buffer.from(viaLib))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('the hand-written proto IntentResult is byte-identical to protobufjs, and decodes back to the result', () => {
    const ServerFrame = protobuf.Root.fromJSON(WORLDLINE_PROTO).lookupType('worldline.v1.ServerFrame');
    const codec = createWorldCodecs()[Subprotocol.PROTO];
    const STATUS = { accepted: 1, rejected: 2, duplicate: 3, cancelled: 4 } as const;
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.constantFrom('accepted', 'duplicate', 'cancelled', 'rejected'), fc.option(fc.maxSafeNat(), { nil: undefined }), (reqId, status, globalSeq) => {
        const msg = { type: 'intent_result' as const, req_id: reqId, status, ...(globalSeq === undefined ? {} : { global_seq: globalSeq }) };
        const frame = codec.encodeServer(msg) as Uint8Array;
        const viaLib = ServerFrame.encode({ intent_result: { req_id: reqId, status: STATUS[status], ...(globalSeq === undefined ? {} : { global_seq: globalSeq }) } }).finish();
        expect(Buffer.from(frame).equals(Buffer.from(viaLib))).toBe(true);
        expect(codec.decodeServer(frame)).toEqual(msg);
      }),
      { numRuns: 500 },
    );
    // A non-ASCII req_id and a rejection (with its error) take the general encoder, and read back the same.
    const rejected = { type: 'intent_result' as const, req_id: 'ré', status: 'rejected' as const, error: { code: 2003, name: 'INTENT_VALIDATION_FAILED', message: 'no', recovery: 'MODIFY_INTENT' as const, details: {} } };
    expect(codec.decodeServer(codec.encodeServer(rejected))).toEqual(rejected);
    expect(codec.decodeServer(codec.encodeServer({ type: 'intent_result', req_id: 'ré', status: 'accepted', global_seq: 7 }))).toEqual({ type: 'intent_result', req_id: 'ré', status: 'accepted', global_seq: 7 });
  });

  it('a binary fragment serves both binary codecs of a world; fragments from another world are refused', () => {
    const world = createWorldCodecs();
    const frag = world[Subprotocol.MSGPACK].encodeFragment([{ op: 'replace', path: '/entities/e1/x', value: 3 }]);
    const viaProto = world[Subprotocol.PROTO].decodeServer(world[Subprotocol.PROTO].assembleDelta(new WireSession(), { view_seq: 1, from_seq: 0, context_digest: '' }, [frag]), new WireSession());
    expect((viaProto as ObservationDelta).ops).toEqual([{ op: 'replace', path: '/entities/e1/x', value: 3 }]);
    const other = createWorldCodecs()[Subprotocol.PROTO];
    expect(() => other.assembleDelta(new WireSession(), { view_seq: 1, from_seq: 0, context_digest: '' }, [frag])).toThrow(/different world/);
    expect(() => world[Subprotocol.JSON].assembleDelta(new WireSession(), { view_seq: 1, from_seq: 0, context_digest: '' }, [frag])).toThrow(/binary fragment/);
  });

  it('FragmentCache encodes each core fragment once per codec family, from the core\'s JSON text, kept in the fragment', () => {
    for (const codec of codecs()) {
      const cache = new FragmentCache(codec);
      const text = '{"op":"replace","path":"/entities/e1/x","value":4.25},{"op":"replace","path":"/entities/e1/y","value":-1}';
      const fragment = { ops: JSON.parse(`[${text}]`) as WireOp[], text, wire: [] as unknown[] };
      const a = cache.get(fragment);
      expect(cache.get(fragment)).toBe(a);
      expect(cache.size).toBe(1);
      expect(fragment.wire.filter((x) => x !== undefined)).toEqual([a]);
      const frame = codec.assembleDelta(new WireSession(), { view_seq: 1, from_seq: 0, context_digest: '' }, [a, a]);
      const ops = JSON.parse(`[${text}]`) as WireOp[];
      expect((codec.decodeServer(frame, new WireSession()) as ObservationDelta).ops).toEqual([...ops, ...ops]);
      // Another fragment with the same text is another change: encoded again, not confused with the first.
      const other = { ops: fragment.ops, text, wire: [] as unknown[] };
      expect(cache.get(other)).not.toBe(a);
      expect(cache.size).toBe(2);
    }
  });
});

describe('server-side misuse is caught at the server, not sent', () => {
  it('a delta header with a fractional or negative number is refused before any byte is written', () => {
    for (const codec of codecs()) {
      const frag = codec.encodeFragment([{ op: 'remove', path: '/entities/e1' }]);
      expect(() => codec.assembleDelta(new WireSession(), { view_seq: 2, from_seq: 1, context_digest: '', sim_time: 1722940000123.5 }, [frag])).toThrow(RangeError);
      expect(() => codec.assembleDelta(new WireSession(), { view_seq: -1, from_seq: 1, context_digest: '' }, [frag])).toThrow(RangeError);
    }
  });
});

describe('subprotocol negotiation', () => {
  it('picks the first subprotocol the client offers that the server speaks', () => {
    expect(negotiateSubprotocol('worldline.v1.msgpack, worldline.v1.json')).toBe('worldline.v1.msgpack');
    expect(negotiateSubprotocol(['chat', 'worldline.v1.proto'])).toBe('worldline.v1.proto');
    expect(negotiateSubprotocol('worldline.v2.proto')).toBeUndefined();
    expect(negotiateSubprotocol(undefined)).toBeUndefined();
  });
});

describe('req_id bounds', () => {
  for (const codec of codecs()) {
    it(`${codec.subprotocol}: begin_generation and cancel_intent take a req_id of 1-128 characters, as an intent's`, () => {
      const client = createWorldCodecs()[codec.subprotocol];
      const long = 'r'.repeat(128);
      expect(client.decodeClient(client.encodeClient({ type: 'begin_generation', req_id: long, context_seq: 1 }))).toMatchObject({ req_id: long });
      expect(client.decodeClient(client.encodeClient({ type: 'cancel_intent', req_id: long }))).toMatchObject({ req_id: long });
      for (const msg of [{ type: 'begin_generation' as const, req_id: `${long}r`, context_seq: 1 }, { type: 'cancel_intent' as const, req_id: 'r'.repeat(60_000) }]) {
        let err: unknown;
        try {
          client.decodeClient(client.encodeClient(msg));
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(WorldlineError);
        expect((err as WorldlineError).toJSON()).toMatchObject({ name: 'MALFORMED_FRAME', message: 'req_id must be a string of 1-128 characters.', details: { field: 'req_id' } });
      }
    });
  }
});

describe('a "__proto__" key is refused alike in every codec', () => {
  /** An object with an own "__proto__" key (an object literal would set its prototype instead). */
  const protoKeyed = (value: JsonValue): JsonValue => Object.defineProperty({}, '__proto__', { value, enumerable: true, writable: true, configurable: true }) as JsonValue;
  const intent = (payload: JsonValue) => ({ type: 'submit_intent', intent: { req_id: 'p-1', kind: 'Move', payload, context_seq: 0, priority: 0 } }) as const;

  for (const codec of codecs()) {
    it(`${codec.subprotocol}: in a payload, at any depth, rather than carried under another key`, () => {
      // msgpackr reads the key "__proto__" as "__proto_": the intent was accepted with its payload changed.
      for (const payload of [protoKeyed({ x: 1 }), { a: [1, protoKeyed(2)] }]) {
        let err: unknown;
        try {
          codec.decodeClient(codec.encodeClient(intent(payload)));
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(WorldlineError);
        expect(err).toMatchObject({ codeName: 'INVALID_INTENT', details: { req_id: 'p-1', field: 'intent.payload' } });
        expect((err as Error).message).toMatch(/"__proto__"/);
      }
      const emit = { type: 'emit', kind: 'Note', payload: { deep: protoKeyed(null) }, priority: 0, req_id: 'e-1' } as const;
      expect(() => codec.decodeClient(codec.encodeClient(emit))).toThrow(/payload must be a JSON value/);
      // The string "__proto__" as a value, and keys that only look like it, are carried exactly.
      const fine = intent({ note: '__proto__', __proto_: 1, ___proto__: ['__proto__'] });
      expect(codec.decodeClient(codec.encodeClient(fine))).toEqual(fine);
    });
  }
});
