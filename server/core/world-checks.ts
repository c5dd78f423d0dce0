/**
 * The checks defineWorld makes on the parts of a world definition that are code or data written by the world's
 * author: effect kinds, validators, systems, the observation policy and the initial state. A mistake there is
 * refused when the world is defined (CONFIG_INVALID naming the part), not met later as a TypeError in a tick, an
 * intent rejected for a reason its sender cannot fix, a hung event loop, or a state no client can decode.
 */
import { WorldlineError } from '../errors.js';
import { isJsonValue, isPlainObject } from './json-value.js';
import { checkFields, checkId } from './state.js';
import type { JsonValue, WorldState } from './types.js';
import type { EffectKindHandler, ObservationPolicy, WorldSystem, WorldValidator } from './world.js';

export function bad(message: string): WorldlineError {
  return new WorldlineError('CONFIG_INVALID', `World definition: ${message}`);
}

const isFn = (v: unknown): boolean => typeof v === 'function';

/**
 * Refuses a key the part does not have: a misspelt policy (`staleness` for `stalenessThreshold`) would otherwise be
 * ignored without a word and the world run on the default the author meant to change.
 */
export function knownKeys(v: object, keys: readonly string[], what: string): void {
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) throw bad(`${what} has no setting ${JSON.stringify(k)}; it takes ${keys.join(', ')}.`);
  }
}

/**
 * The same for a part the author may write as an object literal or as an instance of a class of their own: only a
 * literal is held to the keys, since an instance may keep its own state in fields of its own.
 */
function literalKeys(v: object, keys: readonly string[], what: string): void {
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) knownKeys(v, keys, what);
}

/** An effect kind's handler: shape and apply functions, validate a function when given. */
export function checkHandler(kind: string, h: EffectKindHandler): EffectKindHandler {
  if (h === null || typeof h !== 'object') throw bad(`handlers.${kind} must be an object with shape and apply functions.`);
  literalKeys(h, ['shape', 'validate', 'apply'], `handlers.${kind}`);
  if (!isFn(h.shape)) throw bad(`handlers.${kind}.shape must be a function (payload, ctx) returning an error message or undefined.`);
  if (!isFn(h.apply)) throw bad(`handlers.${kind}.apply must be a function (payload, state, ctx).`);
  if (h.validate !== undefined && !isFn(h.validate)) throw bad(`handlers.${kind}.validate must be a function (payload, state, ctx) returning a violation or undefined.`);
  return h;
}

/** A world rule: a rule name, a check function, and the kinds it applies to when given. */
export function checkValidator(v: WorldValidator, i: number): WorldValidator {
  if (v === null || typeof v !== 'object') throw bad(`validators[${i}] must be an object with rule and check.`);
  literalKeys(v, ['rule', 'kinds', 'check'], `validators[${i}]`);
  if (typeof v.rule !== 'string' || v.rule.length === 0) throw bad(`validators[${i}].rule must be a non-empty string (it names the rule in INTENT_VALIDATION_FAILED).`);
  if (!isFn(v.check)) throw bad(`validators[${i}] (${v.rule}).check must be a function (draft, state) returning a message or undefined.`);
  if (v.kinds !== undefined && !(Array.isArray(v.kinds) && v.kinds.every((k) => typeof k === 'string'))) throw bad(`validators[${i}] (${v.rule}).kinds must be a list of kind names.`);
  return v;
}

/** A system: a name (its generator state is saved under it), a run function, an integer priority and a string seed when given. */
export function checkSystem(s: WorldSystem, i: number): WorldSystem {
  if (s === null || typeof s !== 'object') throw bad(`systems[${i}] must be an object with name and run.`);
  literalKeys(s, ['name', 'seed', 'priority', 'run'], `systems[${i}]`);
  if (typeof s.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(s.name)) throw bad(`systems[${i}].name must match [A-Za-z0-9_.-]{1,64} (its random stream is saved under it).`);
  if (!isFn(s.run)) throw bad(`systems[${i}] (${s.name}).run must be a function (ctx) returning a list of effect drafts.`);
  if (s.priority !== undefined && !(Number.isSafeInteger(s.priority) && s.priority >= -1000 && s.priority <= 1000)) throw bad(`systems[${i}] (${s.name}).priority must be an integer in [-1000, 1000].`);
  if (s.seed !== undefined && typeof s.seed !== 'string') throw bad(`systems[${i}] (${s.name}).seed must be a string.`);
  return s;
}

/**
 * Most grid cells per radius: a query reads every cell of a square of side 2 x radius, so a cell size far below the
 * radius makes each one read thousands of cells (and a cell size of 0 or below, none or forever).
 */
const MAX_RADIUS_CELLS = 64;

/** The observation policy: a finite radius and a cell size the grid can use, functions where functions go. */
export function checkObservation(obs: ObservationPolicy): ObservationPolicy {
  if (obs === null || typeof obs !== 'object') throw bad('policies.observation must be an object.');
  knownKeys(obs, ['distance', 'relationships', 'predicates', 'fields', 'includeSelf'], 'policies.observation');
  const d = obs.distance;
  if (d !== undefined) {
    if (d === null || typeof d !== 'object') throw bad('policies.observation.distance must be an object { radius, cellSize? }.');
    knownKeys(d, ['radius', 'cellSize'], 'policies.observation.distance');
    if (!(typeof d.radius === 'number' && Number.isFinite(d.radius) && d.radius > 0)) throw bad('distance radius must be a finite number > 0 (leave distance out to see everything).');
    if (d.cellSize !== undefined && !(typeof d.cellSize === 'number' && Number.isFinite(d.cellSize) && d.cellSize > 0 && d.radius / d.cellSize <= MAX_RADIUS_CELLS)) {
      throw bad(`distance cellSize must be a finite number > 0 and at least radius / ${MAX_RADIUS_CELLS} (${d.radius / MAX_RADIUS_CELLS}); leave it out to use the radius.`);
    }
  }
  const r = obs.relationships;
  if (r !== undefined) {
    if (r === null || typeof r !== 'object') throw bad('policies.observation.relationships must be an object { depth }.');
    knownKeys(r, ['depth'], 'policies.observation.relationships');
  }
  if (obs.predicates !== undefined && !(Array.isArray(obs.predicates) && obs.predicates.every(isFn))) throw bad('observation predicates must be a list of functions (observer, target) => boolean.');
  if (obs.fields !== undefined && !isFn(obs.fields)) throw bad('observation fields must be a function (observer, target) returning the visible field names, or undefined for all.');
  if (obs.includeSelf !== undefined && typeof obs.includeSelf !== 'boolean') throw bad('observation includeSelf must be true or false.');
  return obs;
}

function jsonTable(v: unknown, what: string): Record<string, JsonValue> {
  if (v === undefined) return {};
  if (!isPlainObject(v)) throw bad(`initialState.${what} must be a plain object.`);
  for (const [k, x] of Object.entries(v)) if (!isJsonValue(x, 1)) throw bad(`initialState.${what}.${k} must be a JSON value (finite numbers, well-formed strings, plain objects and arrays).`);
  return v as Record<string, JsonValue>;
}

/**
 * The initial state, checked as a write is (ids, positions, JSON field values and names), relationships as lists of
 * entity ids, metadata and generator states as JSON values; returns it with its defaults filled in. A snapshot's
 * state is not checked this way: it is loaded as it was written.
 */
export function checkInitialState(init: Partial<WorldState>, schemaVersion: string): WorldState {
  if (init === null || typeof init !== 'object') throw bad('initialState must be an object.');
  knownKeys(init, ['schema_version', 'tick', 'entities', 'relationships', 'metadata', 'rng'], 'initialState');
  const tick = init.tick ?? 0;
  if (!Number.isSafeInteger(tick) || tick < 0) throw bad('initialState.tick must be an integer >= 0.');
  const entities = init.entities ?? {};
  if (!isPlainObject(entities)) throw bad('initialState.entities must be a plain object of records by id.');
  for (const [id, rec] of Object.entries(entities)) {
    try {
      checkId(id, 'entity id');
      if (!isPlainObject(rec)) throw new WorldlineError('INVALID_INTENT', `Entity ${id} must be a plain object of fields.`);
      checkFields(rec, id, undefined);
    } catch (err) {
      throw bad(`initialState.entities: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const relationships = init.relationships ?? {};
  if (!isPlainObject(relationships)) throw bad('initialState.relationships must be a plain object of id lists.');
  for (const [from, tos] of Object.entries(relationships)) {
    if (!Array.isArray(tos) || !tos.every((t) => typeof t === 'string' && t.length > 0)) throw bad(`initialState.relationships.${from} must be a list of entity ids.`);
  }
  return {
    schema_version: schemaVersion,
    tick,
    entities,
    relationships,
    metadata: jsonTable(init.metadata, 'metadata'),
    rng: jsonTable(init.rng, 'rng'),
  };
}
