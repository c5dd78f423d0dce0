/**
 * A fixed CPU reference measured in the same run as a benchmark, so smoke checks compare ratios (figure per unit
 * of reference work) and a slower or busier machine does not read as a regression.
 */
import { median } from '../lib.js';

/** Microseconds per iteration of a fixed JSON round trip of a 100-entity view (median of 5 rounds). */
export function referenceLoopUs(iterations = 2000): number {
  const view: Record<string, { x: number; y: number; hp: number }> = {};
  for (let i = 0; i < 100; i++) view[`e${String(i).padStart(6, '0')}`] = { x: (i * 7.31) % 1000, y: (i * 3.17) % 1000, hp: 100 };
  const rounds: number[] = [];
  let sink = 0;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < iterations; i++) sink += Object.keys(JSON.parse(JSON.stringify({ entities: view })) as { entities: object }).length;
    rounds.push(((performance.now() - t) * 1000) / iterations);
  }
  if (sink < 0) console.log(sink);
  return Math.round(median(rounds) * 100) / 100;
}
