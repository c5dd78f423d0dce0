/**
 * An order-independent, incremental digest of a set of strings: the sum modulo 2^256 of their SHA-256 digests (each
 * read as a big-endian 256-bit integer), written as 64 hex digits. Adding or removing one member costs one SHA-256,
 * whatever the size of the set, so a digest of the whole world state can be kept up to date as entities change.
 */
import { hash } from 'node:crypto';

const WORDS = 8;
/** hex()'s scratch. */
const HEX_BYTES = Buffer.alloc(32);

/**
 * A member's SHA-256 as eight big-endian 32-bit words: what it adds to a set digest (callers may cache it). An array of
 * doubles, not a Uint32Array: views and the state digest keep one per changed record for a tick or more, and an array
 * literal, unlike a typed array, has an allocation site, so V8 allocates them straight into the old generation once
 * it sees that they survive (no copy by each scavenge); its elements are unboxed doubles, like a typed array's.
 */
export type MemberHash = readonly number[];

/** The MemberHash of a member. */
export function memberHash(member: string): MemberHash {
  // As a 'binary' (latin1) string, one char per byte: no ArrayBuffer per call, as a Buffer would cost.
  return memberHashOfDigest(hash('sha256', member, 'binary'));
}

/** The MemberHash of a SHA-256 digest given as a 'binary' (latin1) string of 32 characters. */
export function memberHashOfDigest(h: string): MemberHash {
  // Made from a literal of doubles, so the array's elements are doubles from the start (storing a word that fits a
  // small integer keeps them so) and every MemberHash has the same elements kind.
  const words = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
  for (let i = 0; i < WORDS; i++) {
    const j = i * 4;
    words[i] = ((h.charCodeAt(j) << 24) | (h.charCodeAt(j + 1) << 16) | (h.charCodeAt(j + 2) << 8) | h.charCodeAt(j + 3)) >>> 0;
  }
  return words;
}

const TWO32 = 0x100000000;
/** Terms a digest may take between normalisations: each limb then stays below 2^52 in magnitude (exact in a double). */
const MAX_PENDING = 1 << 19;

/**
 * The running sum. Its eight 32-bit limbs (most significant first) are doubles, and adding or removing a member
 * adds or subtracts limb by limb without carrying; carries are propagated, modulo 2^256, only when the digest is
 * read (or after MAX_PENDING terms), which keeps an update to eight plain additions.
 */
export class SetDigest {
  private readonly sum = new Float64Array(WORDS);
  private pending = 0;

  /** Adds a member given by its memberHash (the caller keeps members distinct). */
  add(term: MemberHash): void {
    const s = this.sum;
    s[0] = (s[0] as number) + (term[0] as number);
    s[1] = (s[1] as number) + (term[1] as number);
    s[2] = (s[2] as number) + (term[2] as number);
    s[3] = (s[3] as number) + (term[3] as number);
    s[4] = (s[4] as number) + (term[4] as number);
    s[5] = (s[5] as number) + (term[5] as number);
    s[6] = (s[6] as number) + (term[6] as number);
    s[7] = (s[7] as number) + (term[7] as number);
    if (++this.pending >= MAX_PENDING) this.normalize();
  }

  /** Removes a member added before, given by its memberHash. */
  remove(term: MemberHash): void {
    const s = this.sum;
    s[0] = (s[0] as number) - (term[0] as number);
    s[1] = (s[1] as number) - (term[1] as number);
    s[2] = (s[2] as number) - (term[2] as number);
    s[3] = (s[3] as number) - (term[3] as number);
    s[4] = (s[4] as number) - (term[4] as number);
    s[5] = (s[5] as number) - (term[5] as number);
    s[6] = (s[6] as number) - (term[6] as number);
    s[7] = (s[7] as number) - (term[7] as number);
    if (++this.pending >= MAX_PENDING) this.normalize();
  }

  /** Replaces member `from` by member `to` (remove then add, in one pass). */
  replace(from: MemberHash, to: MemberHash): void {
    const s = this.sum;
    s[0] = (s[0] as number) + (to[0] as number) - (from[0] as number);
    s[1] = (s[1] as number) + (to[1] as number) - (from[1] as number);
    s[2] = (s[2] as number) + (to[2] as number) - (from[2] as number);
    s[3] = (s[3] as number) + (to[3] as number) - (from[3] as number);
    s[4] = (s[4] as number) + (to[4] as number) - (from[4] as number);
    s[5] = (s[5] as number) + (to[5] as number) - (from[5] as number);
    s[6] = (s[6] as number) + (to[6] as number) - (from[6] as number);
    s[7] = (s[7] as number) + (to[7] as number) - (from[7] as number);
    if (++this.pending >= MAX_PENDING) this.normalize();
  }

  /**
   * Adds eight words w[at .. at + 8) as a term: a member's hash (add), a difference of two (replace, in one term), or
   * a negated hash (remove). Limbs may go negative; normalize() settles them.
   */
  addWords(w: Float64Array, at: number): void {
    const s = this.sum;
    s[0] = (s[0] as number) + (w[at] as number);
    s[1] = (s[1] as number) + (w[at + 1] as number);
    s[2] = (s[2] as number) + (w[at + 2] as number);
    s[3] = (s[3] as number) + (w[at + 3] as number);
    s[4] = (s[4] as number) + (w[at + 4] as number);
    s[5] = (s[5] as number) + (w[at + 5] as number);
    s[6] = (s[6] as number) + (w[at + 6] as number);
    s[7] = (s[7] as number) + (w[at + 7] as number);
    if (++this.pending >= MAX_PENDING) this.normalize();
  }

  /** Subtracts eight words w[at .. at + 8): removes a member whose hash they are. */
  removeWords(w: Float64Array, at: number): void {
    const s = this.sum;
    s[0] = (s[0] as number) - (w[at] as number);
    s[1] = (s[1] as number) - (w[at + 1] as number);
    s[2] = (s[2] as number) - (w[at + 2] as number);
    s[3] = (s[3] as number) - (w[at + 3] as number);
    s[4] = (s[4] as number) - (w[at + 4] as number);
    s[5] = (s[5] as number) - (w[at + 5] as number);
    s[6] = (s[6] as number) - (w[at + 6] as number);
    s[7] = (s[7] as number) - (w[at + 7] as number);
    if (++this.pending >= MAX_PENDING) this.normalize();
  }

  /** Propagates carries and borrows so every limb is in [0, 2^32); the carry out of the top limb is dropped (mod 2^256). */
  private normalize(): void {
    const s = this.sum;
    let carry = 0;
    for (let i = WORDS - 1; i >= 0; i--) {
      const v = (s[i] as number) + carry;
      carry = Math.floor(v / TWO32);
      s[i] = v - carry * TWO32;
    }
    this.pending = 0;
  }

  /**
   * The digest as 64 lowercase hex digits. Through bytes and Buffer's hex: one flat string, about half the cost of
   * joining 32 pieces into a rope that its first reader (a binary codec writing it as bytes, per frame) must flatten.
   */
  hex(): string {
    if (this.pending > 0) this.normalize();
    const b = HEX_BYTES;
    for (let i = 0; i < WORDS; i++) {
      const w = this.sum[i] as number;
      b[4 * i] = w >>> 24;
      b[4 * i + 1] = (w >>> 16) & 0xff;
      b[4 * i + 2] = (w >>> 8) & 0xff;
      b[4 * i + 3] = w & 0xff;
    }
    return b.toString('hex');
  }
}

/** The set digest of the given members, computed from scratch. */
export function setDigestOf(members: Iterable<string>): string {
  const d = new SetDigest();
  for (const m of members) d.add(memberHash(m));
  return d.hex();
}
