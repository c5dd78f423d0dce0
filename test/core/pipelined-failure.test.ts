/**
 * A log failure that reaches a later record while an earlier quantum is still being synced (the real log refuses
 * appends at once while it cuts back a failed write, or a record over maxRecordBytes): the failure is handled when
 * the earlier quanta are delivered. Until then it must not count as an unhandled rejection, which in the server
 * process (Node's default --unhandled-rejections=throw) would end the process.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IntentOutcome } from '../../server/core/types.js';
import { move, openWorld, planeWorld } from './helpers/worlds.js';

const codeOf = (o: IntentOutcome): string => (o.status === 'rejected' ? o.error.name : o.status);
const unhandled: unknown[] = [];
const onUnhandled = (r: unknown): void => void unhandled.push(r);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});
const macrotask = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

describe('a log failure behind a quantum still being synced', () => {
  it("a later quantum's failed append is no unhandled rejection; the earlier quantum commits, the later one gets the error", async () => {
    const { rt, log } = await openWorld(planeWorld([[10, 10]]), { agents: ['a0'] });
    log.hold = true;
    const first = rt.submit(move('a0', 1, 0, 0));
    const q1 = rt.flush();
    log.failWith = new Error('log is read-only');
    const second = rt.submit(move('a0', 1, 0, rt.viewSeq('a0')));
    const q2 = rt.flush();
    await macrotask();
    expect(unhandled).toEqual([]);
    log.release();
    await q1;
    await expect(q2).rejects.toThrow(/read-only/);
    expect(codeOf(await first)).toBe('committed');
    expect(codeOf(await second)).toBe('DATABASE_ERROR');
    await macrotask();
    expect(unhandled).toEqual([]);
  });

  it("an agent's failed join record is no unhandled rejection either", async () => {
    const { rt, log } = await openWorld(planeWorld([[10, 10], [20, 20]]), { agents: ['a0'] });
    log.hold = true;
    const first = rt.submit(move('a0', 1, 0, 0));
    const q1 = rt.flush();
    log.failWith = new Error('log is read-only');
    const joined = rt.registerAgent('a1');
    await macrotask();
    expect(unhandled).toEqual([]);
    log.release();
    await q1;
    await expect(joined).rejects.toThrow(/read-only/);
    expect(codeOf(await first)).toBe('committed');
    await macrotask();
    expect(unhandled).toEqual([]);
  });
});
