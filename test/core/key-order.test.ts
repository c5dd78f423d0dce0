/**
 * A world's apply function sees object keys in the same order live, in a replay and after a restart. The log keeps
 * payloads and snapshots as canonical JSON (keys sorted), so what a replay or a restart reads back lists its keys
 * sorted; the live world listed them as the client sent them or as the apply added them. An apply that walks keys
 * (`Object.keys(p.options)[0]`, a `for...in` over an inventory) then computed another state after a restart than live,
 * and a world with state-hash records refused to open (WORLD_STATE_CORRUPTED) after a restart.
 */
import { describe, expect, it } from 'vitest';
import { defineWorld, replayWorld, WorldRuntime, type JsonObject, type StateMutator } from '../../server/index.js';
import { ManualClock, MemoryLog } from './helpers/memory-log.js';

const world = defineWorld({
  name: 'keys',
  seed: 'keys-1',
  initialState: { entities: { shop: { x: 0, y: 0, stock: { pear: 1, apple: 2 } } }, metadata: { menu: { tea: 1, coffee: 2 } } },
  handlers: {
    // Takes the first option listed in the payload.
    Pick: { shape: () => undefined, apply: (p, m) => m.set('shop', { chosen: Object.keys((p as JsonObject)['options'] as JsonObject)[0] as string }) },
    // Adds a field, then lists the shop's fields, its stock and the menu as they enumerate.
    Tally: {
      shape: () => undefined,
      apply: (_p, m: StateMutator) => {
        m.set('shop', { zebra: 1 });
        const shop = m.get('shop') as JsonObject;
        m.set('shop', { fields: Object.keys(shop).join(','), stock_order: Object.keys(shop['stock'] as JsonObject).join(','), menu_order: Object.keys(m.meta('menu') as JsonObject).join(',') });
      },
    },
  },
  policies: { stateHashEvery: 1, observation: {} },
});

async function submit(rt: WorldRuntime, req: string, kind: string, payload: JsonObject): Promise<void> {
  const p = rt.submit({ req_id: req, agent_id: 'a', kind, payload, context_seq: rt.viewSeq('a') });
  await rt.flush();
  expect((await p).status).toBe('committed');
}

describe('object key order seen by apply functions', () => {
  it('a payload lists its keys live as a replay of the log does', async () => {
    const log = new MemoryLog('keys', world.seed);
    const rt = await WorldRuntime.open({ world, log, clock: new ManualClock(), autoQuantum: false });
    await rt.registerAgent('a');
    await submit(rt, 'r1', 'Pick', { options: { pear: 1, apple: 2 } });
    const live = rt.stateHash();
    expect(rt.state().entities['shop']?.['chosen']).toBe('apple');
    const replay = await replayWorld(world, log.reopen(), { verifyDeterminism: true });
    expect(replay.ok).toBe(true);
    expect(replay.stateHash).toBe(live);
    const reopened = await WorldRuntime.open({ world, log: log.reopen(), clock: new ManualClock(), autoQuantum: false });
    expect(reopened.stateHash()).toBe(live);
  });

  it('a record, a field value and metadata list their keys live as after a restart from a snapshot', async () => {
    const log = new MemoryLog('keys', world.seed);
    const rt = await WorldRuntime.open({ world, log, clock: new ManualClock(), autoQuantum: false });
    await rt.registerAgent('a');
    await submit(rt, 'r1', 'Pick', { options: { pear: 1 } });
    await rt.snapshot();
    await submit(rt, 'r2', 'Tally', {});
    const shop = rt.state().entities['shop'] as JsonObject;
    expect([shop['fields'], shop['stock_order'], shop['menu_order']]).toEqual(['chosen,stock,x,y,zebra', 'apple,pear', 'coffee,tea']);
    const live = rt.stateHash();
    // Restarted from the snapshot, Tally is applied again to the records the snapshot holds.
    const reopened = await WorldRuntime.open({ world, log: log.reopen(), clock: new ManualClock(), autoQuantum: false });
    expect(reopened.stateHash()).toBe(live);
    expect((await replayWorld(world, log.reopen(), { verifyDeterminism: true })).ok).toBe(true);
  });
});
