/**
 * `worldline serve`: hosts a world on 127.0.0.1 with its data in ./data, prints tokens a newcomer can connect
 * with, and shuts down gracefully on SIGTERM/SIGINT (readiness 503, going-away close, log flushed, exit 0).
 * `worldline token`: issues a development token with the server's HS256 secret.
 */
import fs from 'node:fs';
import path from 'node:path';
import { hostedWorlds, loadConfig, parseHostedWorld, type ConfigKey } from '../config.js';
import { createAuthenticator, Roles, type Role } from '../transport/auth.js';
import { startServer } from '../transport/server.js';
import { WorldRegistry } from '../transport/world-registry.js';
import { WorldlineError } from '../errors.js';
import type { Out } from './main.js';

/** Hosts whose listener only this machine reaches: serve prints development tokens only there. */
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** The configuration's default data folder (`dataDir`), which `worldline token` finds without --data. */
const DEFAULT_DATA_DIR = './data';

export interface ServeFlags {
  readonly config?: string | undefined;
  readonly overrides: Partial<Record<ConfigKey, unknown>>;
}

export async function runServe(flags: ServeFlags, io: Out, opts: { onListening?: (port: number) => void; waitForSignal?: boolean } = {}): Promise<number> {
  const cfg = loadConfig({ ...(flags.config ? { file: flags.config } : {}), overrides: flags.overrides, onWarning: (w) => io.err(`warning: ${w}`) });
  // The signal handlers go in before anything is printed: a supervisor that sends SIGTERM as soon as it reads the
  // URL (or while the logs recover) gets a graceful shutdown, not Node's default of dying on the spot.
  let signalled: ((sig: string) => void) | undefined;
  let early: string | undefined;
  const onSignal = (sig: string): void => (signalled ? signalled(sig) : void (early ??= sig));
  const sigterm = (): void => onSignal('SIGTERM');
  const sigint = (): void => onSignal('SIGINT');
  if (opts.waitForSignal !== false) {
    process.once('SIGTERM', sigterm);
    process.once('SIGINT', sigint);
  }
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(cfg);
  } catch (err) {
    process.off('SIGTERM', sigterm);
    process.off('SIGINT', sigint);
    throw err;
  }
  const several = server.worlds.length > 1;
  // Worlds created at runtime come back at a restart too; they are named, not given tokens each (there may be many).
  const made = server.worlds.filter((w) => w.origin === 'created').map((w) => w.id);
  for (const w of server.worlds.filter((x) => x.origin === 'configured')) {
    io.out(`worldline serving world "${w.id}"${several ? ` (tenant ${w.tenant})` : ''} at ${w.wsUrl} (data in ${cfg.dataDir})`);
    if (server.auth.mode === 'jwt-hs256' && LOOPBACK.has(cfg.host)) {
      const admin = await server.auth.issue({ tenant: w.tenant, world: w.id, role: 'admin' }, 24 * 3600);
      const agent = await server.auth.issue({ tenant: w.tenant, world: w.id, agent: 'agent-1', role: 'agent' }, 24 * 3600);
      io.out(`  dev token, agent "agent-1" (24 h): ${agent}`);
      io.out(`  dev token, admin (24 h):           ${admin}`);
    }
  }
  if (made.length > 0) io.out(`  and ${made.length} world${made.length === 1 ? '' : 's'} created at runtime (GET /v1/worlds lists them): ${made.slice(0, 10).join(', ')}${made.length > 10 ? ', ...' : ''}`);
  io.out(`  health: ${server.httpUrl}/readyz   metrics: ${server.httpUrl}/metrics`);
  if (server.auth.mode === 'jwt-hs256') {
    // The command as it must be typed for this server: `token` reads only its own flags and the configuration, so
    // whatever serve was told on its command line (data folder, world, tenant) is repeated, or the token it prints is
    // signed with another secret or names another world.
    const configured = server.worlds.filter((x) => x.origin === 'configured');
    const only = configured.length === 1 ? configured[0] : undefined;
    let more = 'npx worldline token --agent NAME [--role agent|viewer|engine|admin]';
    if (flags.config) more += ` --config ${flags.config}`;
    if (!LOOPBACK.has(cfg.host) || path.resolve(cfg.dataDir) !== path.resolve(DEFAULT_DATA_DIR)) more += ` --data ${cfg.dataDir}`;
    if (several) more += ` --world ID${new Set(configured.map((w) => w.tenant)).size > 1 ? ' --tenant TENANT' : ''}`;
    else if (only && (only.id !== 'default' || only.tenant !== 'default')) more += ` --world ${only.id}${only.tenant !== 'default' ? ` --tenant ${only.tenant}` : ''}`;
    if (LOOPBACK.has(cfg.host)) io.out(`  more tokens: ${more}`);
    // Reachable from other machines, and its output likely kept in logs: an admin token printed there is a key left out.
    else io.out(`  tokens: ${more} (none printed: the server listens on ${cfg.host})`);
  }
  opts.onListening?.(server.port);
  if (opts.waitForSignal === false) {
    await server.shutdown();
    return 0;
  }
  await new Promise<void>((resolve) => {
    signalled = (sig: string): void => {
      process.off('SIGTERM', sigterm);
      process.off('SIGINT', sigint);
      io.out(`${sig}: shutting down (readiness 503, closing sockets, flushing the log)`);
      server.shutdown().then(resolve, (err: unknown) => {
        io.err(`shutdown failed: ${String(err)}`);
        resolve();
      });
    };
    if (early !== undefined) signalled(early);
  });
  return 0;
}

export async function runToken(flags: { agent?: string | undefined; role?: string | undefined; ttl?: number | undefined; world?: string | undefined; tenant?: string | undefined; config?: string | undefined; overrides: Partial<Record<ConfigKey, unknown>> }, io: Out): Promise<number> {
  const cfg = loadConfig({ ...(flags.config ? { file: flags.config } : {}), overrides: flags.overrides });
  const role = (flags.role ?? 'agent') as Role;
  if (!Roles.includes(role)) throw new WorldlineError('CONFIG_INVALID', `--role must be one of ${Roles.join(', ')}`);
  if (role === 'agent' && !flags.agent) throw new WorldlineError('CONFIG_INVALID', 'an agent token needs --agent NAME');
  // Valid, but it can never drive the world: a session naming an agent observes it (docs/protocol.md, Engine role).
  if (role === 'engine' && flags.agent) io.err(`warning: an engine token with --agent ${flags.agent} observes that agent and never drives the world; for the world's engine, issue one without --agent`);
  // The development secret is made on first use: by a server, or here. Made here, it is one no running server has,
  // most often because the server runs with another --data: say so, on stderr (the token alone goes to stdout).
  const devSecretFile = path.join(cfg.dataDir, 'jwt-secret');
  const madeHere = cfg.authMode === 'jwt' && !cfg.jwtSecretFile && !cfg.jwtPublicKeyFile && !cfg.jwksFile && !fs.existsSync(devSecretFile);
  const auth = createAuthenticator({ ...cfg, authMode: cfg.authMode as 'jwt' | 'tokens' });
  if (madeHere) io.err(`warning: ${devSecretFile} did not exist, so a new secret was made there: this token works only with a server started with --data ${cfg.dataDir}. For a server already running elsewhere, pass its --data (serve prints the exact command).`);
  // --world picks a world the configuration hosts, or one created at runtime, by id (with its tenant); any other is
  // read as [TENANT/][ID=]WORLD.
  const hosted = [...hostedWorlds(cfg), ...new WorldRegistry(cfg.dataDir).load()];
  const target = flags.world === undefined ? (hosted[0] as { id: string; tenant: string }) : hosted.find((w) => w.id === flags.world) ?? parseHostedWorld(flags.world, cfg.tenant);
  // --tenant names the world's tenant where the configuration does not (a world served from serve's command line).
  io.out(await auth.issue({ tenant: flags.tenant ?? target.tenant, world: target.id, ...(flags.agent ? { agent: flags.agent } : {}), role }, flags.ttl ?? 24 * 3600));
  return 0;
}
