/**
 * Snapshots carry the idempotency index as lines after the document (server/core/snapshot.ts): every entry comes back,
 * in order, with exact outcomes; the first format (one JSON document) still reads; a damaged index is refused with
 * SNAPSHOT_CORRUPTED; encoding yields to the event loop; and a slow snapshot write holds up no delivery.
 */
import { describe, expect, it } from 'vitest';
import { IdempotencyIndex, type IndexEntry } from '../../server/core/idempotency.js';
import { WorldRuntime } from '../../server/core/runtime.js';
import { canonicalJson } from '../../server/core/canonical.js';
import { decodeSnapshot, encodeSnapshot, encodeSnapshotAsync, forEachIndexRow, type SnapshotDoc } from '../../server/core/snapshot.js';
import { SCHEMA_VERSION, type IntentOutcome } from '../../server/core/types.js';
import { WorldStore } from '../../server/core/state.js';
import { MemoryLog } from './helpers/memory-log.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

const doc: SnapshotDoc = {
  schema_version: SCHEMA_VERSION,
  world_id: 'w',
  global_seq: 7,
  uuid_counter: 7,
  effects_since_hash: 0,
  state: { entities: {}, relationships: {}, metadata: {} } as unknown as SnapshotDoc['state'],
  agents: [],
  idempotency: [],
};

const rejected = (agent: string, req: string, n: number): IntentOutcome => ({
  status: 'rejected',
  agent_id: agent,
  req_id: req,
  error: { code: 2003, name: 'INTENT_VALIDATION_FAILED', message: `rule ${n} says no`, details: { rule: `r${n}` } },
});

/** An index with several agents, one of them over a line's 1,024 rows, committed and rejected outcomes, odd req_ids. */
function sampleIndex(): IdempotencyIndex {
  const idx = new IdempotencyIndex({ perAgent: 5000 });
  for (let i = 0; i < 2500; i++) {
    if (i % 7 === 3) idx.record('a"gent\n1', `r${i}`, `d${i}`, rejected('a"gent\n1', `r${i}`, i));
    else idx.recordCommitted('a"gent\n1', `r${i}`, `d${i}`, 1000 + i, `u-${i}`, i / 4);
  }
  idx.recordCommitted('b', 'é "quoted" \\ req', 'dx', 2 ** 40, 'u-b', 0);
  idx.record('c', '', 'dc', rejected('c', '', 1));
  return idx;
}

function rowsOf(bytes: Uint8Array): IndexEntry[] {
  const out: IndexEntry[] = [];
  forEachIndexRow(decodeSnapshot(bytes, 'w'), {
    committed: (agent_id, req_id, digest, global_seq, uuid, sim_time) => out.push({ digest, outcome: { status: 'committed', agent_id, req_id, global_seq, uuid, sim_time } }),
    rejected: (_a, _r, digest, outcome) => out.push({ digest, outcome }),
  });
  return out;
}

describe('snapshot idempotency index', () => {
  it('writes the index as lines after the document and reads back every entry, in order, exactly', async () => {
    const idx = sampleIndex();
    const bytes = encodeSnapshot(doc, idx.capture());
    const text = Buffer.from(bytes).toString('utf8');
    const lines = text.split('\n').filter((l) => l.length > 0);
    // The document, then 3 lines for the first agent (2,500 rows in lines of at most 1,024) and one per other agent.
    expect(lines.length).toBe(1 + 3 + 1 + 1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ index_rows: idx.size, idempotency: [] });
    expect(rowsOf(bytes)).toEqual(idx.toJSON());
    // The async encoder writes the same bytes.
    expect(Buffer.from(await encodeSnapshotAsync(doc, idx.capture())).equals(Buffer.from(bytes))).toBe(true);
    // A rebuilt index answers like the original.
    const back = new IdempotencyIndex({ perAgent: 5000 });
    forEachIndexRow(decodeSnapshot(bytes, 'w'), {
      committed: (a, r, d, g, u, t) => back.recordCommitted(a, r, d, g, u, t),
      rejected: (a, r, d, o) => back.record(a, r, d, o),
    });
    expect(back.toJSON()).toEqual(idx.toJSON());
    expect(back.get('b', 'é "quoted" \\ req')?.outcome).toEqual(idx.get('b', 'é "quoted" \\ req')?.outcome);
  });

  it('captures the index as it was: entries recorded while the snapshot encodes are not in it', async () => {
    const idx = sampleIndex();
    const before = idx.toJSON();
    const cap = idx.capture();
    idx.recordCommitted('b', 'later', 'dl', 1, 'u', 0);
    idx.recordCommitted('a"gent\n1', 'r0', 'changed', 1, 'u', 0);
    expect(rowsOf(await encodeSnapshotAsync(doc, cap))).toEqual(before);
  });

  it('still reads the first format: one JSON document with the entries in `idempotency`', () => {
    const idx = sampleIndex();
    const legacy = Buffer.from(canonicalJson({ ...doc, idempotency: idx.toJSON() }));
    expect(rowsOf(legacy)).toEqual(idx.toJSON());
    // And an empty index is written in that format (readable by servers that predate the lines).
    expect(Buffer.from(encodeSnapshot(doc, new IdempotencyIndex().capture())).includes(0x0a)).toBe(false);
  });

  it('refuses a damaged index with SNAPSHOT_CORRUPTED', () => {
    const bytes = Buffer.from(encodeSnapshot(doc, sampleIndex().capture()));
    const text = bytes.toString('utf8');
    const cases = [
      text.slice(0, text.lastIndexOf('\n', text.length - 2) + 1), // a line lost: fewer rows than announced
      text.replace('"d5",', '"d5",true,'), // a row with a bad field count
      text.replace('["r5","d5",1005,1.25,"u-5"]', '"x"'), // a row that is not an array
      `${text.slice(0, -1)}x\n`, // a line that is not JSON
      text.replace('"status":"rejected"', '"status":"committed"'), // a rejection row whose outcome is not one
      text.replace(/"index_rows":\d+/, '"index_rows":-1'),
    ];
    for (const c of cases) {
      expect(c).not.toBe(text);
      let err: unknown;
      try {
        rowsOf(Buffer.from(c));
      } catch (e) {
        err = e;
      }
      expect((err as { codeName?: string } | undefined)?.codeName, c.slice(0, 80)).toBe('SNAPSHOT_CORRUPTED');
    }
  });

  it('encodes in slices that let the event loop run', async () => {
    const idx = new IdempotencyIndex();
    for (let i = 0; i < 40_000; i++) idx.recordCommitted(`a${i % 10}`, `r${i}`, 'd', i + 1, 'u', 0);
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    await encodeSnapshotAsync(doc, idx.capture());
    spinning = false;
    // 40 lines of 1,000 rows, a yield every 8 lines: the loop turned at least 4 times while it encoded.
    expect(turns).toBeGreaterThanOrEqual(4);
  });

  it('restarts from a snapshot whose index is in lines, and a slow snapshot write holds up no delivery', async () => {
    const world = planeWorld([[10, 10], [20, 20]]);
    const { rt, log, clock } = await openWorld(world, { agents: ['a0', 'a1'] });
    const results: IntentOutcome[] = [];
    for (let i = 0; i < 3; i++) {
      const p = rt.submit({ ...move('a0', 1, 0, rt.obs.viewSeq('a0')), req_id: `k${i}` });
      await rt.flush();
      results.push(await p);
    }
    // The snapshot's file write hangs until released; quanta committed meanwhile are still delivered.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const write = MemoryLog.prototype.writeSnapshot;
    const slow = log as MemoryLog & { writeSnapshot: MemoryLog['writeSnapshot'] };
    slow.writeSnapshot = async function (this: MemoryLog, state, anchor) {
      await gate;
      return write.call(this, state, anchor);
    };
    let written = false;
    const snap = rt.snapshot().then(() => (written = true));
    const later = rt.submit({ ...move('a1', 1, 0, rt.obs.viewSeq('a1')), req_id: 'during' });
    await rt.flush();
    expect((await later).status).toBe('committed');
    expect(written).toBe(false);
    release();
    await snap;
    await rt.drain();
    slow.writeSnapshot = write;

    const rt2 = await WorldRuntime.open({ world, log: log.reopen(), clock });
    expect(rt2.stateHash()).toBe(rt.stateHash());
    expect(rt2.index.toJSON()).toEqual(rt.index.toJSON());
    const again = await rt2.submit({ ...move('a0', 1, 0, 0), req_id: 'k1' });
    expect(again.status === 'committed' && again.global_seq).toBe(results[1]!.status === 'committed' ? results[1]!.global_seq : -1);
  });

  it('a periodic snapshot that cannot be written does not stop the world; the next one is written', async () => {
    const world = planeWorld([[10, 10], [20, 20]], { policies: { observation: { distance: { radius: 100 } }, snapshotEvery: 2 } });
    const errors: string[] = [];
    const log = new MemoryLog('w1', world.seed);
    const write = log.writeSnapshot.bind(log);
    let failures = 1;
    log.writeSnapshot = async (state, anchor) => {
      if (failures-- > 0) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return write(state, anchor);
    };
    const { rt } = await openWorld(world, { log, agents: ['a0', 'a1'], extra: { onSnapshotError: (e) => errors.push(`${e.codeName}: ${e.message}`) } });
    for (let i = 0; i < 6; i++) {
      const p = rt.submit(move(i % 2 ? 'a1' : 'a0', 1, 0, rt.obs.viewSeq(i % 2 ? 'a1' : 'a0')));
      await rt.flush();
      expect((await p).status).toBe('committed');
      await rt.drain();
    }
    expect(errors).toEqual([expect.stringMatching(/^DATABASE_ERROR: Writing the snapshot failed: ENOSPC/)]);
    expect(rt.failed).toBeUndefined();
    expect(log.latestSnapshot()?.anchorSeq).toBeGreaterThan(0);
  });

  it('writes the entities as lines too, and a store restored from them equals the original (same hash, same order)', async () => {
    const entities: Record<string, { x: number; y: number; hp: number; tag?: string }> = {};
    for (let i = 0; i < 1300; i++) entities[`e${(i * 7919) % 1300}`] = { x: i % 100, y: Math.floor(i / 100), hp: 100 };
    Object.defineProperty(entities, '__proto__', { value: { x: 1, y: 2, hp: 3, tag: 'odd id' }, enumerable: true });
    const store = new WorldStore({ tick: 5, entities, relationships: {}, metadata: {}, rng: {} } as never);
    const full = Buffer.from(encodeSnapshot({ ...doc, state: store.toJSON() }));
    const apart = Buffer.from(await encodeSnapshotAsync({ ...doc, state: store.toJSON(false) }, sampleIndex().capture(), store.captureEntities()));
    const lines = apart.toString('utf8').split('\n');
    expect(JSON.parse(lines[0] as string)).toMatchObject({ entity_rows: 1301, state: { entities: {} } });
    // 1,301 entities in lines of at most 512, then the index.
    expect(lines.slice(1, 4).every((l) => l.startsWith('{"entities":['))).toBe(true);
    expect(lines[4]?.startsWith('["a')).toBe(true);
    const a = decodeSnapshot(apart, 'w');
    const b = decodeSnapshot(full, 'w');
    expect(Object.keys(a.state.entities)).toEqual(Object.keys(b.state.entities));
    expect(new WorldStore(a.state).hash()).toBe(store.hash());
    expect(rowsOf(apart)).toEqual(sampleIndex().toJSON());
    const text = apart.toString('utf8');
    for (const bad of [
      text.replace('"entity_rows":1301', '"entity_rows":1302'),
      text.replace('{"entities":[["', '{"entities":[[7,"'),
      text.replace('{"entities":[', '{"things":['),
      text.replace('"entities":{}', '"entities":{"x":{"x":1,"y":1}}'),
    ]) {
      expect(bad).not.toBe(text);
      expect(() => decodeSnapshot(Buffer.from(bad), 'w')).toThrow(expect.objectContaining({ codeName: 'SNAPSHOT_CORRUPTED' }));
    }
  });
});
