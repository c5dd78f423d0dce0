/**
 * defineWorld refuses a key the part it is in does not have (2e2ba14 did it for the definition, policies, agent
 * classes, the observation policy, its distance and quotas): the initial state and the observation's relationships
 * setting too. A misspelt `entities` started the world empty, and a misspelt relationships setting was ignored, with
 * no word either way.
 */
import { describe, expect, it } from 'vitest';
import { defineWorld, WorldlineError, type WorldSpec } from '../../server/index.js';

const base = { name: 'mine', seed: 'mine-1' };

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

describe('defineWorld refuses unknown keys', () => {
  it.each([
    ['a misspelt entities', { initialState: { entites: { a: { x: 0, y: 0 } } } }, /initialState has no setting "entites"; it takes .*entities/],
    ['a misspelt metadata', { initialState: { meta: { bounds: {} } } }, /initialState has no setting "meta"/],
    ['a misspelt relationships depth', { policies: { observation: { relationships: { depth: 1, dept: 2 } } } }, /relationships has no setting "dept"; it takes depth/],
  ])('%s', (_what, spec, message) => {
    expect(refusal({ ...base, ...spec })).toMatch(message);
  });

  it('takes an initial state shaped as a state document (as runtime.state() returns it)', () => {
    const state = { schema_version: '1.0', tick: 3, entities: { a: { x: 1, y: 2 } }, relationships: { a: [] }, metadata: { m: 1 }, rng: {} };
    expect(defineWorld({ ...base, initialState: state }).initialState.tick).toBe(3);
  });
});
