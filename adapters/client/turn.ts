/**
 * The next turn of the event loop: work that nothing is waiting for right now (a delta's digest check) goes there,
 * after the I/O already pending has been handled. A process running many agents reads a burst of frames at once (a
 * Cancelled for each of a hundred agents, then their deltas), and what each frame's handler leaves for later is time
 * the next agent's Cancelled is read sooner. Browsers and Node alike: setImmediate where it exists, else a
 * MessageChannel message (not setTimeout, which browsers clamp to 4 ms when nested).
 */

type Schedule = (fn: () => void) => void;

function scheduler(): Schedule {
  const g = globalThis as unknown as { setImmediate?: (fn: () => void) => unknown; MessageChannel?: new () => { port1: { onmessage: (() => void) | null }; port2: { postMessage(m: null): void } } };
  if (typeof g.setImmediate === 'function') {
    const setImmediate = g.setImmediate;
    return (fn) => void setImmediate(fn);
  }
  if (typeof g.MessageChannel === 'function') {
    const ch = new g.MessageChannel();
    const queue: Array<() => void> = [];
    ch.port1.onmessage = () => queue.shift()?.();
    return (fn) => {
      queue.push(fn);
      ch.port2.postMessage(null);
    };
  }
  return (fn) => void setTimeout(fn, 0);
}

const schedule = scheduler();
/** Resolvers waiting for the next turn: one macrotask serves every caller of the same turn. */
let waiting: Array<() => void> | undefined;

/** Resolves on the next turn of the event loop (a macrotask), after the I/O already pending has been handled. */
export function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => {
    if (waiting) {
      waiting.push(resolve);
      return;
    }
    waiting = [resolve];
    schedule(() => {
      const due = waiting!;
      waiting = undefined;
      for (const r of due) r();
    });
  });
}
