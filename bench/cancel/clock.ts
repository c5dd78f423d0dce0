/**
 * The cancel bench's clock. Every timestamp is `stamp()`: the system's monotonic clock (CLOCK_MONOTONIC,
 * process.hrtime) in ms, one timeline for every process on the machine. Not performance.timeOrigin +
 * performance.now(): timeOrigin is the wall clock read once as a process starts, so two processes' such stamps differ
 * by however far the wall clock moved against the monotonic one between their starts, and on the VMs we bench on the
 * wall clock is stepped continually (5 ms per second at times: clock.wallMinusMonotonicMs in the results). The
 * server's Cancelled.server_time is such an epoch stamp of the server process; its constant offset to stamp()
 * (epochOffset(), printed in the server by server-clock.ts) turns it into one.
 */

/** The monotonic clock in ms (sub-µs resolution), shared by every process on the machine. */
export const stamp = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * performance.timeOrigin + performance.now() − stamp() in this process: a constant (both sides advance with the
 * monotonic clock), so an epoch stamp made here minus it is a stamp().
 */
export function epochOffset(): number {
  return performance.timeOrigin + performance.now() - stamp();
}

/**
 * Date.now() − stamp() now (ms), to a few µs: a Date.now() read between two stamps that shows the next whole ms
 * brackets the offset (brackets wider than 20 µs are dropped); the median of 20 such ticks, within at most 200 ms
 * of busy wait. It changes as the wall clock is stepped; the results record it as each scenario starts and ends.
 */
export function clockOffset(): number {
  const mids: number[] = [];
  let prevWall = Date.now();
  let prevBefore = stamp();
  const end = prevBefore + 200;
  while (mids.length < 20 && prevBefore < end) {
    const before = stamp();
    const wall = Date.now();
    const after = stamp();
    if (wall !== prevWall && after - prevBefore < 0.02) mids.push(wall - (prevBefore + after) / 2);
    prevWall = wall;
    prevBefore = before;
  }
  mids.sort((x, y) => x - y);
  return mids.length ? mids[mids.length >> 1]! : NaN;
}

