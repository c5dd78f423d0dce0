/**
 * Session timers on a fake clock: a token valid for longer than one setTimeout can wait still closes its session when
 * it expires.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Subprotocol, createWorldCodecs, type Frame } from '../../server/protocol/index.js';
import { Session, type SessionDeps } from '../../server/transport/session.js';
import { Quarantine } from '../../server/transport/rate-limit.js';
import type { Principal } from '../../server/transport/auth.js';

const DAY = 86_400_000;

/** An engine session (it joins without a world runtime) whose token expires `ttlMs` from now. */
function engineSession(ttlMs: number): { session: Session; sent: Frame[]; closed: Array<{ code: number; reason: string }> } {
  const sent: Frame[] = [];
  const closed: Array<{ code: number; reason: string }> = [];
  const principal: Principal = { tenant: 't', world: 'w', agent: undefined, role: 'engine', expiresAt: Date.now() + ttlMs, tokenId: 'tok_0' };
  const noop = (): void => {};
  const deps = {
    host: { opts: { tenant: 't', worldId: 'w' }, engine: { attach: () => noop }, incarnation: 'log-1' },
    auth: { authenticate: async () => principal },
    quarantine: new Quarantine(0, 1000),
    logger: { info: noop, warn: noop, debug: noop, error: noop, isLevelEnabled: () => false },
    metrics: { securityEvents: { inc: noop } },
    messagesPerSecond: 100,
    now: () => Date.now(),
  } as unknown as SessionDeps;
  const socket = { remoteAddress: '127.0.0.1', send: (f: Frame) => sent.push(f) > 0, close: (code: number, reason: string) => void closed.push({ code, reason }) };
  const session = new Session(createWorldCodecs()[Subprotocol.JSON], socket, deps, undefined);
  return { session, sent, closed };
}

describe('Session token expiry', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([1, 30, 60])('a token valid for %i days closes its session when it expires, not before', async (days) => {
    vi.useFakeTimers();
    const { session, sent, closed } = engineSession(days * DAY);
    session.onFrame(JSON.stringify({ type: 'hello', token: 'x.y.z', agent_id: '', client_version: 't', schema_version: '1.0.0' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(String(sent[0])).toContain('"type":"welcome"');
    await vi.advanceTimersByTimeAsync(days * DAY - 1000);
    expect(closed).toEqual([]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(closed).toEqual([{ code: 1008, reason: 'token expired' }]);
    expect(String(sent[sent.length - 1])).toContain('token expired');
  });
});
