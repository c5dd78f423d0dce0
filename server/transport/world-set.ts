/**
 * The worlds a server hosts: those it was configured with, and those created and deleted while it runs (listed in
 * DATA/created-worlds.json, so a restart hosts them again). Each has its own WorldHost (log, tick loop) and session
 * dependencies (its own quarantine); the maps are live, so the WebSocket upgrade and REST see worlds come and go.
 * The transport tells it what only the transport knows (how many sockets a world has, closing them) through hooks.
 * A world that failed because its log refused a write (a full disk) is reopened here once its log takes writes again,
 * without a restart and without touching the other worlds.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { idProblem, type Config } from '../config.js';
import type { WorldDefinition } from '../core/index.js';
import { WorldlineError } from '../errors.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { isWorldModule, loadWorld, resolveWorld, worlds as builtinWorlds } from '../worlds/index.js';
import type { Authenticator } from './auth.js';
import { worldNotFound } from './http.js';
import { Quarantine } from './rate-limit.js';
import type { SessionDeps } from './session.js';
import { WorldHost, worldDataDir, type WorldHostOptions } from './world-host.js';
import { WorldRegistry, idleProblem, readOwner, worldsDir, writeOwner, type CreatedWorld } from './world-registry.js';

/** Marks a world folder being purged; '~' is in no world id, so such a name never is a world's folder. */
const PURGING = '~purging-';

/**
 * Removes a world's data folder: renamed aside first (one atomic step), then deleted. A recursive delete cut short (a
 * crash, a kill -9) would otherwise leave part of a folder under the world's id, e.g. its segments without the
 * created.json that says whose they are, and the id stuck until an operator cleans it; a folder renamed aside frees
 * the id at once, and what a cut-short delete leaves is removed at the next start (removeUnfinishedPurges).
 */
async function purgeDir(dir: string): Promise<void> {
  const aside = `${dir}${PURGING}${randomBytes(8).toString('hex')}`;
  try {
    await fs.promises.rename(dir, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await fs.promises.rm(aside, { recursive: true, force: true });
}

/** Deletes what purges cut short left in DATA/worlds (folders renamed aside by purgeDir). */
function removeUnfinishedPurges(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) if (n.includes(PURGING)) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
}

/** A world to open: its id, tenant and definition, and where the definition came from (a built-in name or an absolute module path; absent for code). */
export interface ToHost {
  readonly id: string;
  readonly tenant: string;
  readonly world: WorldDefinition;
  readonly source?: string;
}

/** A world to create on a running server (POST /v1/worlds, RunningServer.createWorld). */
export interface NewWorld {
  /** Its id in URLs and its data folder. */
  readonly id: string;
  /**
   * The world definition it runs, by name: a built-in world (default, arena, arena-<entities>, conversation), one
   * that a world hosted at start runs, or one of ServerDeps.templates. Never a module path: a client must not make
   * the server load code.
   */
  readonly world: string;
  /** Its owner (default: the server's tenant). */
  readonly tenant?: string;
  /**
   * Deletes it once no WebSocket has been connected to it for this many seconds (checked every second), like a room
   * that closes when its last player leaves; counted from its creation (or the server's start) until someone joins.
   */
  readonly deleteAfterIdleSec?: number;
  /** That deletion also deletes its data. */
  readonly purgeOnDelete?: boolean;
}

export interface WorldSetOptions {
  readonly cfg: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly auth: Authenticator;
  readonly now: () => number;
  /** The server's settings applied to a world definition (quotas, snapshot policy). */
  readonly configure: (world: WorldDefinition) => WorldDefinition;
  /** More definitions worlds may be created from, beside the built-in ones and those hosted at start. */
  readonly templates?: readonly WorldDefinition[];
  /** @internal Every world's log file layer and disk probe interval (tests inject a full disk). */
  readonly logIo?: WorldHostOptions['logIo'];
}

/**
 * Reopens of one world within this window count as one streak: each after the first waits twice as long as the one
 * before (from REOPEN_DELAY_MS, at most REOPEN_MAX_DELAY_MS), so a disk that keeps filling up right after space
 * returns does not have the world rebuilt from its log every probe interval.
 */
const REOPEN_STREAK_MS = 10 * 60_000;
const REOPEN_DELAY_MS = 1000;
const REOPEN_MAX_DELAY_MS = 60_000;

/** What only the transport knows about a world's connections. */
export interface WorldSockets {
  /** WebSockets open on a world now. */
  count(worldId: string): number;
  /** Closes every WebSocket of a world with going-away and `reason`. */
  closeAll(worldId: string, reason: string): void;
}

export class WorldSet {
  /** The hosted worlds by id: the configured ones in the order configured, then those created at runtime. */
  readonly hosts = new Map<string, WorldHost>();
  /** Each hosted world's session dependencies (its own quarantine: one world's violations lock nobody out of another). */
  readonly sessionDeps = new Map<string, SessionDeps>();
  private readonly created = new Map<string, CreatedWorld>();
  /** The definitions a world created at runtime may run, by name: those of the worlds hosted at start, then templates. */
  private readonly templates = new Map<string, { world: WorldDefinition; source?: string }>();
  private readonly registry: WorldRegistry;
  /** Worlds being created, deleted or reopened: their ids are taken meanwhile, and closing waits for them. */
  private readonly busy = new Map<string, Promise<unknown>>();
  /** Since when each created world with an idle limit has had no socket nor agent request. */
  private readonly idleSince = new Map<string, number>();
  private sockets: WorldSockets | undefined;
  /** Per world whose log failed: when its last reopens happened (for the backoff) and the reopen waiting, if any. */
  private readonly reopens = new Map<string, { at: number[]; timer: NodeJS.Timeout | undefined }>();
  private idleTimer: NodeJS.Timeout | undefined;
  private accepting = false;
  private closing = false;

  private constructor(private readonly opts: WorldSetOptions) {
    this.registry = new WorldRegistry(opts.cfg.dataDir);
  }

  /** Opens the configured worlds, then those created at runtime before; on any failure closes what it opened. */
  static async open(toHost: readonly ToHost[], opts: WorldSetOptions): Promise<WorldSet> {
    const set = new WorldSet(opts);
    removeUnfinishedPurges(worldsDir(opts.cfg.dataDir));
    for (const w of toHost) if (!set.templates.has(w.world.name)) set.templates.set(w.world.name, { world: w.world, ...(w.source !== undefined ? { source: w.source } : {}) });
    for (const t of opts.templates ?? []) if (!set.templates.has(t.name)) set.templates.set(t.name, { world: t });
    const file = set.registry.file;
    try {
      for (const w of toHost) {
        // The kept data of a world created at runtime and deleted without purge stays its tenant's (as create keeps it):
        // configuring its id for another tenant would hand that tenant its log.
        const owner = readOwner(set.dirOf(w.id));
        if (typeof owner === 'object' && owner.tenant !== w.tenant) {
          throw new WorldlineError('CONFIG_INVALID', `world ${JSON.stringify(w.id)} is configured for tenant ${w.tenant}, but ${set.dirOf(w.id)} holds the kept data of tenant ${owner.tenant}'s world of that id, created at runtime and deleted without purge: give the configured world another id, or move that folder away (or purge it as that tenant's admin on a server that does not configure the id)`, { world: w.id, key: 'worlds' });
        }
        await set.openHost(w);
      }
      for (const c of set.registry.load()) {
        if (set.hosts.has(c.id)) throw new WorldlineError('CONFIG_INVALID', `world ${JSON.stringify(c.id)} is configured and also listed in ${file} (created at runtime): give the configured one another id, or delete the created one first`, { world: c.id });
        const t = set.templates.get(c.world);
        if (!t && c.source === undefined) throw new WorldlineError('CONFIG_INVALID', `world ${JSON.stringify(c.id)} (created at runtime, listed in ${file}) runs the definition ${JSON.stringify(c.world)} given in code, and this server was not given it: pass it in startServer's templates (or worlds), or remove the entry`, { world: c.id });
        const definition = t ? t.world : await loadWorld(c.source as string).catch((err: unknown) => {
          throw new WorldlineError('CONFIG_INVALID', `world ${JSON.stringify(c.id)} (created at runtime, listed in ${file}) cannot be hosted again: ${(err as Error).message}; restore its definition, or remove the entry`, { world: c.id }, { cause: err });
        });
        await set.openHost({ id: c.id, tenant: c.tenant, world: definition });
        set.created.set(c.id, c);
      }
    } catch (err) {
      await set.closeHosts().catch(() => {});
      throw err;
    }
    set.countWorlds();
    return set;
  }

  /** Starts taking creations and deletions, and the idle sweep, once the transport can say how many sockets a world has. */
  accept(sockets: WorldSockets): void {
    this.sockets = sockets;
    this.accepting = true;
    this.idleTimer = setInterval(() => this.sweepIdle(), 1000);
    this.idleTimer.unref();
  }

  get healthy(): boolean {
    return [...this.hosts.values()].every((h) => h.healthy);
  }

  /** Hosted because the configuration (or startServer's code) names it, or because it was created at runtime. */
  origin(id: string): 'configured' | 'created' {
    return this.created.has(id) ? 'created' : 'configured';
  }

  /** How a hosted world came to be, as GET /v1/worlds shows it: its origin and, for a created one, its settings. */
  describe(id: string): { origin: 'configured' | 'created'; created_at?: string; delete_after_idle_sec?: number; purge_on_delete?: boolean } {
    const c = this.created.get(id);
    if (!c) return { origin: 'configured' };
    return {
      origin: 'created', created_at: c.created_at,
      ...(c.delete_after_idle_sec !== undefined ? { delete_after_idle_sec: c.delete_after_idle_sec } : {}),
      purge_on_delete: c.purge_on_delete === true,
    };
  }

  /** An agent played in the world over REST: it is not idle. */
  presence(id: string): void {
    if (this.idleSince.has(id)) this.idleSince.set(id, this.opts.now());
  }

  create(spec: NewWorld): Promise<WorldHost> {
    const { cfg, now } = this.opts;
    if (!this.accepting) return Promise.reject(this.notServing());
    const tenant = spec.tenant ?? cfg.tenant;
    const problem = idProblem('world id', spec.id) ?? idProblem('tenant', tenant) ?? idleProblem(spec.deleteAfterIdleSec, spec.purgeOnDelete);
    if (problem !== undefined) return Promise.reject(new WorldlineError('CONFIG_INVALID', problem));
    if (this.hosts.has(spec.id) || this.busy.has(spec.id)) return Promise.reject(new WorldlineError('WORLD_EXISTS', `a world with the id ${JSON.stringify(spec.id)} is ${this.hosts.has(spec.id) ? 'already hosted here' : 'being created or deleted'}: pick another id`, { world: spec.id }));
    // A world being reopened is busy and hosted: counted once.
    if (this.hosts.size + [...this.busy.keys()].filter((id) => !this.hosts.has(id)).length >= cfg.maxWorlds) return Promise.reject(new WorldlineError('QUOTA_EXCEEDED', `this server hosts at most ${cfg.maxWorlds} worlds (maxWorlds): delete one first`, { max_worlds: cfg.maxWorlds }));
    const t = this.templates.get(spec.world);
    const builtin = t ? undefined : isWorldModule(spec.world) ? undefined : resolveWorld(spec.world);
    if (!t && !builtin) {
      const known = [...new Set([...Object.keys(builtinWorlds), 'arena-<entities>', ...this.templates.keys()])];
      return Promise.reject(new WorldlineError('CONFIG_INVALID', `world ${JSON.stringify(spec.world)} is not a world definition this server has; one of: ${known.join(', ')}`, { field: 'world' }));
    }
    const source = t ? t.source : spec.world;
    const entry: CreatedWorld = {
      id: spec.id, tenant, world: spec.world, ...(source !== undefined ? { source } : {}), created_at: new Date(now()).toISOString(),
      ...(spec.deleteAfterIdleSec !== undefined ? { delete_after_idle_sec: spec.deleteAfterIdleSec } : {}),
      ...(spec.purgeOnDelete !== undefined ? { purge_on_delete: spec.purgeOnDelete } : {}),
    };
    return this.track(spec.id, (async () => {
      // A folder left by an earlier world of this id (deleted without purge) is carried on from only by its tenant and
      // with its definition: its data must not reach another tenant, and its log would not fit another definition.
      const dir = this.dirOf(spec.id);
      const owner = readOwner(dir);
      if (owner === 'unknown') throw new WorldlineError('WORLD_EXISTS', `${dir} holds the data of a world that was not created at runtime (a configured one, or copied there): pick another id, or have an operator move that folder away`, { world: spec.id });
      if (owner === 'none') await writeOwner(dir, { tenant, world: spec.world, created_at: entry.created_at });
      else if (owner.tenant !== tenant) throw new WorldlineError('WORLD_EXISTS', `the id ${JSON.stringify(spec.id)} holds the kept data of another tenant's deleted world: pick another id`, { world: spec.id });
      else if (owner.world !== spec.world) throw new WorldlineError('WORLD_EXISTS', `the id ${JSON.stringify(spec.id)} holds the kept data of a deleted world that ran ${JSON.stringify(owner.world)}: create it with world ${JSON.stringify(owner.world)} to carry on from that data, delete it with purge to start afresh, or pick another id`, { world: spec.id, kept_world: owner.world });
      const host = await this.openHost({ id: spec.id, tenant, world: t ? t.world : (builtin as WorldDefinition) });
      this.created.set(spec.id, entry);
      try {
        await this.registry.save([...this.created.values()]);
      } catch (err) {
        // Not hosted unless listed: a world that would silently vanish at the next restart is worse than none.
        this.created.delete(spec.id);
        this.unhost(spec.id);
        await host.close().catch(() => {});
        throw new WorldlineError('DATABASE_ERROR', `world ${spec.id} was not created: ${this.registry.file} could not be written (${(err as Error).message})`, { world: spec.id }, { cause: err });
      }
      this.countWorlds();
      host.opts.logger.info({ tenant, definition: spec.world }, 'world created');
      return host;
    })());
  }

  /**
   * Deletes a world created at runtime: unlisted at once (its paths answer WORLD_NOT_FOUND), its sockets closed, its
   * log flushed and closed, its data kept unless `purge`. For a world no longer hosted, `purge` removes the data it
   * left (for `tenant`'s admins only, when given).
   */
  delete(id: string, opts: { purge?: boolean; tenant?: string } = {}): Promise<{ id: string; purged: boolean }> {
    if (!this.accepting) return Promise.reject(this.notServing());
    if (this.busy.has(id)) return Promise.reject(new WorldlineError('WORLD_EXISTS', `world ${JSON.stringify(id)} is being created, deleted or reopened: retry once that is done`, { world: id }));
    const host = this.hosts.get(id);
    if (!host) return this.purgeKept(id, opts);
    if (!this.created.has(id)) return Promise.reject(new WorldlineError('FORBIDDEN', `world ${JSON.stringify(id)} is in the server's configuration, which would bring it back: remove it there and restart`, { world: id }));
    return this.track(id, (async () => {
      this.unhost(id);
      this.sockets?.closeAll(id, `world ${id} was deleted`);
      try {
        await host.close();
      } finally {
        // Unlisted even when its log failed to close: it was asked to go, and a restart recovers its data if kept.
        this.created.delete(id);
        this.idleSince.delete(id);
        // Its reopen backoff goes with it (an entry per world that ever failed, kept for good otherwise).
        const r = this.reopens.get(id);
        if (r?.timer !== undefined) clearTimeout(r.timer);
        this.reopens.delete(id);
        this.countWorlds();
        await this.registry.save([...this.created.values()]);
      }
      const purged = opts.purge === true;
      if (purged) await purgeDir(this.dirOf(id));
      host.opts.logger.info({ purged }, 'world deleted');
      return { id, purged };
    })());
  }

  /** Takes no more creations or deletions, and waits for those under way. */
  async quiesce(): Promise<void> {
    this.accepting = false;
    this.closing = true;
    if (this.idleTimer !== undefined) clearInterval(this.idleTimer);
    for (const r of this.reopens.values()) if (r.timer !== undefined) clearTimeout(r.timer);
    this.reopens.clear();
    // A world being opened is closed with the rest; one being deleted finishes closing first.
    await Promise.allSettled([...this.busy.values()]);
  }

  /** quiesce, then closes every world (all, even if one fails; the first failure is thrown). */
  async close(): Promise<void> {
    await this.quiesce();
    await this.closeHosts();
  }

  private async openHost(w: ToHost): Promise<WorldHost> {
    const { cfg, logger, metrics } = this.opts;
    const host = await WorldHost.open({
      world: this.opts.configure(w.world), worldId: w.id, tenant: w.tenant, dataDir: cfg.dataDir, durability: cfg.durability as 'batch',
      segmentBytes: cfg.segmentBytes, tickMs: cfg.tickMs, resumeTail: cfg.resumeTail, logRetention: cfg.logRetention as 'all' | 'snapshots', ...(cfg.checkpointKeyFile ? { checkpointKeyFile: cfg.checkpointKeyFile, checkpointEvery: cfg.checkpointEvery } : {}),
      engineDisconnect: cfg.engineDisconnect as 'pause' | 'wall-time',
      logger, metrics, onLogWritable: () => this.scheduleReopen(w.id), ...(this.opts.logIo ? { logIo: this.opts.logIo } : {}),
    });
    this.install(w.id, host, new Quarantine(cfg.quarantineAfter, cfg.quarantineSec * 1000, cfg.quarantineWindowSec * 1000));
    return host;
  }

  private install(id: string, host: WorldHost, quarantine: Quarantine): void {
    const { cfg, auth, metrics, now } = this.opts;
    this.hosts.set(id, host);
    this.sessionDeps.set(id, {
      host, auth, quarantine, logger: host.opts.logger, metrics, messagesPerSecond: cfg.messagesPerSecond, maxChannelsPerSocket: cfg.maxChannelsPerSocket, now, helloTimeoutMs: cfg.helloTimeoutSec * 1000,
    });
  }

  /** A failed world's log takes writes again: reopen it, at once or after the backoff of a streak of reopens. */
  private scheduleReopen(id: string): void {
    if (this.closing) return;
    let r = this.reopens.get(id);
    if (!r) this.reopens.set(id, (r = { at: [], timer: undefined }));
    if (r.timer !== undefined) return;
    const t = this.opts.now();
    r.at = r.at.filter((at) => t - at < REOPEN_STREAK_MS);
    const last = r.at[r.at.length - 1];
    const delay = last === undefined ? 0 : Math.max(0, last + Math.min(REOPEN_DELAY_MS * 2 ** (r.at.length - 1), REOPEN_MAX_DELAY_MS) - t);
    const entry = r;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      entry.at.push(this.opts.now());
      void this.reopen(id, entry.at.length);
    }, delay);
    entry.timer.unref();
  }

  /**
   * Replaces a failed world's host with one rebuilt from its log (WorldHost.reopen), then closes the old host's
   * sockets with going-away: their clients reconnect and resume from their view_seq as after a restart. Never throws:
   * a reopen that fails leaves the world failed, and the next time its log turns writable again it is tried again.
   */
  private async reopen(id: string, attempt: number): Promise<void> {
    const old = this.hosts.get(id);
    const deps = this.sessionDeps.get(id);
    if (!old || !deps || old.healthy || this.closing || this.busy.has(id)) return;
    const logger = old.opts.logger;
    logger.warn({ lastSeq: old.log.lastSeq, attempt }, 'the log takes writes again: reopening the failed world from its log');
    await this.track(id, (async () => {
      let host: WorldHost;
      try {
        host = await old.reopen();
      } catch (err) {
        logger.error({ err, lastSeq: old.log.lastSeq, attempt }, 'world reopen failed: it stays failed, and is reopened again the next time its log takes writes (or restart the server)');
        return;
      }
      this.install(id, host, deps.quarantine);
      this.sockets?.closeAll(id, `world ${id} was reopened after a log write failure: reconnect and resume from your last view_seq`);
      logger.info({ lastSeq: host.log.lastSeq, globalSeq: host.runtime.lastGlobalSeq, attempt }, 'world reopened from its log after a write failure; serving again');
    })());
  }

  private unhost(id: string): void {
    this.hosts.delete(id);
    this.sessionDeps.delete(id);
  }

  /** Every world is closed even when one fails to; the first failure is then thrown. */
  private async closeHosts(): Promise<void> {
    const results = await Promise.allSettled([...this.hosts.values()].map((h) => h.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private dirOf(id: string): string {
    return worldDataDir(this.opts.cfg.dataDir, id);
  }

  private countWorlds(): void {
    this.opts.metrics.worlds.set({ origin: 'configured' }, this.hosts.size - this.created.size);
    this.opts.metrics.worlds.set({ origin: 'created' }, this.created.size);
  }

  private track<T>(id: string, work: Promise<T>): Promise<T> {
    this.busy.set(id, work);
    const done = (): void => {
      if (this.busy.get(id) === work) this.busy.delete(id);
    };
    work.then(done, done);
    return work;
  }

  private notServing(): WorldlineError {
    return new WorldlineError('SERVER_UNAVAILABLE', this.closing ? 'server is shutting down: create the world on a running server' : 'server is starting: retry shortly');
  }

  /** Created worlds with an idle limit: deleted once no socket has been connected, nor an agent played, for that long. */
  private sweepIdle(): void {
    const t = this.opts.now();
    for (const [id, c] of this.created) {
      if (c.delete_after_idle_sec === undefined || this.busy.has(id)) continue;
      // A REST agent's long poll is present for as long as it waits (its presence() is only at its start and end).
      if ((this.sockets?.count(id) ?? 0) > 0 || (this.hosts.get(id)?.longPollsWaiting ?? 0) > 0) {
        this.idleSince.delete(id);
        continue;
      }
      const since = this.idleSince.get(id);
      if (since === undefined) this.idleSince.set(id, t);
      else if (t - since >= c.delete_after_idle_sec * 1000) {
        this.idleSince.delete(id);
        this.delete(id, { purge: c.purge_on_delete === true }).then(
          () => this.opts.logger.info({ world: id, idleSec: c.delete_after_idle_sec }, 'idle world deleted'),
          (err: unknown) => this.opts.logger.warn({ err, world: id }, 'idle world deletion failed'),
        );
      }
    }
  }

  /**
   * The data a world deleted without purge left, deleted with purge (by an admin of the tenant that created it, when
   * `tenant` is given). Without purge, or with no such data, the world is simply not found.
   */
  private purgeKept(id: string, opts: { purge?: boolean; tenant?: string }): Promise<{ id: string; purged: boolean }> {
    const dir = this.dirOf(id);
    const owner = idProblem('world id', id) === undefined ? readOwner(dir) : 'none';
    if (owner === 'none' || !opts.purge) {
      const kept = owner !== 'none' ? ' (its data is kept: DELETE it with ?purge=true to remove that)' : '';
      return Promise.reject(new WorldlineError('WORLD_NOT_FOUND', `${worldNotFound(id).message}${kept}`, { world: id }));
    }
    if (owner === 'unknown') return Promise.reject(new WorldlineError('FORBIDDEN', `${dir} holds data of a world that was not created at runtime: an operator removes it`, { world: id }));
    if (opts.tenant !== undefined && owner.tenant !== opts.tenant) return Promise.reject(new WorldlineError('TENANT_ISOLATION_VIOLATION', `the kept data of world ${id} belongs to another tenant`, { world: id }));
    return this.track(id, (async () => {
      await purgeDir(dir);
      this.opts.logger.info({ world: id }, 'kept data of a deleted world purged');
      return { id, purged: true };
    })());
  }
}
