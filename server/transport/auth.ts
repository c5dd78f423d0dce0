/**
 * Authentication and authorisation. A token (from Hello or the `token` query parameter, since browsers and Unity
 * WebGL cannot set headers) becomes a Principal {tenant, world, agent, role}; every world access is then checked
 * against it before any world data is sent. JWTs are verified with jose (HS256 secret, a PEM public key, or a local
 * JWKS); the simple option is a static token file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, createPublicKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { SignJWT, createLocalJWKSet, jwtVerify, type JWTVerifyGetKey, type JWTPayload } from 'jose';
import { WorldlineError } from '../errors.js';
import { readConfigFile } from '../config.js';

export const Roles = ['agent', 'engine', 'viewer', 'admin'] as const;
export type Role = (typeof Roles)[number];

export interface Principal {
  readonly tenant: string;
  readonly world: string;
  /** The agent this token acts as or views (required for role agent). */
  readonly agent: string | undefined;
  readonly role: Role;
  /** Expiry, ms since epoch (undefined: no expiry, static tokens only). */
  readonly expiresAt: number | undefined;
  /**
   * Names the token without revealing it (`tok_` and 16 hex digits of its SHA-256): the quarantine key of a token of
   * another role than agent. Absent only in principals made without a token (tests).
   */
  readonly tokenId?: string;
}

/** What a connection asks to do. */
export type Action = 'observe' | 'act' | 'engine' | 'emit' | 'manage';

export interface AuthConfig {
  readonly authMode: 'jwt' | 'tokens';
  readonly jwtSecretFile: string;
  readonly jwtPublicKeyFile: string;
  readonly jwksFile: string;
  readonly jwtIssuer: string;
  readonly jwtAudience: string;
  readonly tokensFile: string;
  readonly dataDir: string;
}

export interface Authenticator {
  authenticate(token: string | undefined): Promise<Principal>;
  /** A cheap synchronous shape check (no signature): false means the token can never be accepted. */
  plausible(token: string): boolean;
  /** Signs a token with the HS256 secret (only when the server holds one): for development and tests. */
  issue(claims: { tenant: string; world: string; agent?: string; role: Role }, ttlSec?: number): Promise<string>;
  readonly mode: string;
}

/** 'a' or 'an' before a role's name (an engine, an admin). */
const article = (word: string): string => (/^[aeiou]/.test(word) ? 'an' : 'a');

function unauthorized(message: string): WorldlineError {
  return new WorldlineError('UNAUTHORIZED', message);
}

function principalFrom(c: Record<string, unknown>, expiresAt: number | undefined, tokenId: string): Principal {
  const { tenant, world, agent, role } = c;
  if (typeof tenant !== 'string' || !tenant) throw unauthorized('token lacks a tenant claim');
  if (typeof world !== 'string' || !world) throw unauthorized('token lacks a world claim');
  if (typeof role !== 'string' || !(Roles as readonly string[]).includes(role)) throw unauthorized(`token role must be one of ${Roles.join(', ')}`);
  if (agent !== undefined && (typeof agent !== 'string' || !agent)) throw unauthorized('token agent claim must be a non-empty string');
  if (role === 'agent' && agent === undefined) throw unauthorized('an agent token needs an agent claim');
  return { tenant, world, agent: agent as string | undefined, role: role as Role, expiresAt, tokenId };
}

const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A token's name in quarantine keys, logs and REST answers: 64 bits of its hash, never the token. */
export function tokenIdOf(token: string): string {
  return `tok_${sha(token).toString('hex').slice(0, 16)}`;
}

/** Loads a secret file, or creates one (32 random bytes, mode 0600) in dataDir on first start. */
function devSecret(cfg: AuthConfig): Uint8Array {
  const file = cfg.jwtSecretFile || path.join(cfg.dataDir, 'jwt-secret');
  if (!fs.existsSync(file)) {
    if (cfg.jwtSecretFile) throw new WorldlineError('CONFIG_INVALID', `jwtSecretFile ${file} does not exist`);
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
    } catch (err) {
      throw new WorldlineError('CONFIG_INVALID', `config dataDir: the development secret ${file} cannot be made there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); pick another --data or WORLDLINE_DATA_DIR, or set jwtSecretFile`, { key: 'dataDir', file });
    }
  }
  const text = readConfigFile(cfg.jwtSecretFile ? 'jwtSecretFile' : 'dataDir', file).trim();
  if (text.length < 32) throw new WorldlineError('CONFIG_INVALID', `${file} must hold a secret of at least 32 characters`);
  return new TextEncoder().encode(text);
}

/** Builds the authenticator the config asks for. */
export function createAuthenticator(cfg: AuthConfig, now: () => number = Date.now): Authenticator {
  if (cfg.authMode === 'tokens') {
    if (!cfg.tokensFile) throw new WorldlineError('CONFIG_INVALID', 'authMode tokens needs tokensFile: a JSON object {"<token>": {tenant, world, agent, role}}');
    const text = readConfigFile('tokensFile', cfg.tokensFile);
    let raw: Record<string, Record<string, unknown>>;
    try {
      raw = JSON.parse(text) as typeof raw;
    } catch (err) {
      throw new WorldlineError('CONFIG_INVALID', `config tokensFile: ${cfg.tokensFile} is not JSON (${(err as Error).message})`, { key: 'tokensFile', file: cfg.tokensFile });
    }
    // Keyed by SHA-256 so lookups do not compare secrets byte by byte.
    const table = new Map<string, Principal>();
    for (const [token, claims] of Object.entries(raw)) {
      if (token.length < 16) throw new WorldlineError('CONFIG_INVALID', `tokensFile: tokens must be at least 16 characters (one is ${token.length})`);
      table.set(sha(token).toString('hex'), principalFrom(claims, undefined, tokenIdOf(token)));
    }
    return {
      mode: 'tokens',
      plausible: (token) => token.length >= 16 && token.length <= 4096,
      async authenticate(token) {
        if (!token) throw unauthorized('no token: send one in Hello or the token query parameter');
        const p = table.get(sha(token).toString('hex'));
        if (!p) throw unauthorized('unknown token');
        return p;
      },
      async issue() {
        throw new WorldlineError('CONFIG_INVALID', 'static-token mode cannot issue tokens; add one to tokensFile');
      },
    };
  }

  let key: Uint8Array | KeyObject | JWTVerifyGetKey;
  let secret: Uint8Array | undefined;
  let algorithms: string[];
  if (cfg.jwksFile) {
    const text = readConfigFile('jwksFile', cfg.jwksFile);
    try {
      key = createLocalJWKSet(JSON.parse(text) as Parameters<typeof createLocalJWKSet>[0]);
    } catch (err) {
      throw new WorldlineError('CONFIG_INVALID', `config jwksFile: ${cfg.jwksFile} is not a JSON Web Key Set, {"keys": [...]} (${(err as Error).message})`, { key: 'jwksFile', file: cfg.jwksFile });
    }
    algorithms = ['RS256', 'ES256', 'EdDSA', 'PS256'];
  } else if (cfg.jwtPublicKeyFile) {
    const text = readConfigFile('jwtPublicKeyFile', cfg.jwtPublicKeyFile);
    try {
      key = createPublicKey(text);
    } catch (err) {
      throw new WorldlineError('CONFIG_INVALID', `config jwtPublicKeyFile: ${cfg.jwtPublicKeyFile} is not a PEM public key (${(err as Error).message}); write it as -----BEGIN PUBLIC KEY-----, e.g. openssl pkey -in KEY -pubout`, { key: 'jwtPublicKeyFile', file: cfg.jwtPublicKeyFile });
    }
    algorithms = ['RS256', 'ES256', 'EdDSA', 'PS256'];
  } else {
    secret = devSecret(cfg);
    key = secret;
    algorithms = ['HS256'];
  }
  const verifyOpts = {
    algorithms,
    ...(cfg.jwtIssuer ? { issuer: cfg.jwtIssuer } : {}),
    ...(cfg.jwtAudience ? { audience: cfg.jwtAudience } : {}),
    requiredClaims: ['exp'],
  };
  return {
    mode: secret ? 'jwt-hs256' : 'jwt-public-key',
    plausible: (token) => token.length <= 8192 && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token),
    async authenticate(token) {
      if (!token) throw unauthorized('no token: send one in Hello or the token query parameter');
      let payload: JWTPayload;
      try {
        const o = { ...verifyOpts, currentDate: new Date(now()) };
        const r = typeof key === 'function' ? await jwtVerify(token, key, o) : await jwtVerify(token, key, o);
        payload = r.payload;
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'ERR_JWT_INVALID';
        if (code === 'ERR_JWT_EXPIRED') throw unauthorized('token expired: get a new one');
        // jose names the claim (`unexpected "aud" claim value`, `"nbf" claim timestamp check failed`), never its value.
        if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') throw unauthorized(`token rejected (${code}): ${(err as Error).message}; get one with the iss, aud, nbf and exp this server requires`);
        throw unauthorized(`token rejected (${code}): check its signature, algorithm and claims`);
      }
      return principalFrom(payload as Record<string, unknown>, typeof payload.exp === 'number' ? payload.exp * 1000 : undefined, tokenIdOf(token));
    },
    async issue(claims, ttlSec = 3600) {
      if (!secret) throw new WorldlineError('CONFIG_INVALID', 'this server verifies tokens with a public key; sign them with the matching private key');
      let jwt = new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(Math.floor(now() / 1000)).setExpirationTime(Math.floor(now() / 1000) + ttlSec);
      if (cfg.jwtIssuer) jwt = jwt.setIssuer(cfg.jwtIssuer);
      if (cfg.jwtAudience) jwt = jwt.setAudience(cfg.jwtAudience);
      return jwt.sign(secret);
    },
  };
}

/**
 * Checks that principal p may perform `action` on (tenant, world) as `agentId`. Throws the typed error a client
 * should see: TENANT_ISOLATION_VIOLATION for another tenant's world, FORBIDDEN otherwise.
 */
export function authorize(p: Principal, target: { tenant: string; world: string; agentId: string | undefined }, action: Action, now: number = Date.now()): void {
  if (p.expiresAt !== undefined && p.expiresAt <= now) throw unauthorized('token expired: get a new one');
  if (p.tenant !== target.tenant) throw new WorldlineError('TENANT_ISOLATION_VIOLATION', `this token belongs to tenant ${p.tenant}; world ${target.world} belongs to another tenant`, { tenant: p.tenant });
  if (p.world !== target.world && p.role !== 'admin') throw new WorldlineError('FORBIDDEN', `this token is for world ${p.world}, not ${target.world}: use a token issued for world ${target.world}`);
  switch (action) {
    case 'engine':
      if (p.role !== 'engine' && p.role !== 'admin') throw new WorldlineError('FORBIDDEN', 'only an engine token may send engine frames (TimeTick, CollisionEvent, position reports)');
      return;
    case 'emit':
      if (p.role !== 'engine' && p.role !== 'admin') throw new WorldlineError('FORBIDDEN', 'only engine and admin tokens may emit events');
      return;
    case 'act':
      if (p.role !== 'agent' && p.role !== 'admin') throw new WorldlineError('FORBIDDEN', `${article(p.role)} ${p.role} token cannot submit intents`);
      if (p.role === 'agent' && target.agentId !== p.agent) throw new WorldlineError('FORBIDDEN', target.agentId === undefined
        ? `this token acts as ${p.agent}: name that agent (Hello agent_id, or the request's agent_id)`
        : `this token acts as ${p.agent}, not ${target.agentId}: act as ${p.agent}, or use a token issued for agent ${target.agentId}`);
      return;
    case 'manage':
      if (p.role !== 'admin') throw new WorldlineError('FORBIDDEN', `only an admin token may manage worlds (create, delete, see sessions, lift quarantines), not ${article(p.role)} ${p.role} token`);
      return;
    case 'observe':
      if (p.role === 'admin' || p.role === 'engine') return;
      if (target.agentId !== p.agent) throw new WorldlineError('FORBIDDEN', `this token may see the view of ${p.agent ?? 'no agent'}, not ${target.agentId ?? '(none)'}`);
      return;
  }
}

/** Constant-time string comparison for secrets compared outside jose. */
export function safeEqual(a: string, b: string): boolean {
  const x = sha(a);
  const y = sha(b);
  return timingSafeEqual(x, y);
}
