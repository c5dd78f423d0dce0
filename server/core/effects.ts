/**
 * Built-in effect kinds. An agent's intent acts on its own entity (the entity whose id is the agent id); world
 * systems and emit() may name any entity. Each kind rejects a bad payload at admission (INVALID_INTENT) and checks
 * state at commit (INTENT_VALIDATION_FAILED naming the rule).
 */
import type { StateMutator } from './state.js';
import type { JsonObject, JsonValue } from './types.js';
import type { DraftContext, EffectKindHandler, RuleViolation, StateReader } from './world.js';

const isObj = (v: JsonValue): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: JsonValue | undefined): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: JsonValue | undefined, max = 128): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const MAX_STEP = 1e9;

/** The entity an effect acts on: payload.entity_id, else the agent's own entity, else the source. */
function target(payload: JsonObject, ctx: DraftContext): string {
  const e = payload['entity_id'];
  return typeof e === 'string' ? e : (ctx.agent_id ?? ctx.source_id);
}

function own(payload: JsonObject, ctx: DraftContext, state: StateReader): RuleViolation | undefined {
  const id = target(payload, ctx);
  if (ctx.agent_id !== undefined && id !== ctx.agent_id) return { rule: 'own_entity', message: `Agent ${ctx.agent_id} may only act on its own entity, not ${id}.` };
  if (!state.has(id)) return { rule: 'entity_exists', message: `Entity ${id} does not exist.` };
  return undefined;
}

function optEntity(p: JsonObject): string | undefined {
  return p['entity_id'] === undefined || isStr(p['entity_id']) ? undefined : 'entity_id must be a non-empty string.';
}

function clamp(v: number, lo: JsonValue | undefined, hi: JsonValue | undefined): number {
  if (isNum(lo) && v < lo) return lo;
  if (isNum(hi) && v > hi) return hi;
  return v;
}

/** Move {dx, dy} (relative) or {x, y} (absolute), clamped to metadata.bounds {min_x, min_y, max_x, max_y}. */
const Move: EffectKindHandler = {
  shape(p) {
    if (!isObj(p)) return 'Move payload must be an object.';
    const rel = p['dx'] !== undefined || p['dy'] !== undefined;
    const abs = p['x'] !== undefined || p['y'] !== undefined;
    if (rel === abs) return 'Move needs either {dx, dy} or {x, y}.';
    const [a, b] = rel ? [p['dx'], p['dy']] : [p['x'], p['y']];
    const names = rel ? 'dx and dy' : 'x and y';
    // Say which rule failed: a step along one axis ({dx: 3}) is the common mistake, and it is not a number problem.
    if (a === undefined || b === undefined) return `Move needs both ${names} (0 for an axis that does not change).`;
    if (!isNum(a) || !isNum(b)) return `Move ${names} must be finite numbers.`;
    if (Math.abs(a) > MAX_STEP || Math.abs(b) > MAX_STEP) return `Move ${names} must be within ${MAX_STEP} of 0.`;
    return optEntity(p);
  },
  validate(p, state, ctx) {
    const v = own(p as JsonObject, ctx, state);
    if (v) return v;
    const e = state.get(target(p as JsonObject, ctx));
    if (!isNum(e?.['x']) || !isNum(e?.['y'])) return { rule: 'has_position', message: 'Move needs an entity with a position (x, y).' };
    return undefined;
  },
  apply(p, m, ctx) {
    const o = p as JsonObject;
    const id = target(o, ctx);
    const e = m.get(id) ?? {};
    const b = m.meta('bounds');
    const bounds = b !== undefined && isObj(b) ? b : {};
    const nx = o['dx'] !== undefined ? (e['x'] as number) + (o['dx'] as number) : (o['x'] as number);
    const ny = o['dy'] !== undefined ? (e['y'] as number) + (o['dy'] as number) : (o['y'] as number);
    m.set(id, { x: clamp(nx, bounds['min_x'], bounds['max_x']), y: clamp(ny, bounds['min_y'], bounds['max_y']) });
  },
};

/** Speak {text, to?}: the speaker's entity gets `said: {text, to?, tick}`, visible to whoever sees the speaker. */
const Speak: EffectKindHandler = {
  shape(p) {
    if (!isObj(p) || !isStr(p['text'], 4096)) return 'Speak needs text (1-4096 characters).';
    if (p['to'] !== undefined && !isStr(p['to'])) return 'Speak.to must be an entity id.';
    return optEntity(p);
  },
  validate: (p, state, ctx) => own(p as JsonObject, ctx, state),
  apply(p, m, ctx) {
    const o = p as JsonObject;
    const said: JsonObject = { text: o['text'] as string, tick: m.tick };
    if (o['to'] !== undefined) said['to'] = o['to'];
    m.set(target(o, ctx), { said });
  },
};

/** Interact {target, action, data?}: the target gets `last_interaction: {by, action, data?}`. */
const Interact: EffectKindHandler = {
  shape(p) {
    if (!isObj(p) || !isStr(p['target']) || !isStr(p['action'], 64)) return 'Interact needs target (entity id) and action (string).';
    return optEntity(p);
  },
  validate(p, state, ctx) {
    const v = own(p as JsonObject, ctx, state);
    if (v) return v;
    const t = (p as JsonObject)['target'] as string;
    return state.has(t) ? undefined : { rule: 'target_exists', message: `Target ${t} does not exist.` };
  },
  apply(p, m, ctx) {
    const o = p as JsonObject;
    const li: JsonObject = { by: target(o, ctx), action: o['action'] as string };
    if (o['data'] !== undefined) li['data'] = o['data'];
    m.set(o['target'] as string, { last_interaction: li });
  },
};

const RESERVED = new Set(['id']);

/** SetAttributes {entity_id?, set?: {...}, unset?: [...]}. */
const SetAttributes: EffectKindHandler = {
  shape(p) {
    if (!isObj(p)) return 'SetAttributes payload must be an object.';
    const set = p['set'];
    const unset = p['unset'];
    if (set !== undefined && !isObj(set)) return 'SetAttributes.set must be an object.';
    if (unset !== undefined && !(Array.isArray(unset) && unset.every((f) => isStr(f, 64)))) return 'SetAttributes.unset must be a list of field names.';
    if (set === undefined && unset === undefined) return 'SetAttributes needs set or unset.';
    for (const f of [...Object.keys(set ?? {}), ...((unset as string[] | undefined) ?? [])]) if (RESERVED.has(f)) return `Field ${f} is reserved.`;
    for (const f of ['x', 'y']) if (set && isObj(set) && set[f] !== undefined && !isNum(set[f])) return `Field ${f} must be a finite number.`;
    return optEntity(p);
  },
  validate: (p, state, ctx) => own(p as JsonObject, ctx, state),
  apply(p, m, ctx) {
    const o = p as JsonObject;
    const id = target(o, ctx);
    if (o['set'] !== undefined) m.set(id, o['set'] as JsonObject);
    if (o['unset'] !== undefined) m.unset(id, o['unset'] as string[]);
  },
};

/** Spawn {entity_id, fields}. An agent may spawn only its own entity. */
const Spawn: EffectKindHandler = {
  shape(p) {
    if (!isObj(p) || !isStr(p['entity_id'])) return 'Spawn needs entity_id.';
    const f = p['fields'];
    if (f !== undefined && !isObj(f)) return 'Spawn.fields must be an object.';
    for (const k of ['x', 'y']) if (f && isObj(f) && f[k] !== undefined && !isNum(f[k])) return `Field ${k} must be a finite number.`;
    return undefined;
  },
  validate(p, state, ctx) {
    const id = (p as JsonObject)['entity_id'] as string;
    if (ctx.agent_id !== undefined && id !== ctx.agent_id) return { rule: 'own_entity', message: `Agent ${ctx.agent_id} may only spawn its own entity.` };
    return state.has(id) ? { rule: 'entity_absent', message: `Entity ${id} already exists.` } : undefined;
  },
  apply(p, m) {
    const o = p as JsonObject;
    m.spawn(o['entity_id'] as string, (o['fields'] as JsonObject | undefined) ?? {});
  },
};

/** Despawn {entity_id?}. */
const Despawn: EffectKindHandler = {
  shape: (p) => (isObj(p) ? optEntity(p) : 'Despawn payload must be an object.'),
  validate: (p, state, ctx) => own(p as JsonObject, ctx, state),
  apply(p, m, ctx) {
    m.despawn(target(p as JsonObject, ctx));
  },
};

/**
 * TimeTick {tick, rng}: advances the tick and saves the systems' generator states. The runtime's own (tick() drafts
 * it without a shape check, and replay applies the logged ones): any draft that reaches the shape check, an agent's, an
 * emit's or a system's, would set the tick back or overwrite the systems' generator states.
 */
const TimeTick: EffectKindHandler = {
  shape(_p, ctx) {
    if (ctx.agent_id !== undefined) return 'TimeTick cannot be sent by an agent.';
    return 'TimeTick is drafted by the runtime at each tick() (an engine drives it with its TimeTick frames); it cannot be emitted or drafted by a system.';
  },
  apply(p, m: StateMutator) {
    const o = p as JsonObject;
    m.setTick(o['tick'] as number);
    for (const [name, s] of Object.entries((o['rng'] as JsonObject | undefined) ?? {})) m.setRng(name, s);
  },
};

/** Collision {a, b}: both entities get `last_collision` naming the other. Systems only. */
const Collision: EffectKindHandler = {
  shape(p, ctx) {
    if (ctx.agent_id !== undefined) return 'Collision cannot be sent by an agent.';
    return isObj(p) && isStr(p['a']) && isStr(p['b']) && p['a'] !== p['b'] ? undefined : 'Collision needs two different entity ids a and b.';
  },
  validate(p, state) {
    const o = p as JsonObject;
    for (const k of ['a', 'b']) if (!state.has(o[k] as string)) return { rule: 'entity_exists', message: `Entity ${String(o[k])} does not exist.` };
    return undefined;
  },
  apply(p, m) {
    const o = p as JsonObject;
    m.set(o['a'] as string, { last_collision: o['b'] as string });
    m.set(o['b'] as string, { last_collision: o['a'] as string });
  },
};

export const BUILTIN_KINDS: Readonly<Record<string, EffectKindHandler>> = Object.freeze({ Move, Speak, Interact, SetAttributes, Spawn, Despawn, TimeTick, Collision });
