/**
 * Golden frames: every sample message (samples.ts) in every codec is checked in under test/fixtures/frames/v1.
 * Regenerating them must give the same bytes, so an accidental wire change fails here; after a deliberate one,
 * rewrite them with `WORLDLINE_REWRITE_FIXTURES=1 npx vitest run test/protocol/golden.test.ts` and commit the diff.
 * Each checked-in frame is decoded by our decoder and by an independent one: JSON.parse, msgpackr's plain unpack,
 * and Debian's `protoc --decode` (plus test/protocol/independent/opstream.py for the compact op stream).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Packr, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Subprotocol, WireSession, createWorldCodecs, splitChannel, withChannel, type ChannelSplit, type ClientMessage, type ServerMessage, type WireOp } from '../../server/protocol/index.js';
import { channelSamples, clientSamples, serverSamples } from './samples.js';
import { expectedClientTree, expectedServerTree, parseTextFormat, type ExpectedNode, type ExpectedValue, type TextNode, type TextValue } from './textformat.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const dir = path.join(repo, 'test/fixtures/frames/v1');
const rewrite = process.env['WORLDLINE_REWRITE_FIXTURES'] === '1';
const CODEC_DIRS = { [Subprotocol.JSON]: 'json', [Subprotocol.MSGPACK]: 'msgpack', [Subprotocol.PROTO]: 'proto' } as const;

type Sample = { name: string; direction: 'client'; message: ClientMessage } | { name: string; direction: 'server'; message: ServerMessage };
const samples: Sample[] = [
  ...Object.entries(clientSamples).map(([name, message]) => ({ name, direction: 'client' as const, message })),
  ...Object.entries(serverSamples).map(([name, message]) => ({ name, direction: 'server' as const, message })),
];

/** Every fixture file's expected bytes, keyed by path under test/fixtures/frames/v1. Each frame gets a new world and connection. */
function buildFixtures(): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const s of samples) {
    files.set(`source/${s.name}.json`, Buffer.from(JSON.stringify({ direction: s.direction, message: s.message }, null, 2) + '\n'));
    for (const [sub, codecDir] of Object.entries(CODEC_DIRS)) {
      const codec = createWorldCodecs()[sub as Subprotocol];
      const frame = s.direction === 'client' ? codec.encodeClient(s.message) : codec.encodeServer(s.message, new WireSession());
      files.set(`${codecDir}/${s.name}.${codec.binary ? 'bin' : 'json'}`, typeof frame === 'string' ? Buffer.from(frame) : frame);
    }
  }
  for (const s of channelSamples) {
    files.set(`source/channel/${s.name}.json`, Buffer.from(JSON.stringify({ direction: s.direction, channel: s.channel, message: s.message }, null, 2) + '\n'));
    for (const [sub, codecDir] of Object.entries(CODEC_DIRS)) {
      const codec = createWorldCodecs()[sub as Subprotocol];
      const plain = s.direction === 'client' ? codec.encodeClient(s.message) : codec.encodeServer(s.message, new WireSession());
      const frame = withChannel(sub as Subprotocol, plain, s.channel);
      files.set(`channel/${codecDir}/${s.name}.${codec.binary ? 'bin' : 'json'}`, typeof frame === 'string' ? Buffer.from(frame) : frame);
    }
  }
  return files;
}

function listFixtures(): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

const read = (rel: string): Buffer => fs.readFileSync(path.join(dir, rel));

describe('golden frames', () => {
  const built = buildFixtures();

  it('regenerating the fixtures gives the checked-in bytes (set WORLDLINE_REWRITE_FIXTURES=1 to rewrite)', () => {
    if (rewrite) {
      fs.rmSync(dir, { recursive: true, force: true });
      for (const [rel, bytes] of built) {
        fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        fs.writeFileSync(path.join(dir, rel), bytes);
      }
    }
    expect(listFixtures()).toEqual([...built.keys()].sort());
    for (const [rel, bytes] of built) expect(Buffer.from(bytes).equals(read(rel)), `${rel} differs from a fresh encoding`).toBe(true);
  });

  it('the source files hold the sample messages', () => {
    for (const s of samples) expect(JSON.parse(read(`source/${s.name}.json`).toString('utf8'))).toEqual({ direction: s.direction, message: s.message });
  });

  for (const [sub, codecDir] of Object.entries(CODEC_DIRS)) {
    it(`our ${codecDir} decoder reads every checked-in frame back to its source message`, () => {
      for (const s of samples) {
        const codec = createWorldCodecs()[sub as Subprotocol];
        const bytes = read(`${codecDir}/${s.name}.${codec.binary ? 'bin' : 'json'}`);
        const frame = codec.binary ? new Uint8Array(bytes) : bytes.toString('utf8');
        const decoded = s.direction === 'client' ? codec.decodeClient(frame) : codec.decodeServer(frame, new WireSession());
        expect(decoded, `${codecDir}/${s.name}`).toEqual(s.message);
      }
    });
  }

  it('JSON.parse reads every json frame as exactly the message (ops as RFC 6902 objects)', () => {
    for (const s of samples) expect(JSON.parse(read(`json/${s.name}.json`).toString('utf8')), s.name).toEqual(s.message);
  });

  it('msgpackr plain unpack reads every msgpack frame; digests and ops are bin, the rest is the message as is', () => {
    const streams: { hex: string; ops: readonly WireOp[]; name: string }[] = [];
    for (const s of samples) {
      const got = unpack(read(`msgpack/${s.name}.bin`)) as Record<string, unknown>;
      const want: Record<string, unknown> = { ...s.message };
      const hexOf = (v: unknown): string => Buffer.from(v as Uint8Array).toString('hex');
      if (s.message.type === 'observation_delta') {
        expect(got['ops']).toBeInstanceOf(Uint8Array);
        streams.push({ hex: hexOf(got['ops']), ops: s.message.ops, name: s.name });
        delete got['ops'];
        delete want['ops'];
        for (const k of ['global_seq', 'sim_time', 'server_time'] as const) if (want[k] === 0) delete want[k];
      }
      if ('context_digest' in got) got['context_digest'] = hexOf(got['context_digest']);
      const snap = got['snapshot'] as Record<string, unknown> | undefined;
      if (snap) snap['context_digest'] = hexOf(snap['context_digest']);
      expect(got, s.name).toEqual(want);
    }
    const decoded = pythonOps(streams.map((s) => s.hex));
    streams.forEach((s, i) => expect(decoded[i], `${s.name} ops via opstream.py`).toEqual(s.ops));
  });

  it('protoc --decode reads every proto frame as the expected fields', () => {
    const streams: { hex: string; ops: readonly WireOp[]; name: string }[] = [];
    for (const s of samples) {
      const file = path.join(dir, `proto/${s.name}.bin`);
      const text = execFileSync('protoc', [`--decode=worldline.v1.${s.direction === 'client' ? 'ClientFrame' : 'ServerFrame'}`, '--proto_path=proto', 'proto/worldline.proto'], {
        cwd: repo,
        input: fs.readFileSync(file),
        encoding: 'utf8',
      });
      const expected = s.direction === 'client' ? expectedClientTree(s.message) : expectedServerTree(s.message);
      compareTree(parseTextFormat(text), expected, s.name, streams);
    }
    expect(streams.length).toBeGreaterThan(0);
    const decoded = pythonOps(streams.map((s) => s.hex));
    streams.forEach((s, i) => expect(decoded[i], `${s.name} ops via opstream.py`).toEqual(s.ops));
  });
});

describe('golden frames on a channel', () => {
  const ext = (sub: Subprotocol): string => (sub === Subprotocol.JSON ? 'json' : 'bin');

  for (const [sub, codecDir] of Object.entries(CODEC_DIRS)) {
    it(`splitChannel and our ${codecDir} decoder read every channel frame back to its channel and message`, () => {
      for (const s of channelSamples) {
        const codec = createWorldCodecs()[sub as Subprotocol];
        const bytes = read(`channel/${codecDir}/${s.name}.${ext(sub as Subprotocol)}`);
        const split = splitChannel(sub as Subprotocol, codec.binary ? new Uint8Array(bytes) : bytes.toString('utf8'), { channel: -1, frame: '' } as ChannelSplit);
        expect(split.channel, s.name).toBe(s.channel);
        const decoded = s.direction === 'client' ? codec.decodeClient(split.frame) : codec.decodeServer(split.frame, new WireSession());
        expect(decoded, `${codecDir}/${s.name}`).toEqual(s.message);
      }
    });
  }

  it('JSON.parse and msgpackr read the channel as the first member, then the message', () => {
    for (const s of channelSamples) {
      const json = JSON.parse(read(`channel/json/${s.name}.json`).toString('utf8')) as Record<string, unknown>;
      expect(Object.keys(json)[0], s.name).toBe('channel');
      expect(json, s.name).toEqual({ channel: s.channel, ...s.message });
      const mp = unpack(read(`channel/msgpack/${s.name}.bin`)) as Record<string, unknown>;
      expect(Object.keys(mp)[0], s.name).toBe('channel');
      expect(mp, s.name).toEqual({ channel: s.channel, ...s.message });
    }
  });

  it('protoc --decode reads every channel frame as the message plus its channel field', () => {
    const streams: { hex: string; ops: readonly WireOp[]; name: string }[] = [];
    for (const s of channelSamples) {
      const text = execFileSync('protoc', [`--decode=worldline.v1.${s.direction === 'client' ? 'ClientFrame' : 'ServerFrame'}`, '--proto_path=proto', 'proto/worldline.proto'], {
        cwd: repo,
        input: read(`channel/proto/${s.name}.bin`),
        encoding: 'utf8',
      });
      const expected = s.direction === 'client' ? expectedClientTree(s.message) : expectedServerTree(s.message);
      compareTree(parseTextFormat(text), { ...expected, channel: [s.channel] }, s.name, streams);
    }
  });

  it('a frame without a channel is channel 0, untouched; a channel out of range or misplaced is a typed error', () => {
    const codecs = createWorldCodecs();
    const out: ChannelSplit = { channel: -1, frame: '' };
    for (const sub of Object.keys(CODEC_DIRS) as Subprotocol[]) {
      const f = codecs[sub].encodeClient(clientSamples['Ping'] as ClientMessage);
      expect(splitChannel(sub, f, out).channel).toBe(0);
      expect(out.frame).toBe(f);
    }
    // JSON: whitespace is allowed around the member; a channel as a later member is refused by the decoder.
    expect(splitChannel(Subprotocol.JSON, '{ "channel" : 7 , "type":"ping","client_time":1}', out).channel).toBe(7);
    expect(codecs[Subprotocol.JSON].decodeClient(out.frame)).toEqual({ type: 'ping', client_time: 1 });
    expect(splitChannel(Subprotocol.JSON, '{"type":"ping","channel":7}', out).channel).toBe(0);
    expect(() => codecs[Subprotocol.JSON].decodeClient(out.frame)).toThrow(/channel must be the first member/);
    expect(() => splitChannel(Subprotocol.JSON, '{"channel":4294967296,"type":"ping"}', out)).toThrow(/channel is 4294967296/);
    // Read as JSON reads it: no leading zero; a number of more than 10 digits is named as too long, not as misplaced.
    expect(() => splitChannel(Subprotocol.JSON, '{"channel":03,"type":"ping"}', out)).toThrow(/channel is 03, a number with a leading zero/);
    expect(splitChannel(Subprotocol.JSON, '{"channel":0,"type":"ping","client_time":1}', out).channel).toBe(0);
    expect(() => splitChannel(Subprotocol.JSON, '{"channel":12345678901,"type":"ping"}', out)).toThrow(/channel is 123456789012?\.\.\., 11 digits/);
    expect(() => splitChannel(Subprotocol.MSGPACK, Uint8Array.from([0x81, 0xa7, 0x63, 0x68, 0x61, 0x6e, 0x6e, 0x65, 0x6c, 0xa1, 0x78]), out)).toThrow(/not an unsigned integer/);
    // msgpack: a map's header grows (fixmap -> map16 -> map32) or shrinks back with the channel entry; every value form.
    for (const keys of [1, 15, 16, 70000]) {
      const o = Object.fromEntries(Array.from({ length: keys }, (_, i) => [`k${i}`, i]));
      for (const ch of [5, 200, 300, 70000, 0xffffffff]) {
        const f = withChannel(Subprotocol.MSGPACK, new Packr({ variableMapSize: true, useRecords: false }).pack(o), ch) as Uint8Array;
        const u = unpack(f) as Record<string, unknown>;
        expect([Object.keys(u)[0], u['channel'], Object.keys(u).length]).toEqual(['channel', ch, keys + 1]);
        expect(splitChannel(Subprotocol.MSGPACK, f, out).channel).toBe(ch);
        expect(unpack(out.frame as Uint8Array)).toEqual(o);
      }
    }
    // protobuf: field 15 anywhere among the envelope's fields.
    const ping = codecs[Subprotocol.PROTO].encodeClient(clientSamples['Ping'] as ClientMessage) as Uint8Array;
    expect(splitChannel(Subprotocol.PROTO, Uint8Array.from([...ping, 0x78, 0x05]), out).channel).toBe(5);
    expect(() => splitChannel(Subprotocol.PROTO, Uint8Array.from([0x78, 0x80, 0x80, 0x80, 0x80, 0x10]), out)).toThrow(/channel is 4294967296/);
  });
});

/** Decodes op streams (each from a new connection) with the independent Python decoder. */
function pythonOps(hexes: readonly string[]): unknown[] {
  const out = execFileSync('/usr/bin/python3', [path.join(repo, 'test/protocol/independent/opstream.py')], { input: hexes.join('\n\n') + '\n', encoding: 'utf8' });
  return out.trim().split('\n').map((l) => JSON.parse(l) as unknown);
}

function compareTree(actual: TextNode, expected: ExpectedNode, at: string, streams: { hex: string; ops: readonly WireOp[]; name: string }[]): void {
  expect(Object.keys(actual).sort(), `fields of ${at}`).toEqual(Object.keys(expected).sort());
  for (const [k, want] of Object.entries(expected)) {
    const got = actual[k] as TextValue[];
    expect(got.length, `${at}.${k} count`).toBe(want.length);
    want.forEach((w, i) => compareValue(got[i] as TextValue, w, `${at}.${k}[${i}]`, streams));
  }
}

function compareValue(got: TextValue, want: ExpectedValue, at: string, streams: { hex: string; ops: readonly WireOp[]; name: string }[]): void {
  if (typeof want === 'number') return void expect(got, at).toBe(want);
  if (typeof want === 'boolean') return void expect(got, at).toBe(String(want));
  if (typeof want === 'string') return void expect(got, at).toBe(want);
  if ('kind' in want && typeof want.kind === 'string' && !Array.isArray(want.kind)) {
    const e = want as Extract<ExpectedValue, { kind: string }>;
    expect(got, at).toBeInstanceOf(Uint8Array);
    const bytes = Buffer.from(got as Uint8Array);
    switch (e.kind) {
      case 'str':
        return void expect(bytes.toString('utf8'), at).toBe(e.value);
      case 'json':
        return void expect(JSON.parse(bytes.toString('utf8')), at).toEqual(e.value);
      case 'hex':
        return void expect(bytes.toString('hex'), at).toBe(e.value);
      case 'ops':
        streams.push({ hex: bytes.toString('hex'), ops: e.value, name: at });
        return;
    }
  }
  expect(typeof got === 'object' && !(got instanceof Uint8Array), `${at} is a message`).toBe(true);
  compareTree(got as TextNode, want as ExpectedNode, at, streams);
}
