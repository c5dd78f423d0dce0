/**
 * The SDK's observation stream as a raw iterator: next() calls made before any is settled (not awaited in turn, as
 * `for await` would) each get an observation in order, and all settle as done when the stream ends.
 */
import { describe, expect, it } from 'vitest';
import { ObservationQueue } from '../../adapters/client/observations.js';
import type { Observation } from '../../adapters/client/view.js';

const obs = (viewSeq: number): Observation => ({ type: 'delta', viewSeq, ops: [] }) as unknown as Observation;

/** `p`, or a rejection after a second: a next() left waiting fails the test, not hangs it. */
function within<T>(p: Promise<T>): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error('a next() was left waiting')), 1000)))]).finally(() => clearTimeout(t));
}

describe('ObservationQueue', () => {
  it('two next() calls waiting at once get the next two observations, in order', async () => {
    const q = new ObservationQueue(8, () => undefined);
    const a = q.next();
    const b = q.next();
    q.push(obs(1));
    q.push(obs(2));
    expect(((await within(a)).value as unknown as { viewSeq: number }).viewSeq).toBe(1);
    expect(((await within(b)).value as unknown as { viewSeq: number }).viewSeq).toBe(2);
  });

  it('every next() still waiting is settled done when the stream ends', async () => {
    let ended = 0;
    const q = new ObservationQueue(8, () => ended++);
    const waiting = [q.next(), q.next(), q.next()];
    q.end();
    expect(await within(Promise.all(waiting))).toEqual([{ value: undefined, done: true }, { value: undefined, done: true }, { value: undefined, done: true }]);
    expect(ended).toBe(1);
  });
});
