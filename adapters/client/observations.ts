/**
 * One consumer's observation stream: a bounded queue turned into an async iterator. A consumer that falls more than
 * `capacity` observations behind gets the queued deltas replaced by one snapshot of the latest view (a view is the
 * whole state, so nothing is lost but the intermediate steps).
 */
import type { Observation } from './view.js';

export class ObservationQueue implements AsyncIterableIterator<Observation> {
  private readonly items: Observation[] = [];
  /** next() calls waiting, oldest first: each gets the next observation (two calls not awaited in turn both settle). */
  private readonly waiters: Array<(r: IteratorResult<Observation>) => void> = [];
  private done = false;

  constructor(private readonly capacity: number, private readonly onEnd: (q: ObservationQueue) => void) {}

  push(o: Observation): void {
    if (this.done) return;
    const w = this.waiters.shift();
    if (w) {
      w({ value: o, done: false });
      return;
    }
    if (this.items.length >= this.capacity) {
      this.items.length = 0;
      this.items.push({ ...o, type: 'snapshot', ops: [], reason: 'overflow' });
      return;
    }
    this.items.push(o);
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.items.length = 0;
    this.onEnd(this);
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<Observation>> {
    const o = this.items.shift();
    if (o) return Promise.resolve({ value: o, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  return(): Promise<IteratorResult<Observation>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Observation> {
    return this;
  }
}
