/**
 * The address a connection counts as, behind reverse proxies (trustProxy) or not.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { ClientAddresses, forwardedFor } from '../../server/transport/client-address.js';

describe('ClientAddresses', () => {
  it('without trusted proxies, the peer: a client cannot pick its address with a header', () => {
    const c = new ClientAddresses([]);
    expect(c.of('203.0.113.7', '198.51.100.1')).toBe('203.0.113.7');
    expect(c.of('::ffff:203.0.113.7', '')).toBe('203.0.113.7');
  });

  it('from a trusted proxy, the nearest X-Forwarded-For hop that is not a trusted proxy', () => {
    const c = new ClientAddresses(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
    expect(c.of('127.0.0.1', '198.51.100.1')).toBe('198.51.100.1');
    // Entries left of the first untrusted hop may be the client's own forgery: never read.
    expect(c.of('127.0.0.1', '1.2.3.4, 198.51.100.1, 10.1.2.3')).toBe('198.51.100.1');
    expect(c.of('10.9.9.9', ' 2001:db8::5 , fd00::1')).toBe('2001:db8::5');
    expect(c.of('::ffff:127.0.0.1', '::ffff:198.51.100.1')).toBe('198.51.100.1');
  });

  it('an untrusted peer, a missing header, only proxies in it, or a hop that is not an address: the peer', () => {
    const c = new ClientAddresses(['10.0.0.0/8']);
    expect(c.of('203.0.113.7', '198.51.100.1')).toBe('203.0.113.7');
    expect(c.of('10.0.0.1', '')).toBe('10.0.0.1');
    expect(c.of('10.0.0.1', '10.0.0.2, 10.0.0.3')).toBe('10.0.0.1');
    expect(c.of('10.0.0.1', '198.51.100.1, unknown')).toBe('10.0.0.1');
    expect(c.of('10.0.0.1', '[2001:db8::1]:443')).toBe('10.0.0.1');
  });

  it('several X-Forwarded-For lines are one list, in order: a line of the client\'s own put first does not pick its address', () => {
    const req = (lines: Array<[string, string]>) => ({ forEach: (cb: (k: string, v: string) => void) => lines.forEach(([k, v]) => cb(k, v)) });
    const spoofed = req([['host', 'x'], ['x-forwarded-for', '9.9.9.9'], ['user-agent', 'y'], ['x-forwarded-for', '1.1.1.1']]);
    expect(forwardedFor(spoofed)).toBe('9.9.9.9,1.1.1.1');
    expect(forwardedFor(req([['host', 'x']]))).toBeUndefined();
    const c = new ClientAddresses(['127.0.0.1']);
    expect(c.ofRequest('127.0.0.1', spoofed)).toBe('1.1.1.1');
    expect(c.ofRequest('127.0.0.1', req([['x-forwarded-for', '9.9.9.9, 10.0.0.1'], ['x-forwarded-for', '1.1.1.1, 127.0.0.1']]))).toBe('1.1.1.1');
    // An untrusted peer: its headers are not even read.
    expect(c.ofRequest('203.0.113.7', { forEach: () => expect.unreachable('headers read for an untrusted peer') })).toBe('203.0.113.7');
  });

  it('the config refuses an entry that is not an address or a CIDR block, naming the key', () => {
    expect(loadConfig({ env: { WORLDLINE_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1' } }).trustProxy).toEqual(['127.0.0.1', '10.0.0.0/8', '::1']);
    for (const bad of ['localhost', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/x']) {
      expect(() => loadConfig({ env: { WORLDLINE_TRUST_PROXY: bad } })).toThrow(/config trustProxy \(from WORLDLINE_TRUST_PROXY\)/);
    }
  });
});
