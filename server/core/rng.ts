/**
 * Seeded randomness. Two kinds, both derived from the world seed:
 * - uuids: counter based. uuid n = a 48-bit counter followed by bits mixed from (seed, n), laid out as a UUID v8.
 *   The counter is recoverable from the log (the largest uuid recorded), so a restart continues the sequence
 *   without a snapshot, and uuids sort in draw order, which keeps one source's effects in submission order.
 * - system streams: seedrandom (alea) generators whose state is saved in the world state at every tick.
 */
import seedrandom from 'seedrandom';
import type { Rng } from './ports.js';
import type { JsonValue } from './types.js';

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit hash of a string (FNV-1a then a finaliser); used to fold the world seed into the uuid mixer. */
export function hashString32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

const HEX_CODES: readonly number[] = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/**
 * The uuid being formatted, as latin1 bytes (dashes at 8, 13, 18, 23 written once), reused: each uuid costs its one
 * string. String.fromCharCode(...codes) also built a 36-element arguments list per uuid (~30 ns and ~300 bytes).
 */
const codes = Buffer.alloc(36, 0x2d);

/** Writes `n` (an unsigned integer) as `digits` hex digits at codes[at...]. */
function hexInto(n: number, digits: number, at: number): void {
  for (let i = at + digits - 1; i >= at; i--) {
    codes[i] = HEX_CODES[n & 15] as number;
    n >>>= 4;
  }
}

/** Issues the world's uuids in a deterministic sequence. */
export class UuidSequence {
  private readonly seedHash: number;
  /** Number of uuids issued so far (the next uuid's counter). */
  counter: number;

  constructor(seed: string, counter = 0) {
    this.seedHash = hashString32(seed);
    this.counter = counter;
  }

  next(): string {
    const n = this.counter++;
    const hi = Math.floor(n / 0x10000);
    const lo = n % 0x10000;
    const r1 = fmix32(this.seedHash ^ fmix32(n * 3 + 1));
    const r2 = fmix32(r1 ^ fmix32(n * 3 + 2));
    const r3 = fmix32(r2 ^ fmix32(n * 3 + 3));
    // Layout: 8 hex of the counter's high 32 bits, 4 of its low 16, version 8 + 12 bits of r1, variant 10 + 14
    // bits of r1, then the top 16 bits of r2 and all of r3 (dashes at 8, 13, 18, 23 stay in `codes`).
    hexInto(hi >>> 0, 8, 0);
    hexInto(lo, 4, 9);
    hexInto(0x8000 | (r1 & 0x0fff), 4, 14);
    hexInto(0x8000 | ((r1 >>> 12) & 0x3fff), 4, 19);
    hexInto(r2 >>> 16, 4, 24);
    hexInto(r3, 8, 28);
    return codes.toString('latin1', 0, 36);
  }

  /** Moves the counter past a uuid already recorded (used when rebuilding from the log). */
  observe(uuid: string): void {
    const n = uuidCounter(uuid);
    if (n !== undefined && n >= this.counter) this.counter = n + 1;
  }
}

/** The counter a core-issued uuid encodes, or undefined for a foreign uuid. */
export function uuidCounter(uuid: string): number | undefined {
  if (uuid.length !== 36 || uuid[14] !== '8') return undefined;
  const hi = Number.parseInt(uuid.slice(0, 8), 16);
  const lo = Number.parseInt(uuid.slice(9, 13), 16);
  if (!Number.isFinite(hi) || !Number.isFinite(lo)) return undefined;
  return hi * 0x10000 + lo;
}

/** A seeded generator whose position can be saved into the world state and restored exactly. */
export interface StatefulRng extends Rng {
  /** Integer in [min, max], inclusive. */
  int(min: number, max: number): number;
  save(): JsonValue;
}

/** A seedrandom (alea) stream; `saved` resumes it where a previous save left off. */
export function seededStream(seed: string, saved?: JsonValue): StatefulRng {
  const prng = seedrandom.alea(seed, saved === undefined || saved === null ? { state: true } : { state: saved as unknown as seedrandom.State.Alea });
  return {
    next: () => prng(),
    int: (min, max) => min + Math.floor(prng() * (max - min + 1)),
    save: () => prng.state() as unknown as JsonValue,
  };
}
