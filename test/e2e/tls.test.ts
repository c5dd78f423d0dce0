/**
 * TLS on the listener: wss:// and https:// on one port from tlsCertFile and tlsKeyFile, and a clear CONFIG_INVALID
 * for each way the pair can be wrong (checked before the world's log is opened).
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../server/config.js';
import { Subprotocol, createWorldCodecs, type ServerMessage } from '../../server/protocol/index.js';
import { startServer } from '../../server/transport/server.js';
import { checkTls } from '../../server/transport/tls.js';
import { token, withServer } from './harness.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
const CERT = fixture('localhost-cert.pem');
const KEY = fixture('localhost-key.pem');
const ca = fs.readFileSync(CERT);

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('TLS', () => {
  it('serves wss:// and https:// on one port: a client that trusts the certificate joins and gets its Welcome', async () => {
    await withServer({ tlsCertFile: CERT, tlsKeyFile: KEY }, async (srv) => {
      expect(srv.wsUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/v1\/worlds\/default\/ws$/);
      expect(srv.httpUrl).toMatch(/^https:\/\//);
      expect(await get(`${srv.httpUrl}/readyz`)).toEqual({ status: 200, body: JSON.stringify({ status: 'ready' }) });
      const codec = createWorldCodecs()[Subprotocol.JSON];
      const ws = new WebSocket(srv.wsUrl, Subprotocol.JSON, { ca });
      const first = new Promise<ServerMessage>((resolve, reject) => {
        ws.once('message', (d: Buffer) => resolve(codec.decodeServer(d.toString())));
        ws.once('error', reject);
      });
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      ws.send(codec.encodeClient({ type: 'hello', token: await token(srv, 'a1'), agent_id: 'a1', client_version: 'tls/1', schema_version: '1.0.0' }));
      expect((await first).type).toBe('welcome');
      ws.close();
      // A client that does not trust the certificate is refused by its own TLS check, as it should be.
      await expect(new Promise((resolve, reject) => https.get(`${srv.httpUrl}/livez`, resolve).on('error', reject))).rejects.toThrow(/self[- ]signed/);
    });
  });

  it('refuses a half pair, an unreadable file, a key of another certificate, before opening the log', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-tls-'));
    const start = (o: Record<string, unknown>): Promise<unknown> => startServer(loadConfig({ env: {}, overrides: { port: 0, dataDir: dir, logLevel: 'silent', ...o } }));
    try {
      await expect(start({ tlsCertFile: CERT })).rejects.toThrow(/tlsCertFile and tlsKeyFile go together/);
      await expect(start({ tlsCertFile: CERT, tlsKeyFile: path.join(dir, 'missing.pem') })).rejects.toThrow(/config tlsKeyFile: .*missing\.pem cannot be read \(ENOENT\)/);
      await expect(start({ tlsCertFile: KEY, tlsKeyFile: KEY })).rejects.toThrow(/config tlsCertFile: .* is not a PEM certificate/);
      await expect(start({ tlsCertFile: CERT, tlsKeyFile: CERT })).rejects.toThrow(/config tlsKeyFile: .* is not an unencrypted PEM private key/);
      await expect(start({ tlsCertFile: CERT, tlsKeyFile: fixture('other-key.pem') })).rejects.toThrow(/is not the private key of the certificate .*CN=localhost/);
      // None of them got as far as creating the world's log.
      expect(fs.existsSync(path.join(dir, 'worlds'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('warns about a certificate outside its validity (clients would refuse it)', () => {
    expect(checkTls({ tlsCertFile: CERT, tlsKeyFile: KEY }).warnings).toEqual([]);
    expect(checkTls({ tlsCertFile: CERT, tlsKeyFile: KEY }, Date.parse('2200-01-01')).warnings[0]).toMatch(/expired on/);
    expect(checkTls({ tlsCertFile: CERT, tlsKeyFile: KEY }, Date.parse('2000-01-01')).warnings[0]).toMatch(/not valid before/);
    expect(checkTls({ tlsCertFile: '', tlsKeyFile: '' }).files).toBeUndefined();
  });
});
