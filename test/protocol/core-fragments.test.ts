/**
 * The adapter path the transport takes: the core's per-quantum ObservationDeltas carry their ops as shared JSON text
 * fragments; a FragmentCache per codec family turns each distinct fragment into an encoded one once, and
 * each agent's frame is assembled from them. Every agent must decode exactly the core's ops, and applying them must
 * rebuild the core's view (whose digest the frame carries).
 */
import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { fragmentRange, newFragmentRange, type ObservationDelta as CoreDelta } from '../../server/core/index.js';
import { BinaryTable, FragmentCache, Subprotocol, WireSession, createWorldCodecs, type ObservationDelta } from '../../server/protocol/index.js';
import { openWorld, planeWorld } from '../core/helpers/worlds.js';
import { SentPaths, TablePlan, encodeBinaryFragment, fragmentBytes } from '../../server/protocol/opstream.js';

/** Twelve agents on a plane, each moved in each of five quanta; every delivery's deltas. */
async function fiveQuantaOfMoves(): Promise<{ rt: Awaited<ReturnType<typeof openWorld>>['rt']; positions: Array<[number, number]>; deliveries: CoreDelta[][]; views: Map<string, unknown> }> {
  const positions: Array<[number, number]> = Array.from({ length: 12 }, (_, i) => [100 + (i % 4) * 30, 100 + Math.floor(i / 4) * 30]);
  const { rt } = await openWorld(planeWorld(positions), { agents: positions.map((_, i) => `a${i}`) });
  // Each agent's view before the moves, as its client holds it.
  const views = new Map<string, unknown>(positions.map((_, i) => [`a${i}`, structuredClone(rt.observe(`a${i}`).view)]));
  const deliveries: CoreDelta[][] = [];
  rt.onDelivery((d) => deliveries.push([...d.deltas]));
  for (let tick = 0; tick < 5; tick++) {
    const moves = positions.map((_, i) => rt.emit({ kind: 'Move', payload: { entity_id: `a${i}`, dx: ((i * 7 + tick * 3) % 11) - 5 + 0.25, dy: ((i * 5 + tick) % 9) - 4 }, source_id: 'gm' }));
    await rt.flush();
    await Promise.all(moves);
  }
  return { rt, positions, deliveries, views };
}

describe('core fragments to wire frames', () => {
  it('every agent decodes exactly the core ops in every codec, with each change encoded once per codec family', async () => {
    const { rt, positions, deliveries, views } = await fiveQuantaOfMoves();
    const codecs = createWorldCodecs();
    const binaryCache = new FragmentCache(codecs[Subprotocol.PROTO]); // one cache serves proto and msgpack: same path table
    const jsonCache = new FragmentCache(codecs[Subprotocol.JSON]);
    const sessions = new Map<string, Record<Subprotocol, { server: WireSession; client: WireSession }>>();
    for (let i = 0; i < positions.length; i++) {
      sessions.set(`a${i}`, {
        [Subprotocol.JSON]: { server: new WireSession(), client: new WireSession() },
        [Subprotocol.MSGPACK]: { server: new WireSession(), client: new WireSession() },
        [Subprotocol.PROTO]: { server: new WireSession(), client: new WireSession() },
      });
    }
    expect(deliveries.length).toBeGreaterThan(0);
    for (const deltas of deliveries) {
      const encodedBefore = { binary: binaryCache.size, json: jsonCache.size };
      const distinct = new Set(deltas.flatMap((d) => d.fragments));
      for (const d of deltas) {
        const header = { view_seq: d.view_seq, from_seq: d.from_seq, context_digest: d.context_digest, global_seq: d.global_seq, sim_time: d.sim_time, server_time: d.wall_time };
        const decoded: ObservationDelta[] = [];
        for (const sub of Object.values(Subprotocol)) {
          const codec = codecs[sub];
          const cache = codec.binary ? binaryCache : jsonCache;
          const s = sessions.get(d.agent_id)![sub];
          const frame = codec.assembleDelta(s.server, header, d.fragments.map((t) => cache.get(t)));
          decoded.push(codec.decodeServer(frame, s.client) as ObservationDelta);
        }
        for (const msg of decoded) expect(msg).toEqual({ type: 'observation_delta', ...header, ops: d.ops });
        const view = jsonpatch.applyPatch(views.get(d.agent_id), structuredClone(decoded[2]!.ops) as jsonpatch.Operation[], true, false).newDocument;
        views.set(d.agent_id, view);
      }
      expect(binaryCache.size - encodedBefore.binary).toBe(distinct.size);
      expect(jsonCache.size - encodedBefore.json).toBe(distinct.size);
    }
    for (let i = 0; i < positions.length; i++) expect(views.get(`a${i}`)).toEqual(rt.observe(`a${i}`).view);
  });

  it('a delta listed by number in its flush\'s table makes the same frame through a BinaryTable as through encoded fragments', async () => {
    const { positions, deliveries } = await fiveQuantaOfMoves();
    const codecs = createWorldCodecs();
    const binary = [codecs[Subprotocol.PROTO], codecs[Subprotocol.MSGPACK]];
    const cache = new FragmentCache(codecs[Subprotocol.PROTO]);
    // Per agent and binary codec: a session assembled from encoded fragments, one from the table, one client.
    const sessions = new Map<string, Array<{ byFragments: WireSession; byTable: WireSession; client: WireSession }>>();
    for (let i = 0; i < positions.length; i++) sessions.set(`a${i}`, binary.map(() => ({ byFragments: new WireSession(), byTable: new WireSession(), client: new WireSession() })));
    let frames = 0;
    for (const deltas of deliveries) {
      const tables = new Map<unknown, BinaryTable>();
      for (const d of deltas) {
        const r = fragmentRange(d, newFragmentRange());
        expect(r.table).toBeDefined();
        let bt = tables.get(r.table);
        if (!bt) tables.set(r.table, (bt = new BinaryTable(codecs[Subprotocol.PROTO].paths!, r.table!.frags)));
        const header = { view_seq: d.view_seq, from_seq: d.from_seq, context_digest: d.context_digest, global_seq: d.global_seq, sim_time: d.sim_time, server_time: d.wall_time };
        binary.forEach((codec, k) => {
          const s = sessions.get(d.agent_id)![k]!;
          const a = codec.assembleDelta(s.byFragments, header, d.fragments.map((f) => cache.get(f))) as Uint8Array;
          const b = codec.assembleDeltaTable!(s.byTable, header, bt, r.idx!, r.start, r.count) as Uint8Array;
          // Byte for byte, path definitions included (each session defines a path the first time it uses it).
          expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
          expect(codec.decodeServer(b, s.client)).toEqual({ type: 'observation_delta', ...header, ops: d.ops });
          frames++;
        });
      }
      // One table per flush.
      expect(tables.size).toBe(1);
    }
    expect(frames).toBeGreaterThan(positions.length * 2);
  });

  it('a BinaryTable copies fragments of every length into any buffer, at any offset, after its arena grew', () => {
    const proto = createWorldCodecs()[Subprotocol.PROTO];
    const paths = proto.paths!;
    // Fragments of 4 + k bytes and more (a string value of k characters): every remainder of the four-byte copy.
    const source = Array.from({ length: 3000 }, (_, i) => ({ ops: [{ op: 'replace' as const, path: `/entities/e${i % 50}/s`, value: 'x'.repeat(i % 13) }] }));
    const bt = new BinaryTable(paths, source);
    const expected = (ids: readonly number[]): number[] => ids.flatMap((i) => [...fragmentBytes(encodeBinaryFragment(source[i]!.ops, paths))]);
    const check = (ids: number[]): void => {
      const idx = Int32Array.from(ids);
      bt.plan(new TablePlan(), idx, 0, ids.length, new SentPaths());
      const want = expected(ids);
      for (const at of [0, 1, 3, 6]) {
        const backing = new Uint8Array(want.length + 16).fill(0xee);
        const out = backing.subarray(5);
        expect(bt.writeTo(idx, 0, ids.length, out, at)).toBe(at + want.length);
        expect([...out.subarray(at, at + want.length)]).toEqual(want);
        // Nothing written outside the fragments' bytes.
        expect([...backing.subarray(0, 5 + at)].every((b) => b === 0xee)).toBe(true);
        expect([...backing.subarray(5 + at + want.length)].every((b) => b === 0xee)).toBe(true);
      }
    };
    check(Array.from({ length: 13 }, (_, i) => i));
    // Encoding the rest grows the table's byte arena (16 KB at first) several times; copies read the grown arena.
    check(Array.from({ length: 3000 }, (_, i) => 2999 - i));
    check([0, 12, 2998, 5, 5, 1]);
  });

  it('a BinaryTable encodes fragments added after it was made, and refuses a number it does not hold or another world\'s paths', () => {
    const codecs = createWorldCodecs();
    const proto = codecs[Subprotocol.PROTO];
    const source: Array<{ ops: Array<{ op: 'add'; path: string; value: number }> }> = [];
    const bt = new BinaryTable(proto.paths!, source);
    for (let i = 0; i < 40; i++) source.push({ ops: [{ op: 'add', path: `/entities/e${i}`, value: i }] });
    const idx = Int32Array.from({ length: 40 }, (_, i) => 39 - i);
    const header = { view_seq: 2, from_seq: 1, context_digest: '' };
    const frame = proto.assembleDeltaTable!(new WireSession(), header, bt, idx, 0, 40);
    const msg = proto.decodeServer(frame, new WireSession()) as ObservationDelta;
    expect(msg.ops).toEqual([...idx].map((i) => ({ op: 'add', path: `/entities/e${i}`, value: i })));
    // A fragment with more than two paths (the rest kept apart): each is defined once, before its first use.
    source.push({ ops: [{ op: 'add', path: '/entities/m/a', value: 1 }, { op: 'add', path: '/entities/m/b', value: 2 }, { op: 'add', path: '/entities/m/c', value: 3 }] });
    const session = new WireSession();
    const client = new WireSession();
    for (let round = 0; round < 2; round++) {
      const f = proto.assembleDeltaTable!(session, header, bt, Int32Array.of(40, 0), 0, 2);
      expect((proto.decodeServer(f, client) as ObservationDelta).ops).toEqual([...source[40]!.ops, ...source[0]!.ops]);
    }
    expect(() => proto.assembleDeltaTable!(new WireSession(), header, bt, Int32Array.of(41), 0, 1)).toThrow(RangeError);
    const other = createWorldCodecs()[Subprotocol.PROTO];
    expect(() => other.assembleDeltaTable!(new WireSession(), header, bt, idx, 0, 1)).toThrow(/different world/);
  });
});
