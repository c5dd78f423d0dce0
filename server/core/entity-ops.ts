/**
 * An entity's JSON Pointer paths and the RFC 6902 ops between two of its records, for the observation engine's
 * deltas. Paths are made once per entity and field (see pathsOf) so the transport's path interning hashes each once.
 */
import { escapePointerToken } from './canonical.js';
import type { EntityRecord, PatchOp } from './types.js';
import type { EntityPos } from './visibility.js';

/** An entity's JSON Pointer and those of its fields, each string made once (see pathsOf). */
export interface EntityPaths {
  readonly path: string;
  /**
   * Its fields' paths: [name, path, name, path, ...], searched in order (records have few fields; an array is a
   * fraction of a Map's size, and one of these is kept for every entity that changes).
   */
  readonly fields: string[];
  /** The same, by name, once there are more than FIELD_SCAN of them. */
  byName: Map<string, string> | undefined;
}

/** Field paths are looked up by a scan of EntityPaths.fields up to this many fields, by a map beyond. */
const FIELD_SCAN = 16;

function newPaths(id: string): EntityPaths {
  return { path: `/entities/${escapePointerToken(id)}`, fields: [], byName: undefined };
}

/**
 * Entity and field paths, made once per entity (and field) rather than per op: the transport interns every path it
 * puts on the wire (a map lookup), and a string concatenated afresh for each op is hashed afresh each time, where a
 * kept one carries its hash. Shared by every world in the process (ids are just strings); bounded like `singles`.
 * Fast mode keeps them on the entities' grid entries instead (pathsAt): no lookup by id, no map of every entity.
 */
const entityPaths = new Map<string, EntityPaths>();

export function pathsOf(id: string): EntityPaths {
  let e = entityPaths.get(id);
  if (e === undefined) {
    if (entityPaths.size >= 1 << 20) entityPaths.clear();
    e = newPaths(id);
    entityPaths.set(id, e);
  }
  return e;
}

export const pathOf = (id: string): string => pathsOf(id).path;

/** An entity's paths, kept on its grid entry (made for it, so they live as long as the entry). */
export const pathsAt = (p: EntityPos): EntityPaths => (p.paths ??= newPaths(p.id)) as EntityPaths;

function fieldPath(e: EntityPaths, k: string): string {
  if (e.byName !== undefined) {
    let p = e.byName.get(k);
    if (p === undefined) {
      p = `${e.path}/${escapePointerToken(k)}`;
      e.byName.set(k, p);
    }
    return p;
  }
  const f = e.fields;
  for (let i = 0; i < f.length; i += 2) if (f[i] === k) return f[i + 1] as string;
  const p = `${e.path}/${escapePointerToken(k)}`;
  if (f.length >= FIELD_SCAN * 2) {
    e.byName = new Map();
    for (let i = 0; i < f.length; i += 2) e.byName.set(f[i] as string, f[i + 1] as string);
    e.byName.set(k, p);
  } else f.push(k, p);
  return p;
}

/** Writes the ops taking `prev` to `cur` to out[n...] and returns the new count (n: by default, append). */
export function fieldOps(paths: EntityPaths, prev: EntityRecord, cur: EntityRecord, out: PatchOp[], n = out.length): number {
  for (const k in cur) {
    const v = cur[k];
    if (v === undefined) continue;
    if (!(k in prev)) out[n++] = { op: 'add', path: fieldPath(paths, k), value: v };
    else if (prev[k] !== v) out[n++] = { op: 'replace', path: fieldPath(paths, k), value: v };
  }
  for (const k in prev) if (!(k in cur)) out[n++] = { op: 'remove', path: fieldPath(paths, k) };
  return n;
}

/** exactOps' scratch (counted, never truncated: truncating frees its storage, to be regrown by the next call). */
const opsScratch: PatchOp[] = [];

/**
 * fieldOps into an array of exactly their number. A shared fragment lives until its quantum is delivered; an array
 * grown by push keeps room for 17 ops however few it holds (a move has 2), and in a large quantum that slack is
 * copied by every scavenge the fragment survives.
 */
export function exactOps(paths: EntityPaths, prev: EntityRecord, cur: EntityRecord): PatchOp[] {
  const n = fieldOps(paths, prev, cur, opsScratch, 0);
  const s = opsScratch;
  // Array literals for the usual sizes (a move changes one or two fields): unlike slice's result, a literal has an
  // allocation site, so V8 can allocate these arrays, which live as long as their fragment, in the old generation.
  switch (n) {
    case 1:
      return [s[0] as PatchOp];
    case 2:
      return [s[0] as PatchOp, s[1] as PatchOp];
    case 3:
      return [s[0] as PatchOp, s[1] as PatchOp, s[2] as PatchOp];
    default:
      return s.slice(0, n);
  }
}

/** Whether two records hold the same fields with identical values (===: a nested value must be the same object). */
export function sameRecord(a: EntityRecord, b: EntityRecord): boolean {
  if (a === b) return true;
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _k in b) n--;
  return n === 0;
}
