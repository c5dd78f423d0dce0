/**
 * A world definition's mistakes are refused by defineWorld with CONFIG_INVALID naming the part at fault, before the
 * world runs. Each case below was accepted before: a handler without shape rejected every intent of its kind with
 * "h.shape is not a function"; a system without run failed every tick with a TypeError; a cellSize of 0 hung the
 * event loop at the first agent (a grid query over 2^51 cells) and a negative one left every agent blind; a NaN in
 * the initial state reached clients as null (JSON) or NaN (msgpack) with a digest neither matched; a timebase typo
 * ran the world on the wall clock; a relationships string was split into letters.
 */
import { describe, expect, it } from 'vitest';
import { defineWorld, WorldRuntime, WorldlineError, type WorldSpec } from '../../server/index.js';
import { ManualClock, MemoryLog } from './helpers/memory-log.js';

const base = { name: 'mine', seed: 'mine-1' };
const noop = { shape: (): undefined => undefined, apply: (): void => undefined };

function refusal(spec: unknown): string {
  try {
    defineWorld(spec as WorldSpec);
  } catch (err) {
    expect(err).toBeInstanceOf(WorldlineError);
    expect((err as WorldlineError).codeName).toBe('CONFIG_INVALID');
    return (err as Error).message;
  }
  throw new Error('defineWorld accepted the definition');
}

describe('defineWorld refuses a malformed definition', () => {
  it.each([
    ['a handler without shape', { handlers: { Foo: { apply: (): void => undefined } } }, /handlers\.Foo\.shape must be a function/],
    ['a handler without apply', { handlers: { Foo: { shape: (): undefined => undefined } } }, /handlers\.Foo\.apply must be a function/],
    ['a handler whose validate is not a function', { handlers: { Foo: { ...noop, validate: 'no' } } }, /handlers\.Foo\.validate/],
    ['a system without run', { systems: [{ name: 'gravity' }] }, /systems\[0\] \(gravity\)\.run must be a function/],
    ['a system without a name', { systems: [{ run: () => [] }] }, /systems\[0\]\.name must match/],
    ['a system with a fractional priority', { systems: [{ name: 's', priority: 0.5, run: () => [] }] }, /priority must be an integer/],
    ['a validator without check', { validators: [{ rule: 'fair' }] }, /validators\[0\] \(fair\)\.check must be a function/],
    ['a validator without a rule', { validators: [{ check: (): undefined => undefined }] }, /validators\[0\]\.rule/],
    ['a misspelt validator key (kind for kinds)', { validators: [{ rule: 'fair', kind: ['Move'], check: (): undefined => undefined }] }, /validators\[0\] has no setting "kind"; it takes rule, kinds, check/],
    ['a validator naming a kind the world lacks', { validators: [{ rule: 'fair', kinds: ['Mvoe'], check: (): undefined => undefined }] }, /validators\[0\] \(fair\) names kind "Mvoe", which the world does not have; its kinds are .*Move/],
    ['a misspelt system key', { systems: [{ name: 's', priorty: 2, run: () => [] }] }, /systems\[0\] has no setting "priorty"/],
    ['a misspelt handler key', { handlers: { Foo: { ...noop, validator: () => undefined } } }, /handlers\.Foo has no setting "validator"; it takes shape, validate, apply/],
    ['a misspelt agent class setting', { policies: { agentClasses: { default: { staleness: 3 } } } }, /agent class default has no setting "staleness"; it takes .*stalenessThreshold/],
    ['a misspelt setting in another class', { policies: { agentClasses: { npc: { queuelimit: 3 } } } }, /agent class npc has no setting "queuelimit"/],
    ['a misspelt policy', { policies: { maxPatchOp: 10 } }, /policies has no setting "maxPatchOp"/],
    ['a misspelt observation policy', { policies: { observation: { distance: { radius: 10 }, includeself: true } } }, /policies\.observation has no setting "includeself"/],
    ['a misspelt distance setting', { policies: { observation: { distance: { radius: 10, cellsize: 5 } } } }, /distance has no setting "cellsize"/],
    ['a misspelt quota', { policies: { tenantQuota: { rate: 5, bursts: 10 } } }, /tenant quota has no setting "bursts"/],
    ['a misspelt top-level key', { systemz: [] }, /the definition has no setting "systemz"/],
    ['a misspelt initialState entities', { initialState: { entites: { a: { x: 0, y: 0 } } } }, /initialState has no setting "entites"; it takes .*entities/],
    ['a misspelt initialState metadata', { initialState: { meta: { bounds: {} } } }, /initialState has no setting "meta"/],
    ['a misspelt relationships depth', { policies: { observation: { relationships: { depth: 1, dept: 2 } } } }, /relationships has no setting "dept"; it takes depth/],
    ['a cell size of 0', { policies: { observation: { distance: { radius: 10, cellSize: 0 } } } }, /cellSize must be a finite number > 0/],
    ['a negative cell size', { policies: { observation: { distance: { radius: 10, cellSize: -5 } } } }, /cellSize/],
    ['a cell size far below the radius', { policies: { observation: { distance: { radius: 1000, cellSize: 1 } } } }, /at least radius \/ 64/],
    ['an infinite radius', { policies: { observation: { distance: { radius: Infinity } } } }, /radius must be a finite number/],
    ['predicates that are not a list', { policies: { observation: { predicates: () => true } } }, /predicates must be a list of functions/],
    ['fields that is not a function', { policies: { observation: { fields: ['x'] } } }, /fields must be a function/],
    ['a timebase typo', { policies: { timebase: 'tick' } }, /timebase must be 'ticks' or 'wall'/],
    ['no seed', { seed: undefined }, /seed must be a string or a finite number/],
    ['a NaN field', { initialState: { entities: { e: { hp: NaN } } } }, /initialState\.entities: Entity e: field hp must be a JSON value/],
    ['a function field', { initialState: { entities: { e: { on: () => 1 } } } }, /field on must be a JSON value/],
    ['a record that is not an object', { initialState: { entities: { e: 5 } } }, /Entity e must be a plain object/],
    ['a null record', { initialState: { entities: { e: null } } }, /Entity e must be a plain object/],
    ['a position that is not a number', { initialState: { entities: { e: { x: '3', y: 0 } } } }, /field x must be a finite number/],
    ['an empty entity id', { initialState: { entities: { '': { x: 0 } } } }, /entity id must be a non-empty string/],
    ['relationships given as a string', { initialState: { relationships: { a: 'bc' } } }, /relationships\.a must be a list of entity ids/],
    ['metadata that is not JSON', { initialState: { metadata: { bounds: { max_x: Infinity } } } }, /metadata\.bounds must be a JSON value/],
    ['a negative tick', { initialState: { tick: -1 } }, /tick must be an integer >= 0/],
  ])('%s', (_what, over, message) => {
    expect(refusal({ ...base, ...over })).toMatch(message);
  });

  it('holds only object literals to their keys: a handler or system written as a class instance may keep fields of its own', () => {
    class Cooldown {
      readonly ticks = 3;
      shape(): undefined { return undefined; }
      apply(): void {}
    }
    class Wind {
      readonly name = 'wind';
      readonly strength = 2;
      *run(): Iterable<never> {}
    }
    const world = defineWorld({ ...base, handlers: { Rest: new Cooldown() }, systems: [new Wind()] });
    expect(world.handlers['Rest']).toBeInstanceOf(Cooldown);
  });

  it('a valid definition with every part still runs (and a cell size of radius / 64 is accepted)', async () => {
    const world = defineWorld({
      ...base,
      initialState: { entities: { a: { x: 0, y: 0, bag: { pear: 1 } }, b: { x: 5, y: 0 } }, relationships: { a: ['b'] }, metadata: { bounds: { min_x: 0, min_y: 0, max_x: 100, max_y: 100 } } },
      handlers: { Wave: { ...noop, validate: () => undefined } },
      validators: [{ rule: 'fair', kinds: ['Wave'], check: () => undefined }],
      systems: [{ name: 'wind', priority: 5, seed: 'w', run: () => [] }],
      policies: { timebase: 'wall', observation: { distance: { radius: 64, cellSize: 1 }, relationships: { depth: 1 }, predicates: [() => true], fields: () => undefined, includeSelf: true } },
    });
    const rt = await WorldRuntime.open({ world, log: new MemoryLog('mine', world.seed), clock: new ManualClock(), autoQuantum: false });
    await rt.registerAgent('a');
    await rt.tick();
    expect(Object.keys(rt.observe('a').view.entities).sort()).toEqual(['a', 'b']);
  });
});

describe('built-in kinds in a world of its own (README "Your own world", docs/core.md)', () => {
  it('stay open to agents on their own entity, and a validator on their kinds closes them to agents only', async () => {
    const market = ((await import(new URL('../fixtures/worlds/market.mjs', import.meta.url).href)) as { default: WorldSpec }).default;
    const open = defineWorld(market);
    const guarded = defineWorld({ ...market, validators: [{ rule: 'no_minting', kinds: ['Spawn', 'SetAttributes'], check: (d) => (d.agent_id && JSON.stringify(d.payload).includes('"coins"') ? 'coins are earned, not set' : undefined) }] });
    const outcomes: string[] = [];
    for (const world of [open, guarded]) {
      const rt = await WorldRuntime.open({ world, log: new MemoryLog('market', world.seed), clock: new ManualClock(), autoQuantum: false });
      await rt.registerAgent('t');
      const spawn = rt.submit({ req_id: 's', agent_id: 't', kind: 'Spawn', payload: { entity_id: 't', fields: { x: 1, y: 0, coins: 1_000_000 } }, context_seq: 0 });
      const bank = rt.emit({ kind: 'SetAttributes', payload: { entity_id: 'stall', set: { coins: 5 } }, source_id: 'bank' });
      await rt.flush();
      outcomes.push(`${(await spawn).status}/${(await bank).status}`);
    }
    expect(outcomes).toEqual(['committed/committed', 'rejected/committed']);
  });
});

describe('policies.agentClassOf', () => {
  const spec = (of: (id: string, tenant: string) => string | undefined): WorldSpec => ({ ...base, policies: { agentClasses: { default: {}, bot: { stalenessThreshold: 7 } }, agentClassOf: of } });
  const open = async (of: (id: string, tenant: string) => string | undefined, log = new MemoryLog('w', 'mine-1')): Promise<WorldRuntime> => WorldRuntime.open({ world: defineWorld(spec(of)), log, clock: new ManualClock() });

  it('gives a joining agent its class by id and tenant; the class is recorded, so a restart keeps it whatever the function says then', async () => {
    const log = new MemoryLog('w', 'mine-1');
    const rt = await open((id, tenant) => (id.startsWith('bot') && tenant === 'acme' ? 'bot' : undefined), log);
    expect((await rt.registerAgent('bot-1', { tenant: 'acme' })).agent_class).toBe('bot');
    expect((await rt.registerAgent('bot-2', { tenant: 'other' })).agent_class).toBe('default');
    expect((await rt.registerAgent('ada', { tenant: 'acme' })).agent_class).toBe('default');
    // An explicit class (the in-process API) still wins.
    expect((await rt.registerAgent('x', { agentClass: 'bot' })).agent_class).toBe('bot');
    const again = await open(() => 'default', log.reopen());
    expect(again.agents.get('bot-1')?.agent_class).toBe('bot');
  });

  it('refuses a class the world does not define, and a function that throws, naming the world and the agent', async () => {
    await expect((await open(() => 'constructor')).registerAgent('a1')).rejects.toThrow(/agentClassOf gave agent a1 the class "constructor", which its agentClasses do not define/);
    await expect((await open(() => { throw new Error('boom'); })).registerAgent('a1')).rejects.toThrow(/agentClassOf threw for agent a1: boom/);
    expect(refusal({ ...base, policies: { agentClassOf: 'bot' } })).toMatch(/agentClassOf must be a function/);
  });
});

describe('defineWorld takes what it documents', () => {
  it('an initial state shaped as a state document (as runtime.state() returns it)', () => {
    const state = { schema_version: '1.0', tick: 3, entities: { a: { x: 1, y: 2 } }, relationships: { a: [] }, metadata: { m: 1 }, rng: {} };
    expect(defineWorld({ ...base, initialState: state }).initialState.tick).toBe(3);
  });
});
