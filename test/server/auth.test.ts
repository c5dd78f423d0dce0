import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { isWorldlineError, type ErrorName } from '../../server/errors.js';
import { authorize, createAuthenticator, type AuthConfig, type Principal } from '../../server/transport/auth.js';

const base = (dataDir: string): AuthConfig => ({ authMode: 'jwt', jwtSecretFile: '', jwtPublicKeyFile: '', jwksFile: '', jwtIssuer: '', jwtAudience: '', tokensFile: '', dataDir });
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-auth-'));
async function rejects(p: Promise<unknown>, code: ErrorName, msg?: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(isWorldlineError(e, code)).toBe(true);
  if (msg) expect((e as Error).message).toMatch(msg);
}
const throws = (fn: () => void, code: ErrorName): void => {
  try {
    fn();
  } catch (e) {
    expect(isWorldlineError(e, code)).toBe(true);
    return;
  }
  throw new Error(`expected ${code}`);
};

describe('authentication', () => {
  it('HS256: a dev secret is created once, tokens it issues verify, others do not', async () => {
    const dir = tmp();
    const auth = createAuthenticator(base(dir));
    expect(fs.statSync(path.join(dir, 'jwt-secret')).mode & 0o777).toBe(0o600);
    const token = await auth.issue({ tenant: 't1', world: 'w1', agent: 'a1', role: 'agent' });
    expect(await auth.authenticate(token)).toMatchObject({ tenant: 't1', world: 'w1', agent: 'a1', role: 'agent' });
    // Same secret after a restart.
    expect((await createAuthenticator(base(dir)).authenticate(token)).agent).toBe('a1');
    const other = createAuthenticator(base(tmp()));
    await rejects(other.authenticate(token), 'UNAUTHORIZED', /signature/);
    await rejects(auth.authenticate(undefined), 'UNAUTHORIZED', /no token/);
    await rejects(auth.authenticate('garbage'), 'UNAUTHORIZED');
  });

  it('rejects expired tokens, missing claims, and an agent token without an agent', async () => {
    const dir = tmp();
    let clock = Date.now();
    const auth = createAuthenticator(base(dir), () => clock);
    const token = await auth.issue({ tenant: 't', world: 'w', agent: 'a', role: 'agent' }, 60);
    clock += 120_000;
    await rejects(auth.authenticate(token), 'UNAUTHORIZED', /expired/);
    clock = Date.now();
    await rejects(auth.issue({ tenant: 't', world: 'w', role: 'agent' }).then((t) => auth.authenticate(t)), 'UNAUTHORIZED', /agent claim/);
    await rejects(auth.issue({ tenant: 't', world: 'w', role: 'boss' as 'admin' }).then((t) => auth.authenticate(t)), 'UNAUTHORIZED', /role/);
  });

  it('names the claim a token fails on (iss, aud, nbf, exp), so its issuer knows what to fix', async () => {
    const dir = tmp();
    const auth = createAuthenticator({ ...base(dir), jwtIssuer: 'https://issuer.example', jwtAudience: 'worldline' });
    const secret = new TextEncoder().encode(fs.readFileSync(path.join(dir, 'jwt-secret'), 'utf8').trim());
    const now = Math.floor(Date.now() / 1000);
    const sign = (f: (j: SignJWT) => SignJWT): Promise<string> => f(new SignJWT({ tenant: 't', world: 'w', agent: 'a', role: 'agent' }).setProtectedHeader({ alg: 'HS256' })).sign(secret);
    const good = (j: SignJWT): SignJWT => j.setIssuer('https://issuer.example').setAudience('worldline').setExpirationTime(now + 60);
    expect((await auth.authenticate(await sign(good))).agent).toBe('a');
    await rejects(auth.authenticate(await sign((j) => good(j).setIssuer('https://other.example'))), 'UNAUTHORIZED', /"iss" claim/);
    await rejects(auth.authenticate(await sign((j) => good(j).setAudience('another-service'))), 'UNAUTHORIZED', /"aud" claim/);
    await rejects(auth.authenticate(await sign((j) => good(j).setNotBefore(now + 600))), 'UNAUTHORIZED', /"nbf" claim/);
    await rejects(auth.authenticate(await sign((j) => j.setIssuer('https://issuer.example').setAudience('worldline'))), 'UNAUTHORIZED', /"exp" claim/);
  });

  it('verifies tokens signed with a private key against a PEM public key or a local JWKS, and refuses HS256 there', async () => {
    const dir = tmp();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    fs.writeFileSync(path.join(dir, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' };
    fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ tenant: 't', world: 'w', agent: 'a', role: 'viewer' }).setProtectedHeader({ alg: 'EdDSA', kid: 'k1' }).setExpirationTime(now + 60).sign(privateKey);
    const byPem = createAuthenticator({ ...base(dir), jwtPublicKeyFile: path.join(dir, 'pub.pem') });
    expect((await byPem.authenticate(token)).role).toBe('viewer');
    const byJwks = createAuthenticator({ ...base(dir), jwksFile: path.join(dir, 'jwks.json') });
    expect((await byJwks.authenticate(token)).role).toBe('viewer');
    const hs = await createAuthenticator(base(dir)).issue({ tenant: 't', world: 'w', agent: 'a', role: 'agent' });
    await rejects(byPem.authenticate(hs), 'UNAUTHORIZED');
    await rejects(byPem.issue({ tenant: 't', world: 'w', role: 'admin' }), 'CONFIG_INVALID');
  });

  it('static token file maps tokens to principals', async () => {
    const dir = tmp();
    const file = path.join(dir, 'tokens.json');
    fs.writeFileSync(file, JSON.stringify({ 'engine-token-0123456789': { tenant: 't', world: 'w', role: 'engine' } }));
    const auth = createAuthenticator({ ...base(dir), authMode: 'tokens', tokensFile: file });
    expect((await auth.authenticate('engine-token-0123456789')).role).toBe('engine');
    await rejects(auth.authenticate('engine-token-0123456780'), 'UNAUTHORIZED', /unknown token/);
    fs.writeFileSync(file, JSON.stringify({ short: { tenant: 't', world: 'w', role: 'engine' } }));
    throws(() => createAuthenticator({ ...base(dir), authMode: 'tokens', tokensFile: file }), 'CONFIG_INVALID');
  });
});

describe('authorisation', () => {
  const a1: Principal = { tenant: 't1', world: 'w1', agent: 'a1', role: 'agent', expiresAt: undefined };
  const w1 = { tenant: 't1', world: 'w1' };
  it('a token for (w1, a1) can never read a2, act as a2, or reach another tenant or world', () => {
    authorize(a1, { ...w1, agentId: 'a1' }, 'observe');
    authorize(a1, { ...w1, agentId: 'a1' }, 'act');
    throws(() => authorize(a1, { ...w1, agentId: 'a2' }, 'observe'), 'FORBIDDEN');
    throws(() => authorize(a1, { ...w1, agentId: 'a2' }, 'act'), 'FORBIDDEN');
    throws(() => authorize(a1, { tenant: 't2', world: 'w1', agentId: 'a1' }, 'observe'), 'TENANT_ISOLATION_VIOLATION');
    throws(() => authorize(a1, { tenant: 't1', world: 'w2', agentId: 'a1' }, 'observe'), 'FORBIDDEN');
    // A refusal says what to do: which token to use instead.
    expect(() => authorize(a1, { tenant: 't1', world: 'w2', agentId: 'a1' }, 'observe')).toThrow('this token is for world w1, not w2: use a token issued for world w2');
    expect(() => authorize(a1, { ...w1, agentId: 'a2' }, 'act')).toThrow('this token acts as a1, not a2: act as a1, or use a token issued for agent a2');
    throws(() => authorize(a1, { ...w1, agentId: 'a1' }, 'engine'), 'FORBIDDEN');
    throws(() => authorize(a1, { ...w1, agentId: 'a1' }, 'emit'), 'FORBIDDEN');
  });
  it('viewers only observe; engines drive; admins see everything in their tenant; expiry is rechecked', () => {
    const viewer: Principal = { ...a1, role: 'viewer' };
    authorize(viewer, { ...w1, agentId: 'a1' }, 'observe');
    throws(() => authorize(viewer, { ...w1, agentId: 'a1' }, 'act'), 'FORBIDDEN');
    const engine: Principal = { ...a1, agent: undefined, role: 'engine' };
    authorize(engine, { ...w1, agentId: undefined }, 'engine');
    expect(() => authorize(engine, { ...w1, agentId: 'a1' }, 'act')).toThrow('an engine token cannot submit intents');
    expect(() => authorize(viewer, { ...w1, agentId: 'a1' }, 'act')).toThrow('a viewer token cannot submit intents');
    const admin: Principal = { ...a1, agent: undefined, role: 'admin' };
    authorize(admin, { ...w1, agentId: 'a9' }, 'observe');
    throws(() => authorize(admin, { tenant: 't2', world: 'w1', agentId: 'a9' }, 'observe'), 'TENANT_ISOLATION_VIOLATION');
    throws(() => authorize({ ...a1, expiresAt: 1000 }, { ...w1, agentId: 'a1' }, 'observe', 2000), 'UNAUTHORIZED');
  });
});
