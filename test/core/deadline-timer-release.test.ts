/**
 * The deadline timer (deadline_ms holds without a quantum) stays armed after its intent commits, up to the intent's
 * deadline (at most a day). It must not keep the runtime alive meanwhile: a world deleted, or reopened after a failed
 * write, drops its runtime, and one intent with a long deadline kept the whole runtime (state, views, index) in memory
 * until the deadline passed. Checked with the real timers and a forced garbage collection.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { WorldRuntime } from '../../server/core/index.js';
import { ManualClock, MemoryLog } from './helpers/memory-log.js';
import { move, planeWorld } from './helpers/worlds.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Kept for the whole file: a registry that is itself collected calls nothing. */
const registry = new FinalizationRegistry((done: () => void) => done());

/** Opens a runtime, commits one intent with `extra`, and returns a probe that says whether the runtime was collected. */
async function dropAfterOneIntent(extra: Record<string, unknown>): Promise<() => boolean> {
  let collected = false;
  const token = (): void => void (collected = true);
  const world = planeWorld([[10, 10]]);
  const rt = await WorldRuntime.open({ world, log: new MemoryLog('w1', world.seed), clock: new ManualClock() });
  await rt.registerAgent('a0');
  const p = rt.submit(move('a0', 1, 0, 0, extra));
  await rt.flush();
  expect((await p).status).toBe('committed');
  await rt.drain();
  registry.register(rt, token);
  return () => collected;
}

async function collectedAfterGc(probe: () => boolean): Promise<boolean> {
  for (let i = 0; i < 20 && !probe(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  return probe();
}

describe('deadline timer', () => {
  it('does not keep a dropped runtime in memory until a committed intent deadline passes', async () => {
    // Control: without a deadline the dropped runtime is collected, so the probe can see it.
    expect(await collectedAfterGc(await dropAfterOneIntent({}))).toBe(true);
    expect(await collectedAfterGc(await dropAfterOneIntent({ deadline_ms: 86_400_000 }))).toBe(true);
  });
});
