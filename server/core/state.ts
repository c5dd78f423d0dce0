/**
 * The world state and the only way to change it. Entity records are copy-on-write: a change replaces the record
 * object, so views and caches can hold the version they saw. Every change made while applying one effect is
 * journalled (first `before`, last `after` per entity) so the effect can be rolled back if its apply function
 * throws, and so observation knows exactly what changed.
 */
import { WorldlineError } from '../errors.js';
import { canonicalJson, canonicalMember, canonicalMemberHash, sha256Hex } from './canonical.js';
import { FIELD_VALUE_DEPTH, MAX_JSON_DEPTH, canonicalOrder, frozenJson, isFieldName, isJsonValue, isWellFormed, sameJson } from './json-value.js';
import { SetDigest, setDigestOf, type MemberHash } from './set-digest.js';
import { SCHEMA_VERSION, type EntityRecord, type JsonValue, type WorldState } from './types.js';

/** How one entity changed while one effect was applied (undefined: did not exist). */
export interface EntityChange {
  readonly id: string;
  readonly before: EntityRecord | undefined;
  readonly after: EntityRecord | undefined;
}

/** Everything one effect changed. */
export interface ChangeSet {
  readonly entities: EntityChange[];
  readonly relationshipsChanged: boolean;
  /** Metadata, the tick or a generator state was set (replay's lockstep check compares the whole state then). */
  readonly restChanged: boolean;
}

/** The mutation API handed to effect apply functions. */
export interface StateMutator {
  readonly tick: number;
  get(id: string): EntityRecord | undefined;
  has(id: string): boolean;
  /** Sets fields on an existing entity. */
  set(id: string, fields: Readonly<Record<string, JsonValue>>): void;
  /** Removes fields from an existing entity. */
  unset(id: string, fields: readonly string[]): void;
  spawn(id: string, record: Readonly<Record<string, JsonValue>>): void;
  despawn(id: string): void;
  relate(from: string, to: string): void;
  unrelate(from: string, to: string): void;
  relatedTo(from: string): readonly string[];
  meta(key: string): JsonValue | undefined;
  setMeta(key: string, value: JsonValue): void;
  setTick(tick: number): void;
  setRng(name: string, state: JsonValue): void;
}

const ID_MAX = 128;

/** Checks an entity or agent id: a non-empty well-formed string of at most 128 UTF-16 units. */
export function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > ID_MAX || !isWellFormed(id)) {
    throw new WorldlineError('INVALID_INTENT', `${what} must be a non-empty string of at most ${ID_MAX} characters.`, { field: what });
  }
  return id;
}

/**
 * The fields with every object value replaced by a deeply frozen copy (json-value.ts frozenJson): the state never
 * shares an object with the payload or apply function that wrote it. Fields of primitives only (most writes: a
 * position) are returned as they are.
 */
function ownValues(fields: Readonly<Record<string, JsonValue>>): Readonly<Record<string, JsonValue>> {
  let copy: Record<string, JsonValue> | undefined;
  for (const k in fields) {
    const v = fields[k];
    if (typeof v === 'object' && v !== null) {
      const f = frozenJson(v);
      if (f !== v) (copy ??= { ...fields })[k] = f;
    }
  }
  return copy ?? fields;
}

/** x and y, when present, are finite numbers (the grid places entities by them). */
function checkPosition(record: Readonly<Record<string, JsonValue>>, id: string): void {
  for (const k of ['x', 'y'] as const) {
    const v = record[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
      throw new WorldlineError('INVALID_INTENT', `Entity ${id}: field ${k} must be a finite number.`, { entity_id: id, field: k });
    }
  }
}

/**
 * Checks the fields an effect writes into an entity: x and y (when given) finite numbers, every value a JSON value
 * shallow enough that the views holding it are JSON values too (json-value.ts), every new field's name well-formed
 * and not "__proto__". Whatever road a value took (a codec, REST, an in-process call, a world's apply function), a
 * record every client can decode. A name the record already has was checked when it was added.
 */
export function checkFields(fields: Readonly<Record<string, JsonValue>>, id: string, cur: EntityRecord | undefined): void {
  for (const k in fields) {
    const v = fields[k];
    if (typeof v === 'number' && Number.isFinite(v)) {
      // The common case (a position, a counter): nothing more to check.
    } else if (k === 'x' || k === 'y') {
      throw new WorldlineError('INVALID_INTENT', `Entity ${id}: field ${k} must be a finite number.`, { entity_id: id, field: k });
    } else if (!isJsonValue(v, FIELD_VALUE_DEPTH)) {
      throw new WorldlineError('INTENT_VALIDATION_FAILED', `Entity ${id}: field ${k} must be a JSON value (finite numbers, well-formed strings, plain objects and arrays at most ${MAX_JSON_DEPTH - FIELD_VALUE_DEPTH} levels deep, no "__proto__" key), so that every view holding it is one.`, { rule: 'json_value', entity_id: id, field: k });
    }
    if ((cur === undefined || !Object.hasOwn(cur, k)) && !isFieldName(k)) {
      throw new WorldlineError('INTENT_VALIDATION_FAILED', `Entity ${id}: a field may not be named ${JSON.stringify(k)} (no lone surrogates, not "__proto__").`, { rule: 'json_value', entity_id: id });
    }
  }
}

/** sha256 (hex) of the canonical JSON of a state whose entities are given by their set digest. */
function stateHashText(
  entitiesDigest: string,
  metadata: ReadonlyMap<string, JsonValue>,
  relationships: ReadonlyMap<string, readonly string[]>,
  rng: ReadonlyMap<string, JsonValue>,
  tick: number,
): string {
  const text =
    `{"entities_digest":"${entitiesDigest}","metadata":${canonicalJson(Object.fromEntries(metadata))},` +
    `"relationships":${canonicalJson(Object.fromEntries(relationships))},"rng":${canonicalJson(Object.fromEntries(rng))},` +
    `"schema_version":${JSON.stringify(SCHEMA_VERSION)},"tick":${tick}}`;
  return sha256Hex(text);
}

/**
 * The state hash of a WorldState document, computed from scratch (what WorldStore.hash() keeps up to date):
 * sha256 (hex) of the canonical JSON of {entities_digest, metadata, relationships, rng, schema_version, tick}, where
 * entities_digest is the set digest (set-digest.ts) of the members `"<id>":<canonical record>` of `entities`.
 */
export function stateHashOf(state: WorldState): string {
  const members = Object.entries(state.entities).map(([id, rec]) => canonicalMember(id, rec));
  const rels = new Map(Object.entries(state.relationships).map(([k, v]) => [k, [...new Set(v)].sort()] as const));
  return stateHashText(setDigestOf(members), new Map(Object.entries(state.metadata)), rels, new Map(Object.entries(state.rng)), state.tick);
}

export class WorldStore implements StateMutator {
  tick: number;
  readonly entities = new Map<string, EntityRecord>();
  private readonly relationships = new Map<string, string[]>();
  private readonly metadata = new Map<string, JsonValue>();
  private readonly rngStates = new Map<string, JsonValue>();

  /**
   * The records before the effect being applied (first change wins), as parallel arrays reused from one effect
   * to the next (a Map would allocate its table and an entry pair per change); a Set indexes a long journal.
   */
  private readonly journalIds: string[] = [];
  private readonly journalBefore: Array<EntityRecord | undefined> = [];
  private journalSize = 0;
  private journalIndex: Set<string> | undefined;
  private journaling = false;
  private relJournal: Map<string, string[] | undefined> | undefined;
  private metaJournal: Map<string, JsonValue | undefined> | undefined;
  private rngJournal: Map<string, JsonValue | undefined> | undefined;
  private tickBefore = 0;
  /** Entities changed since the last hash(), and the record (with its member hash) the entities digest counts for each. */
  private readonly unhashed = new Set<string>();
  private readonly hashed = new Map<string, { record: EntityRecord; hash: MemberHash }>();
  private readonly entitiesDigest = new SetDigest();

  constructor(state: WorldState) {
    if (typeof state.tick !== 'number' || !Number.isSafeInteger(state.tick)) throw new WorldlineError('CONFIG_INVALID', 'initialState.tick must be an integer.');
    this.tick = state.tick;
    for (const [id, rec] of Object.entries(state.entities)) {
      checkId(id, 'entity id');
      // Positions only: a state restored from a snapshot is taken as it was written, so a record stored before a
      // rule of checkFields existed still loads.
      checkPosition(rec, id);
      this.entities.set(id, Object.freeze(canonicalOrder({ ...ownValues(rec) })));
      this.unhashed.add(id);
    }
    for (const [from, tos] of Object.entries(state.relationships)) this.relationships.set(from, [...new Set(tos)].sort());
    for (const [k, v] of Object.entries(state.metadata)) this.metadata.set(k, frozenJson(v));
    for (const [k, v] of Object.entries(state.rng)) this.rngStates.set(k, v);
  }

  /** Starts journalling the changes of one effect. */
  begin(): void {
    this.clearJournal();
    this.journaling = true;
    this.relJournal = undefined;
    this.metaJournal = undefined;
    this.rngJournal = undefined;
    this.tickBefore = this.tick;
  }

  /** Ends the effect and returns what it changed. */
  end(): ChangeSet {
    const entities: EntityChange[] = [];
    if (this.journaling) {
      for (let i = 0; i < this.journalSize; i++) {
        const id = this.journalIds[i] as string;
        const before = this.journalBefore[i];
        const after = this.entities.get(id);
        if (before !== after) entities.push({ id, before, after });
      }
      this.clearJournal();
      this.journaling = false;
    }
    return { entities, relationshipsChanged: this.relJournal !== undefined, restChanged: this.metaJournal !== undefined || this.rngJournal !== undefined || this.tick !== this.tickBefore };
  }

  /** Undoes every change since begin(). */
  rollback(): void {
    if (this.journaling) {
      for (let i = this.journalSize - 1; i >= 0; i--) {
        const id = this.journalIds[i] as string;
        const before = this.journalBefore[i];
        if (before === undefined) this.entities.delete(id);
        else this.entities.set(id, before);
      }
    }
    if (this.relJournal) for (const [from, before] of this.relJournal) {
      if (before === undefined) this.relationships.delete(from);
      else this.relationships.set(from, before);
    }
    if (this.metaJournal) for (const [k, before] of this.metaJournal) {
      if (before === undefined) this.metadata.delete(k);
      else this.metadata.set(k, before);
    }
    if (this.rngJournal) for (const [k, before] of this.rngJournal) {
      if (before === undefined) this.rngStates.delete(k);
      else this.rngStates.set(k, before);
    }
    this.tick = this.tickBefore;
    this.clearJournal();
    this.journaling = false;
    this.relJournal = undefined;
    this.metaJournal = undefined;
    this.rngJournal = undefined;
  }

  private touch(id: string): void {
    this.unhashed.add(id);
    if (!this.journaling || this.journaled(id)) return;
    const n = this.journalSize++;
    this.journalIds[n] = id;
    this.journalBefore[n] = this.entities.get(id);
    if (this.journalIndex) this.journalIndex.add(id);
    else if (n + 1 > 16) this.journalIndex = new Set(this.journalIds.slice(0, n + 1));
  }

  private journaled(id: string): boolean {
    if (this.journalIndex) return this.journalIndex.has(id);
    for (let i = 0; i < this.journalSize; i++) if (this.journalIds[i] === id) return true;
    return false;
  }

  private clearJournal(): void {
    // Drop the records so the journal does not keep them alive; ids are overwritten next time.
    for (let i = 0; i < this.journalSize; i++) this.journalBefore[i] = undefined;
    this.journalSize = 0;
    this.journalIndex = undefined;
  }

  get(id: string): EntityRecord | undefined {
    return this.entities.get(id);
  }

  has(id: string): boolean {
    return this.entities.has(id);
  }

  /**
   * Sets fields on an entity. Setting what it already holds changes nothing: the record stays the same object, so the
   * effect is no event for anyone (a Move into a wall, a value written again). Values are copied, deeply frozen.
   */
  set(id: string, fields: Readonly<Record<string, JsonValue>>): void {
    const cur = this.entities.get(id);
    if (cur === undefined) throw new WorldlineError('INTENT_VALIDATION_FAILED', `Entity ${id} does not exist.`, { rule: 'entity_exists', entity_id: id });
    checkFields(fields, id, cur);
    let changed = false;
    let added = false;
    for (const k in fields) {
      if (!Object.hasOwn(cur, k)) {
        changed = added = true;
        break;
      }
      if (!changed && !sameJson(cur[k], fields[k])) changed = true;
    }
    if (!changed) return;
    this.touch(id);
    // A new field goes where a snapshot's record, read back, has it (canonical key order), so an apply function that
    // walks a record's keys sees them in the same order live, after a restart and in a replay.
    const next = { ...cur, ...ownValues(fields) };
    this.entities.set(id, Object.freeze(added ? canonicalOrder(next) : next));
  }

  /** Removes fields; removing only fields the entity lacks changes nothing (no event). */
  unset(id: string, fields: readonly string[]): void {
    const cur = this.entities.get(id);
    if (cur === undefined) throw new WorldlineError('INTENT_VALIDATION_FAILED', `Entity ${id} does not exist.`, { rule: 'entity_exists', entity_id: id });
    if (!fields.some((f) => Object.hasOwn(cur, f))) return;
    this.touch(id);
    const next: Record<string, JsonValue> = { ...cur };
    for (const f of fields) delete next[f];
    this.entities.set(id, Object.freeze(next));
  }

  spawn(id: string, record: Readonly<Record<string, JsonValue>>): void {
    checkId(id, 'entity id');
    if (this.entities.has(id)) throw new WorldlineError('INTENT_VALIDATION_FAILED', `Entity ${id} already exists.`, { rule: 'entity_absent', entity_id: id });
    checkFields(record, id, undefined);
    this.touch(id);
    this.entities.set(id, Object.freeze(canonicalOrder({ ...ownValues(record) })));
  }

  despawn(id: string): void {
    if (!this.entities.has(id)) throw new WorldlineError('INTENT_VALIDATION_FAILED', `Entity ${id} does not exist.`, { rule: 'entity_exists', entity_id: id });
    this.touch(id);
    this.entities.delete(id);
  }

  private touchRel(from: string): void {
    this.relJournal ??= new Map();
    if (!this.relJournal.has(from)) this.relJournal.set(from, this.relationships.get(from));
  }

  relate(from: string, to: string): void {
    const cur = this.relationships.get(from) ?? [];
    if (cur.includes(to)) return;
    this.touchRel(from);
    this.relationships.set(from, [...cur, to].sort());
  }

  unrelate(from: string, to: string): void {
    const cur = this.relationships.get(from);
    if (!cur?.includes(to)) return;
    this.touchRel(from);
    const next = cur.filter((t) => t !== to);
    if (next.length === 0) this.relationships.delete(from);
    else this.relationships.set(from, next);
  }

  relatedTo(from: string): readonly string[] {
    return this.relationships.get(from) ?? [];
  }

  meta(key: string): JsonValue | undefined {
    return this.metadata.get(key);
  }

  setMeta(key: string, value: JsonValue): void {
    this.metaJournal ??= new Map();
    if (!this.metaJournal.has(key)) this.metaJournal.set(key, this.metadata.get(key));
    this.metadata.set(key, frozenJson(value));
  }

  setTick(tick: number): void {
    this.tick = tick;
  }

  setRng(name: string, state: JsonValue): void {
    // Journalled like metadata: an apply that throws after saving a generator state must not leave it behind.
    this.rngJournal ??= new Map();
    if (!this.rngJournal.has(name)) this.rngJournal.set(name, this.rngStates.get(name));
    this.rngStates.set(name, state);
  }

  rngState(name: string): JsonValue | undefined {
    return this.rngStates.get(name);
  }

  /**
   * The entities as they are now, in the store's order (records are immutable: a consistent copy that can be encoded
   * later, as a snapshot's entity lines are).
   */
  captureEntities(): { ids: string[]; records: EntityRecord[] } {
    const ids: string[] = [];
    const records: EntityRecord[] = [];
    for (const [id, rec] of this.entities) {
      ids.push(id);
      records.push(rec);
    }
    return { ids, records };
  }

  /** The state document; without its entities (`entities: {}`) when `withEntities` is false (see captureEntities). */
  toJSON(withEntities = true): WorldState {
    return {
      schema_version: SCHEMA_VERSION,
      tick: this.tick,
      entities: withEntities ? Object.fromEntries(this.entities) : {},
      relationships: Object.fromEntries(this.relationships),
      metadata: Object.fromEntries(this.metadata),
      rng: Object.fromEntries(this.rngStates),
    };
  }

  /**
   * The state hash: sha256 (hex) of the canonical JSON of the state with `entities` replaced by
   * `entities_digest`, the set digest of the entities' canonical members (see stateHashOf). The entities digest is
   * kept up to date from the entities changed since the last call, so the cost does not grow with the world.
   */
  hash(): string {
    for (const id of this.unhashed) {
      const slot = this.hashed.get(id);
      const cur = this.entities.get(id);
      if (slot?.record === cur) continue;
      if (slot !== undefined) this.entitiesDigest.remove(slot.hash);
      if (cur === undefined) {
        this.hashed.delete(id);
        continue;
      }
      const h = canonicalMemberHash(id, cur);
      this.entitiesDigest.add(h);
      if (slot !== undefined) {
        slot.record = cur;
        slot.hash = h;
      } else {
        this.hashed.set(id, { record: cur, hash: h });
      }
    }
    this.unhashed.clear();
    return stateHashText(this.entitiesDigest.hex(), this.metadata, this.relationships, this.rngStates, this.tick);
  }
}
