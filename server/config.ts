/**
 * Server configuration: defaults, then a JSON file (worldline.config.json, or --config), then WORLDLINE_*
 * environment variables, then command-line flags. Every value is validated at start; a bad one is a CONFIG_INVALID
 * error naming the key, where it came from, and what is allowed.
 */
import fs from 'node:fs';
import net from 'node:net';
import pino from 'pino';
import { WorldlineError } from './errors.js';
import { isWorldModule, worldModuleId } from './worlds/index.js';

type Kind = 'string' | 'int' | 'number' | 'bool' | 'list';

interface KeySpec {
  readonly kind: Kind;
  readonly def: unknown;
  readonly help: string;
  readonly min?: number;
  readonly max?: number;
  readonly oneOf?: readonly string[];
  /** A string's value: what is wrong with it, or undefined. */
  readonly check?: (value: string) => string | undefined;
  /** A list's entries: what is wrong with one, or undefined. */
  readonly each?: (entry: string) => string | undefined;
}

/** '*' or a browser origin (scheme://host[:port], as the Origin header carries it), as corsOrigins takes them. */
export function originProblem(entry: string): string | undefined {
  if (entry === '*') return undefined;
  let origin: string;
  try {
    origin = new URL(entry).origin;
  } catch {
    return `${JSON.stringify(entry)} is not an origin (https://app.example.com) or *`;
  }
  return origin === entry ? undefined : `${JSON.stringify(entry)} is not an origin: write it as ${JSON.stringify(origin)} (scheme, host and port only)`;
}

/** An IP address or a CIDR block (10.0.0.0/8, fd00::/8), as trustProxy takes them. */
export function addressOrBlockProblem(entry: string): string | undefined {
  const slash = entry.indexOf('/');
  const addr = slash < 0 ? entry : entry.slice(0, slash);
  const family = net.isIP(addr);
  if (family === 0) return `${JSON.stringify(entry)} is not an IP address or CIDR block`;
  if (slash < 0) return undefined;
  const bits = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `${JSON.stringify(entry)} has a prefix length that is not 0-${max}`;
  return undefined;
}

/**
 * An address to listen on. An empty one (WORLDLINE_HOST= from an unset shell variable) made uWS listen on every
 * interface and on a port of its choosing, whatever port was asked for.
 */
function hostProblem(host: string): string | undefined {
  return host.trim() === '' ? 'must not be empty: 127.0.0.1 (this machine only, the default), 0.0.0.0 (every interface) or an address of this machine' : undefined;
}

/** The id pattern of worlds and tenants: it names URL segments and data folders. */
const ID = /^[A-Za-z0-9_.-]{1,64}$/;
export const idProblem = (what: string, id: string): string | undefined =>
  ID.test(id) && !/^\.+$/.test(id) ? undefined : `${what} ${JSON.stringify(id)} must be 1-64 of A-Z a-z 0-9 _ . - (not dots only)${what === 'tenant' ? '' : ', since it names the world in URLs and its data folder'}`;

/** One world a server hosts: its id (URL segment and data folder), the tenant that owns it, and what world it runs. */
export interface HostedWorld {
  readonly id: string;
  readonly tenant: string;
  /** A built-in world's name or a module file, as config `world` takes them. */
  readonly world: string;
}

/**
 * Parses one `worlds` entry, [TENANT/][ID=]WORLD. An entry that starts with `.` or `/` is a module path as a whole
 * (./sims/a=b.mjs has no prefix); otherwise what comes before the first `=` is TENANT/ID or ID.
 */
export function parseHostedWorld(entry: string, defaultTenant: string): HostedWorld {
  const eq = /^[./]/.test(entry) ? -1 : entry.indexOf('=');
  const m = eq > 0 ? /^(?:([^/=]+)\/)?([^/=]+)$/.exec(entry.slice(0, eq)) : null;
  const world = m ? entry.slice(eq + 1) : entry;
  const id = m ? (m[2] as string) : isWorldModule(world) ? worldModuleId(world) : world;
  return { id, tenant: m?.[1] ?? defaultTenant, world };
}

function hostedWorldProblem(entry: string): string | undefined {
  const w = parseHostedWorld(entry, 'default');
  if (w.world === '') return `${JSON.stringify(entry)} names no world: write [TENANT/][ID=]WORLD, e.g. lobby=default`;
  return idProblem(`world id`, w.id) ?? idProblem('tenant', w.tenant);
}

/** The worlds a configuration hosts: `worlds` when set, else the one of `world`, `worldId` and `tenant`. */
export function hostedWorlds(cfg: Pick<Config, 'worlds' | 'world' | 'worldId' | 'tenant'>): HostedWorld[] {
  if (cfg.worlds.length === 0) return [{ id: cfg.worldId, tenant: cfg.tenant, world: cfg.world }];
  return cfg.worlds.map((e) => parseHostedWorld(e, cfg.tenant));
}

/** Every key, its type, default and meaning. The env variable is WORLDLINE_ + the key in UPPER_SNAKE. */
export const CONFIG_KEYS = {
  host: { kind: 'string', def: '127.0.0.1', check: hostProblem, help: 'address to listen on' },
  port: { kind: 'int', def: 8080, min: 0, max: 65535, help: 'port to listen on (0 picks a free one)' },
  dataDir: { kind: 'string', def: './data', help: 'where worlds keep their logs and snapshots' },
  world: { kind: 'string', def: 'default', help: 'world to host: a built-in one (default, arena, arena-<entities>, conversation) or a module file (./my-world.mjs) whose default export is a defineWorld spec' },
  worldId: { kind: 'string', def: '', help: 'world id (defaults to the world name)' },
  tenant: { kind: 'string', def: 'default', help: 'tenant that owns the hosted world (each world of worlds without a TENANT/ of its own)' },
  worlds: { kind: 'list', def: [], each: hostedWorldProblem, help: 'several worlds on one server, each [TENANT/][ID=]WORLD (lobby=default, acme/market=./market.mjs): WORLD as for world, ID its id in URLs and its data folder (default: the world name), TENANT its owner (default: tenant); when set, world and worldId are not used' },
  maxWorlds: { kind: 'int', def: 64, min: 1, max: 10_000, help: 'most worlds one server hosts, configured and created at runtime (POST /v1/worlds) together; creating one more is QUOTA_EXCEEDED (set it to the number configured to allow no runtime creation)' },
  tickMs: { kind: 'int', def: 50, min: 1, max: 10_000, help: 'world tick interval: systems run and queued intents commit once per tick' },
  durability: { kind: 'string', def: 'batch', oneOf: ['always', 'batch', 'none'], help: 'log durability policy' },
  segmentBytes: { kind: 'int', def: 64 * 1024 * 1024, min: 4096, max: 2 ** 31, help: 'log segment size' },
  snapshotEvery: { kind: 'int', def: -1, min: -1, help: "write a snapshot every N committed effects (-1: the world's own policy, 50,000 for the default world; 0: only at shutdown)" },
  logRetention: { kind: 'string', def: 'all', oneOf: ['all', 'snapshots'], help: "what the log keeps: all (every record since the world began: replay from the start) or snapshots (after each snapshot, delete the segments wholly before the older of the two kept snapshots: the data directory stays bounded, replay starts at a snapshot)" },
  resumeTail: { kind: 'int', def: 20_000, min: 0, help: 'log records whose deltas a restart rebuilds, so clients connected before it resume with the deltas they missed (0: they get a snapshot); startup replays up to 4x this many records more' },
  checkpointKeyFile: { kind: 'string', def: '', help: 'Ed25519 private key (PEM) for signed log checkpoints' },
  checkpointEvery: { kind: 'int', def: 10_000, min: 1, help: 'records between signed checkpoints' },
  authMode: { kind: 'string', def: 'jwt', oneOf: ['jwt', 'tokens'], help: 'jwt (HS256 secret or public key/JWKS) or a static token file' },
  jwtSecretFile: { kind: 'string', def: '', help: 'HS256 secret file (created in dataDir on first start when empty)' },
  jwtPublicKeyFile: { kind: 'string', def: '', help: 'PEM public key for RS256/ES256/EdDSA tokens' },
  jwksFile: { kind: 'string', def: '', help: 'local JWKS file with the public keys tokens may be signed with' },
  jwtIssuer: { kind: 'string', def: '', help: 'required iss claim, when set' },
  jwtAudience: { kind: 'string', def: '', help: 'required aud claim, when set' },
  tokensFile: { kind: 'string', def: '', help: 'static tokens file (authMode tokens): JSON {token: {tenant, world, agent, role}}' },
  maxPayloadLength: { kind: 'int', def: 64 * 1024, min: 256, max: 16 * 1024 * 1024, help: 'largest client frame in bytes' },
  // uWS keeps it in 32 bits: 4 GiB would wrap to 0, which uWS reads as no limit at all (a paused client then grows
  // the server's memory without bound), and 4 GiB + 1 KiB to 1 KiB.
  maxBackpressure: { kind: 'int', def: 1024 * 1024, min: 1024, max: 2 ** 32 - 1, help: 'bytes buffered per socket before it is closed (the client then resumes)' },
  bodyTimeoutSec: { kind: 'int', def: 10, min: 1, max: 300, help: 'a REST request body must arrive whole within this long (408 OPERATION_TIMEOUT and the connection closed past it)' },
  helloTimeoutSec: { kind: 'int', def: 10, min: 1, max: 960, help: 'close sockets without a successful Hello this long after connecting' },
  idleTimeoutSec: { kind: 'int', def: 60, min: 8, max: 960, help: 'close sockets silent for this long' },
  messagesPerSecond: { kind: 'int', def: 200, min: 1, help: 'client frames per second per connection' },
  intentsPerSecondPerAgent: { kind: 'int', def: 100, min: 1, help: 'intent quota per agent (bursts of twice the rate), for the agent classes whose world sets no `quota` of its own' },
  intentsPerSecondPerTenant: { kind: 'int', def: 10_000, min: 1, help: 'intent quota per tenant (bursts of twice the rate), for a world that sets no `tenantQuota` of its own' },
  connectionsPerIp: { kind: 'int', def: 256, min: 1, help: 'concurrent connections per client address' },
  maxChannelsPerSocket: { kind: 'int', def: 1024, min: 0, max: 65_536, help: 'sessions one WebSocket may carry on channels besides its own, e.g. the agents of one agent process (0: none); docs/protocol.md "Channels"' },
  quarantineAfter: { kind: 'int', def: 20, min: 0, help: 'violations within quarantineWindowSec before an agent (or token, or address) is quarantined (0: never)' },
  quarantineSec: { kind: 'int', def: 60, min: 1, help: 'how long a quarantine lasts' },
  quarantineWindowSec: { kind: 'int', def: 600, min: 1, help: 'violations are counted in windows this long, from the first one; a violation after its window starts a new count' },
  logLevel: { kind: 'string', def: 'info', oneOf: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], help: 'log level' },
  tlsCertFile: { kind: 'string', def: '', help: 'PEM certificate (chain) to serve wss:// and https:// on the same port (with tlsKeyFile; empty: plain ws:// and http://)' },
  tlsKeyFile: { kind: 'string', def: '', help: "unencrypted PEM private key of tlsCertFile (keep it readable by the server's user only)" },
  corsOrigins: { kind: 'list', def: [], each: originProblem, help: 'browser origins (https://app.example.com, or *) whose pages may call the REST API from another origin; empty: none (WebSockets are not subject to CORS)' },
  trustProxy: { kind: 'list', def: [], each: addressOrBlockProblem, help: 'reverse proxies (IP addresses or CIDR blocks) whose X-Forwarded-For names the client: connectionsPerIp, address quarantine and security logs then count the client, not the proxy' },
  logRedact: { kind: 'list', def: [], each: redactPathProblem, help: 'extra log field paths to redact (comma-separated in env)' },
  engineDisconnect: { kind: 'string', def: 'pause', oneOf: ['pause', 'wall-time'], help: 'when the engine disconnects: pause the world or continue on wall time' },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;
type ValueOf<K extends Kind> = K extends 'int' | 'number' ? number : K extends 'bool' ? boolean : K extends 'list' ? string[] : string;
export type Config = { readonly [K in ConfigKey]: ValueOf<(typeof CONFIG_KEYS)[K]['kind']> };

const envName = (k: string): string => 'WORLDLINE_' + k.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

function coerce(key: ConfigKey, raw: unknown, from: string): unknown {
  const spec: KeySpec = CONFIG_KEYS[key];
  const bad = (what: string): never => {
    throw new WorldlineError('CONFIG_INVALID', `config ${key} (from ${from}) ${what}; ${spec.help}`, { key, from });
  };
  let v: unknown = raw;
  if (spec.kind === 'int' || spec.kind === 'number') {
    if (typeof v === 'string') {
      // Written in decimal, as a person writes a port or a size: Number() would also read '0x1F90', '1e3' or '0b1'.
      const text = v.trim();
      if (!/^-?\d+(\.\d+)?$/.test(text)) return bad(`must be a number in decimal digits, got ${JSON.stringify(raw)}`);
      v = Number(text);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) return bad(`must be a number, got ${JSON.stringify(raw)}`);
    if (spec.kind === 'int' && !Number.isInteger(v)) return bad(`must be an integer, got ${String(v)}`);
    if (spec.min !== undefined && v < spec.min) return bad(`must be at least ${spec.min}, got ${String(v)}`);
    if (spec.max !== undefined && v > spec.max) return bad(`must be at most ${spec.max}, got ${String(v)}`);
  } else if (spec.kind === 'bool') {
    if (v === 'true' || v === '1') v = true;
    else if (v === 'false' || v === '0') v = false;
    if (typeof v !== 'boolean') return bad(`must be true or false, got ${JSON.stringify(raw)}`);
  } else if (spec.kind === 'list') {
    if (typeof v === 'string') v = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) return bad('must be a list of strings');
    for (const entry of v as string[]) {
      const problem = spec.each?.(entry);
      if (problem !== undefined) return bad(problem);
    }
  } else {
    if (typeof v !== 'string') return bad(`must be a string, got ${JSON.stringify(raw)}`);
    if (spec.oneOf && !spec.oneOf.includes(v)) return bad(`must be one of ${spec.oneOf.join(', ')}, got ${JSON.stringify(v)}`);
    const problem = spec.check?.(v);
    if (problem !== undefined) return bad(problem);
  }
  return v;
}

export interface LoadConfigOptions {
  /** A config file; when absent, ./worldline.config.json is read if it exists. */
  readonly file?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Highest precedence: command-line flags. */
  readonly overrides?: Partial<Record<ConfigKey, unknown>>;
  /** Told about WORLDLINE_* variables that match no key (likely typos). */
  readonly onWarning?: (message: string) => void;
}

/** Builds the configuration and validates every value. */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(CONFIG_KEYS)) out[k] = s.def;
  const file = opts.file ?? (fs.existsSync('worldline.config.json') ? 'worldline.config.json' : undefined);
  if (file !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new WorldlineError('CONFIG_INVALID', `cannot read config file ${file}: ${(err as Error).message}`, { file });
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new WorldlineError('CONFIG_INVALID', `config file ${file} must hold a JSON object`);
    for (const [k, v] of Object.entries(json)) {
      if (!Object.hasOwn(CONFIG_KEYS, k)) throw new WorldlineError('CONFIG_INVALID', `config file ${file} has unknown key ${JSON.stringify(k)}; known keys: ${Object.keys(CONFIG_KEYS).join(', ')}`, { key: k });
      out[k] = coerce(k as ConfigKey, v, file);
    }
  }
  const env = opts.env ?? process.env;
  const known = new Set(Object.keys(CONFIG_KEYS).map(envName));
  for (const name of Object.keys(env)) {
    if (name.startsWith('WORLDLINE_') && !known.has(name) && env[name] !== undefined && !IGNORED_ENV.has(name) && !IGNORED_PREFIXES.some((p) => name.startsWith(p))) {
      opts.onWarning?.(`environment variable ${name} matches no config key (typo?); known: ${[...known].join(', ')}`);
    }
  }
  for (const k of Object.keys(CONFIG_KEYS) as ConfigKey[]) {
    const v = env[envName(k)];
    if (v !== undefined) out[k] = coerce(k, v, envName(k));
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    // A program's overrides (startServer(loadConfig({overrides}))) are checked as a file's keys are: an unknown one
    // (a world policy such as maxPatchOps put here) was a TypeError from coerce.
    if (!Object.hasOwn(CONFIG_KEYS, k)) throw new WorldlineError('CONFIG_INVALID', `config override ${JSON.stringify(k)} is no config key; known keys: ${Object.keys(CONFIG_KEYS).join(', ')}`, { key: k });
    if (v !== undefined) out[k] = coerce(k as ConfigKey, v, `--${k}`);
  }
  // A world given on the command line replaces the world selection of the file and the environment: left in place,
  // their worlds would win over it (hostedWorlds reads worlds first) and the flag would be silently ignored, and
  // their worldId would name the flag's world after (and open it in the data folder of) another one.
  if (opts.overrides?.world !== undefined && opts.overrides.worlds === undefined) {
    out['worlds'] = [];
    if (opts.overrides.worldId === undefined) out['worldId'] = '';
  }
  // A module's world is named after its file (./sims/market.mjs: market); a built-in one after itself.
  if (out['worldId'] === '') out['worldId'] = isWorldModule(out['world'] as string) ? worldModuleId(out['world'] as string) : out['world'];
  // It names the world in URLs and its folder under dataDir: no separators, spaces or dot-only names.
  const id = out['worldId'] as string;
  if (idProblem('worldId', id) !== undefined) {
    throw new WorldlineError('CONFIG_INVALID', `config worldId ${JSON.stringify(id)} (given, or taken from the world's name or file name) must be 1-64 of A-Z a-z 0-9 _ . - since it names the world in URLs and its data folder; set worldId (WORLDLINE_WORLD_ID) to one`, { key: 'worldId' });
  }
  // The tenant of a single world (worlds entries check their own): it is a claim in tokens and a path segment.
  const tenantProblem = idProblem('tenant', out['tenant'] as string);
  if (tenantProblem !== undefined) throw new WorldlineError('CONFIG_INVALID', `config tenant: ${tenantProblem}`, { key: 'tenant' });
  // Two worlds with one id would share a URL and a data folder.
  const seen = new Set<string>();
  for (const w of hostedWorlds(out as Config)) {
    if (seen.has(w.id)) throw new WorldlineError('CONFIG_INVALID', `config worlds hosts two worlds with the id ${JSON.stringify(w.id)}; give each its own ID=, e.g. ${w.id}-2=${w.world}`, { key: 'worlds' });
    seen.add(w.id);
  }
  if (seen.size > (out['maxWorlds'] as number)) throw new WorldlineError('CONFIG_INVALID', `config worlds hosts ${seen.size} worlds, more than maxWorlds (${String(out['maxWorlds'])}); raise maxWorlds (WORLDLINE_MAX_WORLDS)`, { key: 'maxWorlds' });
  return out as Config;
}

/**
 * Reads a file a config key names (a key, a certificate, a JWKS): one that is missing, unreadable or a folder is a
 * CONFIG_INVALID naming the key and the file, not a stack trace from deep in the start.
 */
export function readConfigFile(key: ConfigKey, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new WorldlineError('CONFIG_INVALID', `config ${key}: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { key, file });
  }
}

/**
 * Makes the data folder (dataDir) if it is missing, before anything is written into it: a file in its place, or a
 * folder this user may not create, is a CONFIG_INVALID naming the key rather than a stack trace from the first write.
 */
export function ensureDataDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    // A folder this user may not write (another user's, a read-only mount): said here, with the setting, rather than
    // met later as a log command's EACCES advice ("run as the user that owns the log") about a file inside it.
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new WorldlineError('CONFIG_INVALID', `config dataDir: ${dir} cannot be used as the data folder (${code}${code === 'EEXIST' || code === 'ENOTDIR' ? ': a file is in the way' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? ': this user may not write it' : ''}); pick another --data or WORLDLINE_DATA_DIR, or give this user write access to it`, { key: 'dataDir', file: dir });
  }
}

/** A logRedact entry pino would refuse at start (with a stack trace and no key), refused here with the key. */
function redactPathProblem(entry: string): string | undefined {
  try {
    pino({ redact: [entry] }, { write: () => undefined });
    return undefined;
  } catch (err) {
    return `has a path pino cannot use, ${JSON.stringify(entry)} (${(err as Error).message}): write dotted field names, e.g. payload.ssn or headers["x-key"]`;
  }
}

/** WORLDLINE_* variables used by tools rather than the server config. */
const IGNORED_ENV = new Set(['WORLDLINE_CRASH_CYCLES', 'WORLDLINE_REWRITE_FIXTURES', 'WORLDLINE_UPDATE_GOLDEN', 'WORLDLINE_BENCH']);
/** Prefixes owned by other components (the LLM adapters read WORLDLINE_LLM_*). */
const IGNORED_PREFIXES = ['WORLDLINE_LLM_'];

/** Markdown table of every key, for docs. */
export function configTable(): string {
  const rows = Object.entries(CONFIG_KEYS).map(([k, s]) => `| \`${k}\` | \`${envName(k)}\` | \`${JSON.stringify(s.def)}\` | ${s.help} |`);
  return ['| key | environment | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
