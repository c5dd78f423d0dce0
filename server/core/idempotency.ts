/**
 * The idempotency index: for each (agent, req_id) that reached a final, recorded outcome (committed, or rejected by
 * a world rule at commit time), the outcome and the digest of the intent. It is rebuilt at start from the snapshot
 * and the log records after it, so a retry after a restart gets the same outcome, global_seq included. Intents
 * rejected before ordering (shape, staleness, quota, backpressure, deadline, cancellation) are never recorded: a
 * retry with the same req_id is evaluated afresh.
 *
 * Retention: each agent's last `perAgent` recorded outcomes (the world policy `idempotencyWindow`). Recording one
 * more forgets that agent's oldest, so the index, the snapshots that carry it and the time to rebuild it stay
 * bounded however long the world runs, and an agent that floods cannot push another agent's outcomes out. Replay
 * rebuilds the same window: it depends only on the order of the records.
 */
import { randomInt } from 'node:crypto';
import type { IntentOutcome } from './types.js';

/** The stored form of a final outcome (a committed outcome without its effect body). */
export type RecordedOutcome = Exclude<IntentOutcome, { status: 'cancelled' }>;

type RejectedOutcome = Extract<IntentOutcome, { status: 'rejected' }>;

export interface IndexEntry {
  readonly digest: string;
  readonly outcome: RecordedOutcome;
}

/**
 * The index's entries at one instant, as columns (IdempotencyIndex.capture): rows in toJSON's order, each agent's
 * rows contiguous, oldest first. A rejection's row has uuid '' and its outcome in `rejections`.
 */
export interface IndexCapture {
  /** The agents, in order, and how many rows each has. */
  readonly agents: readonly string[];
  readonly counts: readonly number[];
  readonly reqIds: readonly string[];
  /** Row r's digest and uuid (read from a copy of the index's byte columns: no string is made at capture). */
  digest(row: number): string;
  uuid(row: number): string;
  readonly globalSeqs: Float64Array;
  readonly simTimes: Float64Array;
  readonly rejections: ReadonlyMap<number, RejectedOutcome>;
}

export interface IdempotencyIndexOptions {
  /** Outcomes kept per agent, newest first (default: all). */
  readonly perAgent?: number | undefined;
  /** Replaces the key hash (tests force collisions with it). */
  readonly keyHash?: ((agent: number, reqId: string, seed: number) => number) | undefined;
}

const MIN_ENTRIES = 1024;
/** A longer probe than this means clustering, by bad luck or by crafted req_ids: the table is rehashed with a new seed. */
const MAX_PROBE = 100;
const NONE = -1;

/**
 * The index lives as long as the world and is consulted by every submit, so it is laid out for that: an
 * open-addressing hash table of (hash, entry) pairs in one Int32Array, and the entries in columns (typed arrays for
 * the numbers, plain arrays for the strings). A lookup that misses (the usual case: a new req_id) reads one or two
 * table slots and no key string; nested Maps cost a few cache misses per lookup at a million entries, and an object
 * per entry for the garbage collector to copy and mark. Each agent's entries form a list, oldest first, through
 * `next`; a forgotten entry's number goes to a free list (through `next` too) and is reused.
 */
export class IdempotencyIndex {
  readonly perAgent: number;
  private readonly keyHash: (agent: number, reqId: string, seed: number) => number;
  private readonly agentNumbers = new Map<string, number>();
  private readonly agentIds: string[] = [];
  /** Per agent: its oldest and newest entry, and how many it has. */
  private readonly heads: number[] = [];
  private readonly tails: number[] = [];
  private readonly counts: number[] = [];
  /** Live entries. */
  private count = 0;
  /** Entry numbers handed out so far (live or free): the columns' used length. */
  private used = 0;
  private free = NONE;
  /** The entry's agent number (NONE when the entry is free). */
  private agentOf = new Int32Array(MIN_ENTRIES);
  /** The agent's next entry, or the next free entry. */
  private next = new Int32Array(MIN_ENTRIES);
  private readonly reqIds: string[] = [];
  /**
   * Digests (22 characters) and uuids (36) as bytes, not a string object each: a million entries (1,000 agents at the
   * default window) hold two million fewer objects for the garbage collector to mark, and ~55 MB less heap.
   */
  private readonly digests = new StringColumn(DIGEST_CHARS, MIN_ENTRIES);
  /** Committed outcomes' fields ('' and 0 for a rejection, whose outcome is in `rejections`). */
  private readonly uuids = new StringColumn(UUID_CHARS, MIN_ENTRIES);
  private globalSeqs = new Float64Array(MIN_ENTRIES);
  private simTimes = new Float64Array(MIN_ENTRIES);
  private readonly rejections = new Map<number, RejectedOutcome>();
  /** Slot s is table[2s] (hash) and table[2s + 1] (entry + 1; 0 when empty). At most half the slots are used. */
  private table = new Int32Array(4 * MIN_ENTRIES);
  /**
   * Seeds the key hash so req_ids cannot be chosen to collide (as V8 seeds its own string hashes). It only decides
   * where entries sit in the table, never what the index answers or the order toJSON lists them in.
   */
  private seed = randomInt(0x7fffffff);

  constructor(opts: IdempotencyIndexOptions = {}) {
    const k = opts.perAgent ?? Infinity;
    if (!(k >= 1)) throw new RangeError(`perAgent must be at least 1, got ${k}`);
    this.perAgent = k;
    this.keyHash = opts.keyHash ?? hashKey;
  }

  /** Outcomes held (at most perAgent per agent). */
  get size(): number {
    return this.count;
  }

  get(agentId: string, reqId: string): IndexEntry | undefined {
    const agent = this.agentNumbers.get(agentId);
    if (agent === undefined) return undefined;
    const e = this.find(agent, reqId, this.hash(agent, reqId));
    return e < 0 ? undefined : { digest: this.digests.get(e), outcome: this.outcome(e, agentId, reqId) };
  }

  record(agentId: string, reqId: string, digest: string, outcome: IntentOutcome): void {
    if (outcome.status === 'cancelled') return;
    if (outcome.status === 'committed') this.recordCommitted(agentId, reqId, digest, outcome.global_seq, outcome.uuid, outcome.sim_time);
    else this.rejections.set(this.put(agentId, reqId, digest, 0, '', 0), outcome);
  }

  /** record() of a committed outcome, from its fields (the commit path builds no outcome object for it). */
  recordCommitted(agentId: string, reqId: string, digest: string, globalSeq: number, uuid: string, simTime: number): void {
    this.rejections.delete(this.put(agentId, reqId, digest, globalSeq, uuid, simTime));
  }

  /** Entries per agent (agents in the order they first recorded), each agent's oldest first, for snapshots. */
  toJSON(): IndexEntry[] {
    const out: IndexEntry[] = [];
    for (let a = 0; a < this.agentIds.length; a++) {
      const agentId = this.agentIds[a] as string;
      for (let e = this.heads[a] as number; e !== NONE; e = this.next[e] as number) {
        out.push({ digest: this.digests.get(e), outcome: this.outcome(e, agentId, this.reqIds[e] as string) });
      }
    }
    return out;
  }

  /**
   * The entries copied as they are now, in toJSON's order, as columns: a snapshot encodes them later, in slices, while
   * the index moves on. Copies references and numbers only (no outcome objects): tens of ms per million entries.
   */
  capture(): IndexCapture {
    const n = this.count;
    const reqIds = new Array<string>(n);
    /** Row -> entry number, to read the copied columns by. */
    const entries = new Int32Array(n);
    const globalSeqs = new Float64Array(n);
    const simTimes = new Float64Array(n);
    const rejections = new Map<number, RejectedOutcome>();
    const agents: string[] = [];
    const counts: number[] = [];
    const anyRejected = this.rejections.size > 0;
    let r = 0;
    for (let a = 0; a < this.agentIds.length; a++) {
      const start = r;
      for (let e = this.heads[a] as number; e !== NONE; e = this.next[e] as number) {
        reqIds[r] = this.reqIds[e] as string;
        entries[r] = e;
        globalSeqs[r] = this.globalSeqs[e] as number;
        simTimes[r] = this.simTimes[e] as number;
        if (anyRejected) {
          const rej = this.rejections.get(e);
          if (rej !== undefined) rejections.set(r, rej);
        }
        r++;
      }
      if (r > start) {
        agents.push(this.agentIds[a] as string);
        counts.push(r - start);
      }
    }
    const digests = this.digests.copy();
    const uuids = this.uuids.copy();
    return {
      agents, counts, reqIds, globalSeqs, simTimes, rejections,
      digest: (row) => digests.get(entries[row] as number),
      uuid: (row) => uuids.get(entries[row] as number),
    };
  }

  static fromJSON(list: readonly IndexEntry[], opts: IdempotencyIndexOptions = {}): IdempotencyIndex {
    const idx = new IdempotencyIndex(opts);
    for (const e of list) idx.record(e.outcome.agent_id, e.outcome.req_id, e.digest, e.outcome);
    return idx;
  }

  /** The outcome object of entry e, built when asked for (most are never asked for). */
  private outcome(e: number, agentId: string, reqId: string): RecordedOutcome {
    return this.rejections.get(e) ?? { status: 'committed', agent_id: agentId, req_id: reqId, global_seq: this.globalSeqs[e] as number, uuid: this.uuids.get(e), sim_time: this.simTimes[e] as number };
  }

  /**
   * Adds or overwrites the entry of (agent, req_id); returns its number. An overwritten entry keeps its place in its
   * agent's list; a new one goes last, and forgets the agent's oldest when the agent already has perAgent.
   */
  private put(agentId: string, reqId: string, digest: string, globalSeq: number, uuid: string, simTime: number): number {
    let agent = this.agentNumbers.get(agentId);
    if (agent === undefined) {
      agent = this.agentIds.length;
      this.agentNumbers.set(agentId, agent);
      this.agentIds.push(agentId);
      this.heads.push(NONE);
      this.tails.push(NONE);
      this.counts.push(0);
    }
    const h = this.hash(agent, reqId);
    let e = this.find(agent, reqId, h);
    if (e < 0) {
      if ((this.counts[agent] as number) >= this.perAgent) this.forgetOldest(agent);
      e = this.allocate();
      this.count++;
      this.agentOf[e] = agent;
      this.next[e] = NONE;
      const tail = this.tails[agent] as number;
      if (tail === NONE) this.heads[agent] = e;
      else this.next[tail] = e;
      this.tails[agent] = e;
      this.counts[agent] = (this.counts[agent] as number) + 1;
      this.reqIds[e] = reqId;
      this.digests.set(e, digest);
      this.uuids.set(e, uuid);
      // The new entry is placed after the table grows (a grow moves only the entries already placed).
      if (2 * this.count > this.table.length >> 1) this.grow();
      if (!this.place(h, e, MAX_PROBE)) this.reseed();
    } else {
      this.digests.set(e, digest);
      this.uuids.set(e, uuid);
    }
    this.globalSeqs[e] = globalSeq;
    this.simTimes[e] = simTime;
    return e;
  }

  /** A free entry number: a forgotten one, or the next unused (the columns grow when full). */
  private allocate(): number {
    const f = this.free;
    if (f !== NONE) {
      this.free = this.next[f] as number;
      return f;
    }
    const e = this.used++;
    if (e === this.agentOf.length) this.growColumns();
    return e;
  }

  /** Forgets the agent's oldest entry: out of the table, its strings released, its number freed. */
  private forgetOldest(agent: number): void {
    const e = this.heads[agent] as number;
    this.unplace(this.hash(agent, this.reqIds[e] as string), e);
    const n = this.next[e] as number;
    this.heads[agent] = n;
    if (n === NONE) this.tails[agent] = NONE;
    this.counts[agent] = (this.counts[agent] as number) - 1;
    this.count--;
    this.agentOf[e] = NONE;
    this.reqIds[e] = '';
    this.digests.clear(e);
    this.uuids.clear(e);
    this.rejections.delete(e);
    this.next[e] = this.free;
    this.free = e;
  }

  private hash(agent: number, reqId: string): number {
    return this.keyHash(agent, reqId, this.seed) | 0;
  }

  /** The entry number of (agent, req_id), or -1. */
  private find(agent: number, reqId: string, h: number): number {
    const t = this.table;
    const mask = (t.length >> 1) - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const at = t[2 * s + 1] as number;
      if (at === 0) return -1;
      if (t[2 * s] === h && this.agentOf[at - 1] === agent && this.reqIds[at - 1] === reqId) return at - 1;
    }
  }

  /** Puts entry e in the first free slot from its hash; false when that takes more than `limit` probes. */
  private place(h: number, e: number, limit: number): boolean {
    const t = this.table;
    const mask = (t.length >> 1) - 1;
    let s = h & mask;
    for (let probe = 0; t[2 * s + 1] !== 0; probe++) {
      if (probe >= limit) return false;
      s = (s + 1) & mask;
    }
    t[2 * s] = h;
    t[2 * s + 1] = e + 1;
    return true;
  }

  /**
   * Takes entry e (key hash h) out of the table by backward shift: each later entry of the probe run that may sit
   * in the emptied slot moves up into it, so no tombstone is left and every other entry stays reachable from its home.
   */
  private unplace(h: number, e: number): void {
    const t = this.table;
    const mask = (t.length >> 1) - 1;
    let hole = h & mask;
    while (t[2 * hole + 1] !== e + 1) hole = (hole + 1) & mask;
    for (let j = (hole + 1) & mask; t[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = (t[2 * j] as number) & mask;
      // The entry at j may move to the hole unless its home lies cyclically in (hole, j].
      if (hole <= j ? home > hole && home <= j : home > hole || home <= j) continue;
      t[2 * hole] = t[2 * j] as number;
      t[2 * hole + 1] = t[2 * j + 1] as number;
      hole = j;
    }
    t[2 * hole] = 0;
    t[2 * hole + 1] = 0;
  }

  /** Rebuilds the table with a new seed, after a long probe; if a few seeds do no better, keeps the long probes. */
  private reseed(): void {
    for (let tries = 0; tries < 4; tries++) {
      this.seed = randomInt(0x7fffffff);
      if (this.rebuild(this.table.length, MAX_PROBE)) return;
    }
    this.rebuild(this.table.length, Infinity);
  }

  /** Doubles the table, moving the (hash, entry) pairs over: no key is hashed again. */
  private grow(): void {
    const old = this.table;
    this.table = new Int32Array(old.length * 2);
    for (let s = 0; s < old.length; s += 2) {
      const at = old[s + 1] as number;
      if (at !== 0) this.place(old[s] as number, at - 1, Infinity);
    }
  }

  /** Places every live entry in a new table of `length` ints; false when one took more than `limit` probes. */
  private rebuild(length: number, limit: number): boolean {
    this.table = new Int32Array(length);
    for (let e = 0; e < this.used; e++) {
      const a = this.agentOf[e] as number;
      if (a !== NONE && !this.place(this.hash(a, this.reqIds[e] as string), e, limit)) return false;
    }
    return true;
  }

  private growColumns(): void {
    this.agentOf = doubled(this.agentOf, new Int32Array(this.agentOf.length * 2));
    this.next = doubled(this.next, new Int32Array(this.next.length * 2));
    this.globalSeqs = doubled(this.globalSeqs, new Float64Array(this.globalSeqs.length * 2));
    this.simTimes = doubled(this.simTimes, new Float64Array(this.simTimes.length * 2));
    this.digests.grow(this.agentOf.length);
    this.uuids.grow(this.agentOf.length);
  }
}

const DIGEST_CHARS = 22;
const UUID_CHARS = 36;

/**
 * A column of strings that nearly all have one length and only latin1 characters (the server's digests and uuids),
 * kept as bytes; any other string (a rejection's empty uuid, a value from an old log) goes to a small map.
 */
class StringColumn {
  private bytes: Buffer;
  private readonly odd = new Map<number, string>();

  constructor(private readonly width: number, capacity: number) {
    this.bytes = Buffer.alloc(width * capacity);
  }

  set(e: number, s: string): void {
    if (s.length === this.width && latin1(s)) {
      this.bytes.write(s, e * this.width, this.width, 'latin1');
      if (this.odd.size > 0) this.odd.delete(e);
    } else this.odd.set(e, s);
  }

  get(e: number): string {
    if (this.odd.size > 0) {
      const s = this.odd.get(e);
      if (s !== undefined) return s;
    }
    const at = e * this.width;
    return this.bytes.toString('latin1', at, at + this.width);
  }

  clear(e: number): void {
    if (this.odd.size > 0) this.odd.delete(e);
  }

  /** A copy as it is now (one copy of the bytes: a few ms for a million entries), for a capture read later. */
  copy(): StringColumn {
    const c = new StringColumn(this.width, 0);
    c.bytes = Buffer.from(this.bytes);
    for (const [e, v] of this.odd) c.odd.set(e, v);
    return c;
  }

  /** Room for `capacity` entries, keeping the ones held. */
  grow(capacity: number): void {
    const next = Buffer.alloc(this.width * capacity);
    this.bytes.copy(next);
    this.bytes = next;
  }
}

function latin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

/** `into` (twice the length) holding `from`'s values first. */
function doubled<T extends Int32Array | Float64Array>(from: T, into: T): T {
  into.set(from);
  return into;
}

/** A seeded 32-bit hash of (agent number, req_id): murmur-style mixing per character, then a finaliser. */
function hashKey(agent: number, reqId: string, seed: number): number {
  let h = seed ^ Math.imul(agent + 1, 0x9e3779b1);
  for (let i = 0; i < reqId.length; i++) {
    h = Math.imul(h ^ reqId.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 15;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h;
}
