/**
 * The worlds created at runtime (POST /v1/worlds, RunningServer.createWorld), kept in DATA/created-worlds.json so a
 * restarted server hosts them again. Worlds from the configuration are not listed here: the configuration names them.
 * The file is replaced atomically (temporary file, fsync, rename, fsync of the directory), one write at a time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { idProblem } from '../config.js';
import { WorldlineError } from '../errors.js';
import { fsyncDirSync, mkdirDurableSync } from '../log/files.js';

/** The folder that holds every hosted world's data folder: DATA/worlds (worldDataDir is one of them). */
export function worldsDir(dataDir: string): string {
  return path.join(dataDir, 'worlds');
}

/** One world created at runtime. */
export interface CreatedWorld {
  readonly id: string;
  readonly tenant: string;
  /** The name of the world definition it runs (a built-in world, or one a configured world runs). */
  readonly world: string;
  /** Where the definition is loaded from at restart: a built-in name or an absolute module path (absent: a definition given in code). */
  readonly source?: string;
  /** ISO 8601. */
  readonly created_at: string;
  /** Deleted once no WebSocket has been connected to it for this many seconds (absent: kept until deleted). */
  readonly delete_after_idle_sec?: number;
  /** That deletion also deletes its data. */
  readonly purge_on_delete?: boolean;
}

/** The longest idle time a created world may be given before it deletes itself: 30 days. */
export const MAX_IDLE_SEC = 30 * 24 * 3600;

/** What is wrong with an idle deletion setting, or undefined. */
export function idleProblem(sec: unknown, purge: unknown): string | undefined {
  if (sec !== undefined && !(Number.isInteger(sec) && (sec as number) >= 1 && (sec as number) <= MAX_IDLE_SEC)) return `delete_after_idle_sec must be a whole number of seconds from 1 to ${MAX_IDLE_SEC}, got ${JSON.stringify(sec)}`;
  if (purge !== undefined && typeof purge !== 'boolean') return `purge_on_delete must be true or false, got ${JSON.stringify(purge)}`;
  return undefined;
}

const VERSION = 1;
export const REGISTRY_FILE = 'created-worlds.json';

export class WorldRegistry {
  readonly file: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly dataDir: string) {
    this.file = path.join(dataDir, REGISTRY_FILE);
  }

  /** The created worlds, in creation order; none when the file does not exist. A damaged file is CONFIG_INVALID. */
  load(): CreatedWorld[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new WorldlineError('CONFIG_INVALID', `cannot read ${this.file}: ${(err as Error).message}`, { file: this.file });
    }
    const bad = (what: string): never => {
      throw new WorldlineError('CONFIG_INVALID', `${this.file} ${what}; it lists the worlds created at runtime: fix the entry, or move the file aside to start without them (their data stays in ${worldsDir(this.dataDir)})`, { file: this.file });
    };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return bad('is not valid JSON');
    }
    const doc = json as { schema_version?: unknown; worlds?: unknown };
    if (typeof doc !== 'object' || doc === null || doc.schema_version !== VERSION || !Array.isArray(doc.worlds)) return bad(`is not a list of created worlds (schema_version ${VERSION})`);
    const out: CreatedWorld[] = [];
    const ids = new Set<string>();
    for (const [i, e] of (doc.worlds as unknown[]).entries()) {
      const w = e as Partial<Record<keyof CreatedWorld, unknown>>;
      if (typeof w !== 'object' || w === null || typeof w.id !== 'string' || typeof w.tenant !== 'string' || typeof w.world !== 'string' || typeof w.created_at !== 'string' || (w.source !== undefined && typeof w.source !== 'string')) {
        return bad(`entry ${i} needs string id, tenant, world and created_at`);
      }
      const problem = idProblem('world id', w.id) ?? idProblem('tenant', w.tenant) ?? idleProblem(w.delete_after_idle_sec, w.purge_on_delete);
      if (problem !== undefined) return bad(`entry ${i}: ${problem}`);
      if (ids.has(w.id)) return bad(`lists the world ${JSON.stringify(w.id)} twice`);
      ids.add(w.id);
      out.push({
        id: w.id, tenant: w.tenant, world: w.world, ...(w.source !== undefined ? { source: w.source as string } : {}), created_at: w.created_at,
        ...(w.delete_after_idle_sec !== undefined ? { delete_after_idle_sec: w.delete_after_idle_sec as number } : {}),
        ...(w.purge_on_delete !== undefined ? { purge_on_delete: w.purge_on_delete as boolean } : {}),
      });
    }
    return out;
  }

  /** Replaces the file with `worlds`, durably; writes run one after another in call order. */
  save(worlds: readonly CreatedWorld[]): Promise<void> {
    const text = JSON.stringify({ schema_version: VERSION, worlds }, null, 2) + '\n';
    const next = this.writing.then(() => replaceFileDurably(this.dataDir, this.file, text));
    this.writing = next.catch(() => {});
    return next;
  }
}

/** Replaces `file` (in `dir`, created if need be) with `text`: temporary file, fsync, rename, fsync of the directory. */
async function replaceFileDurably(dir: string, file: string, text: string): Promise<void> {
  mkdirDurableSync(dir);
  const tmp = `${file}.tmp`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    // writeFile loops over short writes until the whole text is written (or fails, e.g. ENOSPC).
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  fsyncDirSync(dir);
}

/** The file in a created world's data folder that says who created it, and from what: `DATA/worlds/ID/created.json`. */
export const OWNER_FILE = 'created.json';

/** Who created a world at runtime, as its data folder records it. */
export interface WorldOwner {
  readonly tenant: string;
  readonly world: string;
}

/**
 * Who owns the data in a world's folder: 'none' when there is no folder, 'unknown' when there is one that no runtime
 * creation made (a configured world's, or copied there), else the tenant and definition that created it. A folder's
 * data outlives a deletion without purge, so a later creation of the same id must not hand it to another tenant.
 */
export function readOwner(dir: string): WorldOwner | 'none' | 'unknown' {
  if (!fs.existsSync(dir)) return 'none';
  try {
    const o = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as Partial<WorldOwner>;
    return typeof o.tenant === 'string' && typeof o.world === 'string' ? { tenant: o.tenant, world: o.world } : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Records who created a world in its (new) data folder, durably, before its log is created there. */
export function writeOwner(dir: string, owner: WorldOwner & { created_at: string }): Promise<void> {
  return replaceFileDurably(dir, path.join(dir, OWNER_FILE), JSON.stringify({ schema_version: VERSION, ...owner }) + '\n');
}
