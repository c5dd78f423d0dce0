/**
 * A cancel answered after the runtime stopped on a failed log write: the idempotency index holds each outcome from its
 * commit on, before its records are durable, so once a write has failed it may hold commits the log never kept. A
 * cancel must not answer from it then: the world is stopped (the runtime's failure), and a reopened runtime, whose
 * index is rebuilt from the log, answers truly.
 */
import { describe, expect, it } from 'vitest';
import { isWorldlineError } from '../../server/errors.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

describe('cancelSettled on a failed runtime', () => {
  it('does not answer committed for an intent whose records a failed write took back', async () => {
    const { rt, log } = await openWorld(planeWorld([[10, 10]]), { agents: ['a0'] });
    log.hold = true;
    const intent = move('a0', 1, 0, 0);
    const submitted = rt.submit(intent);
    const quantum = rt.flush().catch(() => undefined);
    log.failHeld(new Error('EIO: the disk went away'));
    await quantum;
    const told = await submitted;
    expect(told.status).toBe('rejected');
    // The submitter was told the write failed; a cancel for the same req_id, asked now, must not say it committed.
    const answer = await rt.cancelSettled('a0', intent['req_id'] as string).then(
      (r) => r,
      (err: unknown) => err,
    );
    expect(isWorldlineError(answer)).toBe(true);
    expect(answer).toMatchObject({ codeName: told.status === 'rejected' ? told.error.name : '' });
    // The synchronous cancel() answers no differently.
    expect(() => rt.cancel('a0', intent['req_id'] as string)).toThrow(/disk went away/);
  });
});
