import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, scrubText } from '../../server/obs/logger.js';

describe('logger redaction', () => {
  const capture = (): { lines: Array<Record<string, unknown>>; stream: Writable } => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
    return { lines, stream };
  };

  it('redacts credential and contact fields, configured paths, and secrets inside messages', () => {
    const { lines, stream } = capture();
    const log = createLogger({ level: 'info', redact: ['payload.ssn'] }, stream);
    log.info({ agent_id: 'a1', token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig', user: { email: 'x@y.org', phone: '+1 555 123 4567' }, payload: { ssn: '123-45-6789', ok: 1 } }, 'hello alice@example.com, call +44 20 7946 0958 with Bearer abc.def');
    const l = lines[0]!;
    expect(l['agent_id']).toBe('a1');
    expect(l['token']).toBe('[REDACTED]');
    expect(l['user']).toEqual({ email: '[REDACTED]', phone: '[REDACTED]' });
    expect(l['payload']).toEqual({ ssn: '[REDACTED]', ok: 1 });
    expect(l['msg']).toBe('hello [REDACTED], call [REDACTED] with Bearer [REDACTED]');
  });

  it('leaves ordinary numbers and ids alone', () => {
    expect(scrubText('global_seq 1234567 view_seq 42 req r-2024-01-02')).toBe('global_seq 1234567 view_seq 42 req r-2024-01-02');
  });
});
