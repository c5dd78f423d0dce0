/**
 * A crash caused by client input is a bug: random and mutated frames, fed to every decoder, either decode to a
 * valid message or throw a WorldlineError (never anything else, never hang: every loop in the decoders consumes
 * input or is bounded by a count checked against the bytes left). WebSocket delivers whole messages, so the
 * "pieces" a decoder can see are truncations and splices of frames; every prefix of every sample frame is tried.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WorldlineError } from '../../server/errors.js';
import { WireSession, createWorldCodecs, splitChannel, withChannel, MAX_CHANNEL, type ChannelSplit, type Frame, type WireCodec } from '../../server/protocol/index.js';
import { clientMessage, serverMessage } from './arbitraries.js';
import { clientSamples, serverSamples } from './samples.js';

const codecs: WireCodec[] = Object.values(createWorldCodecs());

/** Runs a decode; returns what it decoded, or undefined after a WorldlineError. Anything else fails the test. */
function tryDecode<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (err) {
    if (!(err instanceof WorldlineError)) throw new Error(`decoder threw ${String(err)} instead of a WorldlineError`, { cause: err });
    expect(['MALFORMED_FRAME', 'INVALID_INTENT', 'SCHEMA_VERSION_MISMATCH']).toContain(err.codeName);
    return undefined;
  }
}

/** The value with -0 read as 0: JSON has no negative zero, so a frame saying "-0" legitimately re-encodes as 0. */
const noNegativeZero = (v: unknown): unknown =>
  typeof v === 'number' ? (Object.is(v, -0) ? 0 : v) : Array.isArray(v) ? v.map(noNegativeZero) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, noNegativeZero(x)])) : v;

const asBytes = (f: Frame): Uint8Array => (typeof f === 'string' ? new TextEncoder().encode(f) : f);
const asFrame = (codec: WireCodec, b: Uint8Array): Frame => (codec.binary ? b : Buffer.from(b).toString('latin1'));

/** One random edit of a frame: flip, set, insert or delete bytes, truncate, or splice with another frame. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 0x7f, 0x80, 0xff, 0xc1, 0xcf, 0x22, 0x7b, 0x5d) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), other: fc.nat(), from: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(b: Uint8Array, muts: readonly Mutation[], pool: readonly Uint8Array[]): Uint8Array {
  let out = Uint8Array.from(b);
  for (const m of muts) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    switch (m.kind) {
      case 'flip':
        if (out.length) out[at] = out[at]! ^ (1 << m.bit);
        break;
      case 'set':
        if (out.length) out[at] = m.value;
        break;
      case 'insert':
        out = Uint8Array.from([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
        break;
      case 'delete':
        out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + m.count)]);
        break;
      case 'truncate':
        out = out.slice(0, at);
        break;
      case 'splice': {
        const other = pool[m.other % pool.length]!;
        out = Uint8Array.from([...out.subarray(0, at), ...other.subarray(other.length ? m.from % other.length : 0)]);
        break;
      }
    }
  }
  return out;
}

describe('decoders never throw anything but WorldlineError', () => {
  for (const codec of codecs) {
    const clientFrames = Object.values(clientSamples).map((m) => asBytes(codec.encodeClient(m)));
    const serverFrames = Object.values(serverSamples).map((m) => asBytes(codec.encodeServer(m, new WireSession())));

    it(`${codec.subprotocol}: random bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
          tryDecode(() => codec.decodeClient(asFrame(codec, b)));
          tryDecode(() => codec.decodeServer(asFrame(codec, b), new WireSession()));
        }),
        { numRuns: 3000 },
      );
    });

    it(`${codec.subprotocol}: mutated valid client frames; whatever decodes re-encodes to itself`, () => {
      fc.assert(
        fc.property(fc.oneof(fc.constantFrom(...clientFrames), clientMessage.map((m) => asBytes(codec.encodeClient(m)))), fc.array(mutation, { minLength: 1, maxLength: 4 }), (frame, muts) => {
          const msg = tryDecode(() => codec.decodeClient(asFrame(codec, mutate(frame, muts, clientFrames))));
          if (msg !== undefined) expect(noNegativeZero(codec.decodeClient(codec.encodeClient(msg)))).toEqual(noNegativeZero(msg));
        }),
        { numRuns: 4000 },
      );
    });

    it(`${codec.subprotocol}: mutated valid server frames (what a client SDK reads)`, () => {
      fc.assert(
        fc.property(fc.oneof(fc.constantFrom(...serverFrames), serverMessage.map((m) => asBytes(codec.encodeServer(m, new WireSession())))), fc.array(mutation, { minLength: 1, maxLength: 4 }), (frame, muts) => {
          const msg = tryDecode(() => codec.decodeServer(asFrame(codec, mutate(frame, muts, serverFrames)), new WireSession()));
          if (msg !== undefined) expect(noNegativeZero(codec.decodeServer(codec.encodeServer(msg, new WireSession()), new WireSession()))).toEqual(noNegativeZero(msg));
        }),
        { numRuns: 3000 },
      );
    });

    it(`${codec.subprotocol}: channels round-trip, and random or mutated channel frames route or fail typed`, () => {
      const out: ChannelSplit = { channel: 0, frame: '' };
      const channel = fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: MAX_CHANNEL }));
      fc.assert(
        fc.property(clientMessage, channel, (m, ch) => {
          const f = withChannel(codec.subprotocol, codec.encodeClient(m), ch);
          splitChannel(codec.subprotocol, f, out);
          expect(out.channel).toBe(ch);
          expect(noNegativeZero(codec.decodeClient(out.frame))).toEqual(noNegativeZero(codec.decodeClient(codec.encodeClient(m))));
        }),
        { numRuns: 1000 },
      );
      const channelFrames = clientFrames.map((f, i) => asBytes(withChannel(codec.subprotocol, asFrame(codec, f), i * 97 + 1)));
      fc.assert(
        fc.property(fc.oneof(fc.constantFrom(...channelFrames), fc.uint8Array({ maxLength: 64 })), fc.array(mutation, { maxLength: 4 }), (frame, muts) => {
          const routed = tryDecode(() => splitChannel(codec.subprotocol, asFrame(codec, mutate(frame, muts, channelFrames)), out));
          if (routed !== undefined) {
            expect(routed.channel >= 0 && routed.channel <= MAX_CHANNEL).toBe(true);
            tryDecode(() => codec.decodeClient(routed.frame));
          }
        }),
        { numRuns: 3000 },
      );
    });

    it(`${codec.subprotocol}: every prefix of every sample frame`, () => {
      for (const f of clientFrames) for (let n = 0; n < f.length; n++) tryDecode(() => codec.decodeClient(asFrame(codec, f.subarray(0, n))));
      for (const f of serverFrames) for (let n = 0; n < f.length; n++) tryDecode(() => codec.decodeServer(asFrame(codec, f.subarray(0, n)), new WireSession()));
    });
  }

  it('json: structurally valid JSON with wrong field types, unknown types and hostile values', () => {
    const json = codecs.find((c) => !c.binary)!;
    const anyValue = fc.oneof(fc.jsonValue(), fc.constantFrom(-1, 1.5, 2 ** 64, '', 'x'.repeat(300), '\ud800', { __proto__: null }, [[[[]]]]));
    const frame = fc.record(
      {
        type: fc.oneof(fc.constantFrom('hello', 'submit_intent', 'begin_generation', 'cancel_intent', 'emit', 'ping', 'time_tick', 'collision_event', 'position_report'), fc.string()),
        token: anyValue, agent_id: anyValue, role: anyValue, schema_version: fc.oneof(fc.constantFrom('1.0.0', '2.0.0', '0.1', 'v1', ''), anyValue), resume: anyValue,
        intent: fc.oneof(anyValue, fc.record({ req_id: anyValue, kind: anyValue, payload: anyValue, context_seq: anyValue, priority: anyValue, deadline_ms: anyValue }, { requiredKeys: [] })),
        req_id: anyValue, context_seq: anyValue, kind: anyValue, payload: anyValue, priority: anyValue, client_time: anyValue,
        sim_time: anyValue, delta_time: anyValue, frame_number: anyValue, entity_a: anyValue, entity_b: anyValue, position: anyValue, normal: anyValue, entities: anyValue,
      },
      { requiredKeys: ['type'] },
    );
    fc.assert(
      fc.property(frame, (f) => {
        const msg = tryDecode(() => json.decodeClient(JSON.stringify(f)));
        if (msg !== undefined) expect(noNegativeZero(json.decodeClient(json.encodeClient(msg)))).toEqual(noNegativeZero(msg));
      }),
      { numRuns: 4000 },
    );
  });

  it('deeply nested payloads are refused with a typed error in every codec', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const json = codecs.find((c) => !c.binary)!;
    expect(() => json.decodeClient(`{"type":"emit","kind":"k","payload":${deep}}`)).toThrow(WorldlineError);
    for (const codec of codecs.filter((c) => c.binary)) {
      // Nest arrays one level past the limit through the encoder, then past any stack through raw bytes.
      let v: unknown = 1;
      for (let i = 0; i < 200; i++) v = [v];
      expect(() => codec.decodeClient(codec.encodeClient({ type: 'emit', kind: 'k', payload: v as never, priority: 0, req_id: '' }))).toThrow(WorldlineError);
    }
    const msgpack = codecs.find((c) => c.subprotocol === 'worldline.v1.msgpack')!;
    const nested = new Uint8Array(200_000).fill(0x91); // fixarray(1) forever: deeper than any stack
    expect(() => msgpack.decodeClient(nested)).toThrow(WorldlineError);
  });
});
