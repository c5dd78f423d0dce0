/**
 * The snapshot document: everything needed to resume a world at a log position without reading the records
 * before it (state, agents with their view_seq, the idempotency index, counters).
 *
 * Bytes: the document's canonical JSON on one line (its state's `entities` empty when they follow as lines); then the
 * entities as lines `{"entities":[["<id>",record], ...]}` of at most ENTITIES_PER_LINE, in the store's order (`entity_rows`
 * counts them); then, when the idempotency index has entries, the index as lines of at most ROWS_PER_LINE rows each, `["<agent_id>",[row, ...]]`, a committed outcome's row
 * `["<req_id>","<digest>",global_seq,sim_time,"<uuid>"]` and a rejection's `["<req_id>","<digest>",{outcome}]`, each
 * agent's rows oldest first. The index can hold millions of entries (1,000 agents × idempotencyWindow): as one JSON
 * document (the first format, still read: no newline, entries in `idempotency`) its text passed V8's string length
 * limit, or the heap, near 4 million entries, and took seconds to build with the event loop blocked. In lines it is
 * about half the size, built in slices that yield to the event loop (encodeSnapshotAsync), and read a line at a time.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { WorldlineError } from '../errors.js';
import { canonicalJson, parseJsonBytes, utf8 } from './canonical.js';
import type { IndexCapture, IndexEntry, RecordedOutcome } from './idempotency.js';
import { SCHEMA_VERSION, type EntityRecord, type WorldState } from './types.js';

export interface SnapshotAgent {
  readonly agent_id: string;
  readonly agent_class: string;
  readonly tenant: string;
  readonly view_seq: number;
}

/**
 * The agents' recent visible events (what stale_due_to and interrupt policies name), so a restart from a snapshot
 * knows them: each distinct event once, and per agent the event behind each of its last view_seqs.
 */
export interface SnapshotCauses {
  /** [global_seq, kind, changed entity ids]. */
  readonly events: ReadonlyArray<readonly [number, string, readonly string[]]>;
  /** Per agent: the view_seq of refs[0], and for each view_seq from it the index of its event (-1: unknown). */
  readonly rings: ReadonlyArray<{ readonly agent_id: string; readonly from: number; readonly refs: readonly number[] }>;
}

export interface SnapshotDoc {
  readonly schema_version: string;
  readonly world_id: string;
  readonly global_seq: number;
  readonly uuid_counter: number;
  readonly effects_since_hash: number;
  readonly state: WorldState;
  readonly agents: readonly SnapshotAgent[];
  /** The index in the first format; empty when it follows as lines (index_rows). */
  readonly idempotency: readonly IndexEntry[];
  /** Absent in snapshots written before it existed (their restarts know no event before the snapshot). */
  readonly causes?: SnapshotCauses;
  /** Rows of the index in the lines after the document (absent: none, or the first format). */
  readonly index_rows?: number;
  /** Entities in the lines after the document, before the index's (absent: they are in state.entities). */
  readonly entity_rows?: number;
}

/**
 * The entities of a state as they are now (WorldStore entries; records are immutable, so references are a consistent
 * copy), to be written as lines after the document, whose state.entities is then left empty.
 */
export interface EntityCapture {
  readonly ids: readonly string[];
  readonly records: readonly EntityRecord[];
}

/** A decoded snapshot: the document, and the bytes of its index lines (forEachIndexRow reads them). */
export type DecodedSnapshot = SnapshotDoc & { readonly indexLines?: Buffer };

const ROWS_PER_LINE = 1024;
const ENTITIES_PER_LINE = 512;
/** Lines encoded between two yields to the event loop in encodeSnapshotAsync (about 1 MB of text). */
const LINES_PER_SLICE = 8;
const NEWLINE = 0x0a;

/** The snapshot's bytes in pieces: the document's line, then the entities' lines, then the index's lines. */
function* pieces(doc: SnapshotDoc, index: IndexCapture | undefined, entities: EntityCapture | undefined): Generator<Uint8Array> {
  const rows = index ? index.reqIds.length : 0;
  const ents = entities ? entities.ids.length : 0;
  if (rows === 0 && ents === 0) {
    yield utf8(canonicalJson(doc));
    return;
  }
  yield utf8(`${canonicalJson({ ...doc, idempotency: [], ...(rows > 0 ? { index_rows: rows } : {}), ...(ents > 0 ? { entity_rows: ents } : {}) })}\n`);
  if (entities !== undefined) {
    const { ids, records } = entities;
    for (let i = 0; i < ents; i += ENTITIES_PER_LINE) {
      const stop = Math.min(ents, i + ENTITIES_PER_LINE);
      let line = '{"entities":[';
      // canonicalJson, not the per-record cache (canonicalRecord): a snapshot would otherwise leave every record's text
      // in memory until the record changes (~50 bytes an entity, 10 MB in a 200,000-entity world).
      for (let j = i; j < stop; j++) line += `${j > i ? ',' : ''}[${JSON.stringify(ids[j])},${canonicalJson(records[j] as EntityRecord)}]`;
      yield Buffer.from(`${line}]}\n`);
    }
  }
  if (index === undefined || rows === 0) return;
  const { agents, counts, reqIds, globalSeqs, simTimes, rejections } = index;
  let r = 0;
  for (let a = 0; a < agents.length; a++) {
    const agent = JSON.stringify(agents[a]);
    const end = r + (counts[a] as number);
    while (r < end) {
      const stop = Math.min(end, r + ROWS_PER_LINE);
      let line = `[${agent},[`;
      for (let i = r; i < stop; i++) {
        if (i > r) line += ',';
        const head = `[${JSON.stringify(reqIds[i])},${JSON.stringify(index.digest(i))},`;
        const rej = rejections.get(i);
        line += rej !== undefined ? `${head}${canonicalJson(rej)}]` : `${head}${globalSeqs[i] as number},${simTimes[i] as number},${JSON.stringify(index.uuid(i))}]`;
      }
      r = stop;
      yield Buffer.from(`${line}]]\n`);
    }
  }
}

/**
 * The snapshot's bytes, built at once (tests, small worlds). `index`: the idempotency index, `entities`: the state's
 * entities (doc.state.entities then empty), each written as lines.
 */
export function encodeSnapshot(doc: SnapshotDoc, index?: IndexCapture, entities?: EntityCapture): Uint8Array {
  return Buffer.concat([...pieces(doc, index, entities)]);
}

/** encodeSnapshot in slices of about a megabyte, yielding to the event loop between them. */
export async function encodeSnapshotAsync(doc: SnapshotDoc, index?: IndexCapture, entities?: EntityCapture): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  let n = 0;
  for (const p of pieces(doc, index, entities)) {
    out.push(p);
    if (++n % LINES_PER_SLICE === 0) await yieldToLoop();
  }
  return Buffer.concat(out);
}

const corrupt = (why: string): WorldlineError => new WorldlineError('SNAPSHOT_CORRUPTED', `The snapshot's idempotency index is malformed: ${why}.`);
const corruptState = (why: string): WorldlineError => new WorldlineError('SNAPSHOT_CORRUPTED', `The snapshot's entities are malformed: ${why}.`);
const lineDecoder = new TextDecoder('utf-8', { fatal: true });

/** The JSON line starting at byte `at` and the offset after its newline; `corrupt` makes the error for one that is not JSON. */
function readLine(buf: Buffer, at: number, corrupt: (why: string) => WorldlineError): { line: unknown; next: number } {
  let end = buf.indexOf(NEWLINE, at);
  if (end < 0) end = buf.length;
  try {
    return { line: JSON.parse(lineDecoder.decode(buf.subarray(at, end))) as unknown, next: end + 1 };
  } catch {
    throw corrupt(`line at byte ${at} is not JSON`);
  }
}

/** What forEachIndexRow hands over, row by row, without building outcome objects for committed rows. */
export interface IndexRowSink {
  committed(agentId: string, reqId: string, digest: string, globalSeq: number, uuid: string, simTime: number): void;
  rejected(agentId: string, reqId: string, digest: string, outcome: RecordedOutcome): void;
}

/** Reads a decoded snapshot's index (either format) into `sink`, oldest first per agent. */
export function forEachIndexRow(doc: DecodedSnapshot, sink: IndexRowSink): void {
  for (const e of doc.idempotency) {
    const o = e.outcome;
    if (o.status === 'committed') sink.committed(o.agent_id, o.req_id, e.digest, o.global_seq, o.uuid, o.sim_time);
    else sink.rejected(o.agent_id, o.req_id, e.digest, o);
  }
  const bytes = doc.indexLines;
  if (bytes === undefined) return;
  const want = doc.index_rows ?? 0;
  let rows = 0;
  let at = 0;
  while (at < bytes.length) {
    const { line, next } = readLine(bytes, at, corrupt);
    at = next;
    if (!Array.isArray(line) || line.length !== 2 || typeof line[0] !== 'string' || !Array.isArray(line[1])) throw corrupt('a line is not ["agent_id", [rows]]');
    const agent = line[0];
    for (const row of line[1] as unknown[]) {
      if (!Array.isArray(row) || typeof row[0] !== 'string' || typeof row[1] !== 'string') throw corrupt(`a row of agent ${agent} is not ["req_id", "digest", ...]`);
      const [req, digest] = row as [string, string];
      if (row.length === 5) {
        const [, , g, t, u] = row as [string, string, unknown, unknown, unknown];
        if (!Number.isSafeInteger(g) || typeof t !== 'number' || typeof u !== 'string') throw corrupt(`the row of ${agent}/${req} is not a committed outcome`);
        sink.committed(agent, req, digest, g as number, u, t);
      } else if (row.length === 3) {
        const o = row[2] as RecordedOutcome | null;
        if (o === null || typeof o !== 'object' || o.status !== 'rejected' || o.agent_id !== agent || o.req_id !== req) throw corrupt(`the row of ${agent}/${req} is not a rejection`);
        sink.rejected(agent, req, digest, o);
      } else throw corrupt(`the row of ${agent}/${req} has ${row.length} fields`);
      rows++;
    }
  }
  if (rows !== want) throw corrupt(`${rows} rows where the document announces ${want}`);
}

export function decodeSnapshot(bytes: Uint8Array, worldId: string): DecodedSnapshot {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const nl = buf.indexOf(NEWLINE);
  const v = parseJsonBytes(nl < 0 ? buf : buf.subarray(0, nl), 'snapshot') as Partial<SnapshotDoc> | null;
  if (v === null || typeof v !== 'object' || typeof v.schema_version !== 'string') throw new WorldlineError('SNAPSHOT_CORRUPTED', 'The snapshot has no schema_version.');
  if (v.schema_version.split('.')[0] !== SCHEMA_VERSION.split('.')[0]) {
    throw new WorldlineError('SCHEMA_VERSION_MISMATCH', `The snapshot has schema ${v.schema_version}; this server reads ${SCHEMA_VERSION}.`, { found: v.schema_version });
  }
  if (v.world_id !== worldId) throw new WorldlineError('LOG_WORLD_MISMATCH', `The snapshot belongs to world ${String(v.world_id)}, not ${worldId}.`);
  if (!Number.isSafeInteger(v.global_seq) || !v.state || !Array.isArray(v.agents) || !Array.isArray(v.idempotency)) {
    throw new WorldlineError('SNAPSHOT_CORRUPTED', 'The snapshot is missing fields.');
  }
  const c = v.causes;
  if (c !== undefined && (c === null || typeof c !== 'object' || !Array.isArray(c.events) || !Array.isArray(c.rings))) {
    throw new WorldlineError('SNAPSHOT_CORRUPTED', 'The snapshot\'s causes are malformed.');
  }
  const rows = v.index_rows;
  if (rows !== undefined && !(Number.isSafeInteger(rows) && rows >= 0)) throw corrupt(`index_rows is ${String(rows)}`);
  const ents = v.entity_rows;
  if (ents !== undefined && !(Number.isSafeInteger(ents) && ents >= 0)) throw corruptState(`entity_rows is ${String(ents)}`);
  if (nl < 0) {
    if ((rows ?? 0) > 0 || (ents ?? 0) > 0) throw corrupt(`the document announces ${rows ?? 0} index rows and ${ents ?? 0} entities, and no lines follow it`);
    return v as SnapshotDoc;
  }
  let at = nl + 1;
  if ((ents ?? 0) > 0) {
    const state = v.state as WorldState;
    if (state.entities === null || typeof state.entities !== 'object' || Object.keys(state.entities).length > 0) throw corruptState('entities are both in the document and in lines');
    const pairs: Array<[string, EntityRecord]> = [];
    let read = 0;
    while (read < (ents as number)) {
      if (at >= buf.length) throw corruptState(`${read} entities where the document announces ${ents}`);
      const { line, next } = readLine(buf, at, corruptState);
      at = next;
      const list = (line as { entities?: unknown } | null)?.entities;
      if (!Array.isArray(list)) throw corruptState('an entity line is not {"entities": [...]}');
      for (const pair of list as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || pair[1] === null || typeof pair[1] !== 'object' || Array.isArray(pair[1])) throw corruptState('an entity is not ["id", {record}]');
        pairs.push(pair as [string, EntityRecord]);
        read++;
      }
    }
    if (read !== ents) throw corruptState(`${read} entities where the document announces ${ents}`);
    // In the order the first format gave them (canonical JSON's sorted keys, then JSON.parse's object): a restored
    // store iterates its entities the same way whichever format its snapshot had.
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (let i = 1; i < pairs.length; i++) {
      const id = (pairs[i] as [string, EntityRecord])[0];
      if (id === (pairs[i - 1] as [string, EntityRecord])[0]) throw corruptState(`entity ${id} appears twice`);
    }
    // A null-prototype object: an entity id "__proto__" is an own key, as JSON.parse makes it.
    const entities = Object.create(null) as Record<string, EntityRecord>;
    for (const [id, rec] of pairs) entities[id] = rec;
    (v as { state: WorldState }).state = { ...state, entities };
  }
  return { ...(v as SnapshotDoc), indexLines: buf.subarray(at) };
}
