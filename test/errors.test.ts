import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCatalogue, WorldlineError, renderErrorsMarkdown } from '../server/errors.js';

describe('error catalogue', () => {
  it('docs/errors.md is generated from the catalogue (run `npm run docs:errors` after changing it)', () => {
    expect(fs.readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')).toBe(renderErrorsMarkdown());
  });

  it('codes are unique and keep the numbers of the reference design', () => {
    const codes = Object.values(ErrorCatalogue).map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    const gunn: Record<string, number> = {
      STALE_CONTEXT: 1001, INVALID_VIEW_SEQ: 1002, INTENT_CONFLICT: 2001, INVALID_INTENT: 2002, INTENT_VALIDATION_FAILED: 2003,
      DUPLICATE_REQ_ID: 2004, QUOTA_EXCEEDED: 3001, QUEUE_FULL: 3002, OPERATION_TIMEOUT: 4001, GENERATION_CANCELLED: 4002,
      UNAUTHORIZED: 5001, FORBIDDEN: 5002, UNITY_CONNECTION_LOST: 6003, LOG_CORRUPTION_DETECTED: 7003, SCHEMA_VERSION_MISMATCH: 7004,
    };
    for (const [name, code] of Object.entries(gunn)) expect(ErrorCatalogue[name as keyof typeof ErrorCatalogue].code).toBe(code);
  });

  it('every entry says what it means and what to do', () => {
    for (const [name, e] of Object.entries(ErrorCatalogue)) {
      expect(name).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(e.meaning.length).toBeGreaterThan(10);
      expect(e.action.length).toBeGreaterThan(5);
    }
  });

  it('WorldlineError carries code, name, recovery and serialises to the wire shape', () => {
    const e = new WorldlineError('LOG_WRITE_FAILED', 'disk full', { errno: 'ENOSPC' });
    expect(e.code).toBe(7006);
    expect(e.retryable).toBe(true);
    expect(e.toJSON()).toEqual({ code: 7006, name: 'LOG_WRITE_FAILED', message: 'disk full', recovery: 'RETRY_WITH_DELAY', details: { errno: 'ENOSPC' } });
    expect(new WorldlineError('LOG_CORRUPTION_DETECTED', 'x').retryable).toBe(false);
  });
});
