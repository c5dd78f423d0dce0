/**
 * A world defined in code: initial state, seed, effect kinds, validators, systems and policies. defineWorld checks
 * the definition once and fills in defaults, so the runtime's hot path never re-checks configuration.
 */
import { BUILTIN_KINDS } from './effects.js';
import type { StatefulRng } from './rng.js';
import type { StateMutator } from './state.js';
import { SCHEMA_VERSION, type Effect, type EffectDraft, type EntityRecord, type JsonValue, type WorldState } from './types.js';
import { bad, checkHandler, checkInitialState, checkObservation, checkSystem, checkValidator, knownKeys } from './world-checks.js';

/** Read-only access to the world state, given to validators and systems. */
export interface StateReader {
  readonly tick: number;
  get(id: string): EntityRecord | undefined;
  has(id: string): boolean;
  relatedTo(from: string): readonly string[];
  meta(key: string): JsonValue | undefined;
}

/** Who proposed an effect. */
export interface DraftContext {
  readonly kind: string;
  readonly source_id: string;
  /** Set when the effect comes from an agent's intent. */
  readonly agent_id: string | undefined;
}

export interface ApplyContext extends DraftContext {
  readonly effect: Effect;
}

/** A world rule that failed: `rule` names it in the INTENT_VALIDATION_FAILED details. */
export interface RuleViolation {
  readonly rule: string;
  readonly message: string;
}

/** How one effect kind is checked and applied. */
export interface EffectKindHandler {
  /** Stateless payload check at admission; return a message to reject with INVALID_INTENT. */
  shape(payload: JsonValue, ctx: DraftContext): string | undefined;
  /** State-dependent check at commit time; a violation rejects with INTENT_VALIDATION_FAILED. */
  validate?(payload: JsonValue, state: StateReader, ctx: DraftContext): RuleViolation | undefined;
  /** Applies the effect. May throw a WorldlineError: the effect's changes are then rolled back. */
  apply(payload: JsonValue, state: StateMutator, ctx: ApplyContext): void;
}

/** A world rule checked at commit time, in order, after the kind's own validate. */
export interface WorldValidator {
  readonly rule: string;
  /** Kinds this rule applies to (all when omitted). */
  readonly kinds?: readonly string[];
  /** Return a message to reject, undefined to accept. */
  check(draft: { readonly kind: string; readonly payload: JsonValue } & DraftContext, state: StateReader): string | undefined;
}

/** What a world system sees when it runs at a tick. */
export interface SystemContext {
  readonly state: StateReader;
  readonly tick: number;
  /** This system's seeded stream; its position is saved in the state at each tick. */
  readonly rng: StatefulRng;
  /** Entity ids in ascending order. */
  entityIds(): readonly string[];
}

/** Per-tick logic (NPC movement, physics): produces drafts that go through the same ordering, commit and log. */
export interface WorldSystem {
  readonly name: string;
  /** Seed of its stream (defaults to `${world seed}/${name}`). */
  readonly seed?: string;
  readonly priority?: number;
  /** The effects of this tick: a list, or any iterable (a generator function). */
  run(ctx: SystemContext): Iterable<EffectDraft>;
}

export interface ObservedEntity {
  readonly id: string;
  readonly record: EntityRecord | undefined;
}

/**
 * Who sees what. Base visibility is the union of `distance` and `relationships` (everything when neither is set);
 * every predicate must then also pass; `fields` projects what is visible of each entity. An agent always sees its
 * own entity unless includeSelf is false. Predicates and `fields` must depend only on the two records they get.
 */
export interface ObservationPolicy {
  readonly distance?: { readonly radius: number; readonly cellSize?: number };
  readonly relationships?: { readonly depth: number };
  readonly predicates?: ReadonlyArray<(observer: ObservedEntity, target: ObservedEntity) => boolean>;
  /** Visible field names of `target` for `observer`, or undefined for all fields. */
  readonly fields?: (observer: ObservedEntity, target: ObservedEntity) => readonly string[] | undefined;
  readonly includeSelf?: boolean;
}

/** When a generation is cancelled; see docs/core.md for the exact rules. */
export type InterruptPolicy = 'always' | 'only_conflict' | { readonly debounce_ms: number };

export type BackpressurePolicy = 'defer' | 'shed_oldest' | 'drop_newest';

export interface RateQuota {
  /** Sustained intents per second. */
  readonly rate: number;
  /** Bucket size. */
  readonly burst: number;
}

export interface AgentClassPolicy {
  readonly queueLimit: number;
  readonly backpressure: BackpressurePolicy;
  /** Intents taken per round of the weighted round-robin. */
  readonly weight: number;
  readonly quota: RateQuota | undefined;
  readonly interrupt: InterruptPolicy;
  readonly stalenessThreshold: number;
}

export interface WorldPolicies {
  readonly observation: ObservationPolicy;
  readonly agentClasses: Readonly<Record<string, AgentClassPolicy>>;
  readonly tenantQuota: RateQuota | undefined;
  readonly maxPatchOps: number;
  readonly maxIntentsPerQuantum: number;
  /** Append a 'state-hash' record every this many effects (0: never). */
  readonly stateHashEvery: number;
  /** Write a snapshot every this many effects (0: only when asked). */
  readonly snapshotEvery: number;
  readonly timebase: 'ticks' | 'wall';
  /**
   * Final outcomes kept per agent for idempotency (its most recent ones). A retry of an older req_id is evaluated
   * afresh, like a new intent (its old context_seq then normally makes it STALE_CONTEXT).
   */
  readonly idempotencyWindow: number;
  /**
   * The class of an agent joining the world for the first time, by its id and tenant (undefined: 'default'). How a
   * served world puts its agents in classes, since a client does not choose its own; the class is recorded with the
   * agent (its AGENT record), so a restart or a replay keeps it whatever this function says later.
   */
  readonly agentClassOf: ((agentId: string, tenant: string) => string | undefined) | undefined;
}

export interface WorldDefinition {
  readonly name: string;
  readonly schema_version: string;
  readonly seed: string;
  readonly initialState: WorldState;
  readonly handlers: Readonly<Record<string, EffectKindHandler>>;
  readonly validators: readonly WorldValidator[];
  readonly systems: readonly WorldSystem[];
  readonly policies: WorldPolicies;
}

export interface WorldSpec {
  readonly name: string;
  readonly seed: string | number;
  readonly initialState?: Partial<WorldState>;
  readonly handlers?: Readonly<Record<string, EffectKindHandler>>;
  readonly validators?: readonly WorldValidator[];
  readonly systems?: readonly WorldSystem[];
  readonly policies?: {
    readonly observation?: ObservationPolicy;
    readonly agentClasses?: Readonly<Record<string, Partial<AgentClassPolicy>>>;
    readonly tenantQuota?: RateQuota;
    readonly maxPatchOps?: number;
    readonly maxIntentsPerQuantum?: number;
    readonly stateHashEvery?: number;
    readonly snapshotEvery?: number;
    readonly timebase?: 'ticks' | 'wall';
    readonly idempotencyWindow?: number;
    readonly agentClassOf?: (agentId: string, tenant: string) => string | undefined;
  };
}

const DEFAULT_CLASS: AgentClassPolicy = {
  queueLimit: 64,
  backpressure: 'defer',
  weight: 1,
  quota: undefined,
  interrupt: 'always',
  stalenessThreshold: 0,
};


/**
 * Default final outcomes kept per agent: 1,024 (about 135 bytes each in memory and 90 in a snapshot; at 10 intents/s,
 * the last 100 s). Far more than an agent has in flight across a reconnect (the default queueLimit is 64); 4,096
 * made 1,000 busy agents hold 4 million entries, about 1 GB of heap and a 370 MB snapshot.
 */
export const DEFAULT_IDEMPOTENCY_WINDOW = 1024;

function posInt(v: number, what: string, min = 0): number {
  if (!Number.isSafeInteger(v) || v < min) throw bad(`${what} must be an integer >= ${min}.`);
  return v;
}

function checkQuota(q: RateQuota | undefined, what: string): RateQuota | undefined {
  if (q === undefined) return undefined;
  if (q === null || typeof q !== 'object') throw bad(`${what} must be an object { rate, burst }.`);
  knownKeys(q, ['rate', 'burst'], what);
  if (!(q.rate > 0) || !(q.burst >= 1)) throw bad(`${what} needs rate > 0 and burst >= 1.`);
  return q;
}

/** What is wrong with an interrupt policy (an agent class's, or one a generation asks for), or undefined. */
export function interruptProblem(p: unknown): string | undefined {
  if (p === 'always' || p === 'only_conflict') return undefined;
  if (typeof p === 'object' && p !== null && Number.isFinite((p as { debounce_ms?: unknown }).debounce_ms) && (p as { debounce_ms: number }).debounce_ms > 0) return undefined;
  return `interrupt must be 'always', 'only_conflict' or { debounce_ms > 0 }, not ${JSON.stringify(p)}.`;
}

function checkInterrupt(p: InterruptPolicy): InterruptPolicy {
  const problem = interruptProblem(p);
  if (problem !== undefined) throw bad(problem);
  return p;
}

/** Normalises one agent class, filling defaults. */
export function agentClass(p: Partial<AgentClassPolicy> = {}, name = 'default'): AgentClassPolicy {
  if (p === null || typeof p !== 'object') throw bad(`agent class ${name} must be an object.`);
  knownKeys(p, Object.keys(DEFAULT_CLASS), `agent class ${name}`);
  const c = { ...DEFAULT_CLASS, ...p };
  posInt(c.queueLimit, 'queueLimit', 1);
  posInt(c.weight, 'weight', 1);
  posInt(c.stalenessThreshold, 'stalenessThreshold');
  if (!['defer', 'shed_oldest', 'drop_newest'].includes(c.backpressure)) throw bad('backpressure must be defer, shed_oldest or drop_newest.');
  return { ...c, quota: checkQuota(c.quota, 'agent quota'), interrupt: checkInterrupt(c.interrupt) };
}

/** Checks a world specification and returns the definition the runtime runs. */
export function defineWorld(spec: WorldSpec): WorldDefinition {
  if (spec === null || typeof spec !== 'object') throw bad('the definition must be an object (name, seed, initialState, handlers, ...).');
  if (typeof spec.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(spec.name)) throw bad('name must match [A-Za-z0-9_.-]{1,64}.');
  knownKeys(spec, ['name', 'seed', 'initialState', 'handlers', 'validators', 'systems', 'policies'], 'the definition');
  if (!(typeof spec.seed === 'string' || (typeof spec.seed === 'number' && Number.isFinite(spec.seed)))) throw bad('seed must be a string or a finite number (every uuid and random stream derives from it).');
  // Tables looked up by names clients send (an intent's kind, an agent's class) have no prototype: "constructor" or
  // "toString" is then an unknown kind, not an inherited function taken for a handler.
  const handlers: Record<string, EffectKindHandler> = Object.assign(Object.create(null) as Record<string, EffectKindHandler>, BUILTIN_KINDS);
  for (const [kind, h] of Object.entries(spec.handlers ?? {})) {
    if (Object.hasOwn(BUILTIN_KINDS, kind)) throw bad(`kind ${kind} is built in and cannot be redefined.`);
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(kind)) throw bad(`kind ${kind} must match [A-Za-z][A-Za-z0-9_.-]{0,63}.`);
    handlers[kind] = checkHandler(kind, h);
  }
  const p = spec.policies ?? {};
  if (p === null || typeof p !== 'object') throw bad('policies must be an object.');
  knownKeys(p, ['observation', 'agentClasses', 'tenantQuota', 'maxPatchOps', 'maxIntentsPerQuantum', 'stateHashEvery', 'snapshotEvery', 'timebase', 'idempotencyWindow', 'agentClassOf'], 'policies');
  if (p.agentClassOf !== undefined && typeof p.agentClassOf !== 'function') throw bad('policies.agentClassOf must be a function (agentId, tenant) returning the name of an agent class, or undefined for default.');
  const obs = checkObservation(p.observation ?? {});
  if (p.timebase !== undefined && p.timebase !== 'ticks' && p.timebase !== 'wall') throw bad("timebase must be 'ticks' or 'wall'.");
  if (obs.relationships) posInt(obs.relationships.depth, 'relationships depth', 1);
  const classes: Record<string, AgentClassPolicy> = Object.assign(Object.create(null) as Record<string, AgentClassPolicy>, { default: agentClass(p.agentClasses?.['default']) });
  for (const [name, c] of Object.entries(p.agentClasses ?? {})) classes[name] = agentClass(c, name);
  const names = new Set<string>();
  const systems = (spec.systems ?? []).map(checkSystem);
  for (const s of systems) {
    if (names.has(s.name)) throw bad(`two systems are named ${s.name}.`);
    names.add(s.name);
  }
  const validators = (spec.validators ?? []).map(checkValidator);
  // A rule listing a kind the world does not have would never run: most likely a misspelt kind, refused here.
  validators.forEach((v, i) => {
    for (const k of v.kinds ?? []) if (!(k in handlers)) throw bad(`validators[${i}] (${v.rule}) names kind ${JSON.stringify(k)}, which the world does not have; its kinds are ${Object.keys(handlers).join(', ')}.`);
  });
  const initialState = checkInitialState(spec.initialState ?? {}, SCHEMA_VERSION);
  return Object.freeze({
    name: spec.name,
    schema_version: SCHEMA_VERSION,
    seed: String(spec.seed),
    initialState,
    handlers,
    validators,
    systems,
    policies: {
      observation: obs,
      agentClasses: classes,
      tenantQuota: checkQuota(p.tenantQuota, 'tenant quota'),
      maxPatchOps: posInt(p.maxPatchOps ?? 512, 'maxPatchOps', 1),
      maxIntentsPerQuantum: posInt(p.maxIntentsPerQuantum ?? 4096, 'maxIntentsPerQuantum', 1),
      stateHashEvery: posInt(p.stateHashEvery ?? 1000, 'stateHashEvery'),
      snapshotEvery: posInt(p.snapshotEvery ?? 0, 'snapshotEvery'),
      timebase: p.timebase ?? 'ticks',
      idempotencyWindow: posInt(p.idempotencyWindow ?? DEFAULT_IDEMPOTENCY_WINDOW, 'idempotencyWindow', 1),
      agentClassOf: p.agentClassOf,
    },
  });
}
