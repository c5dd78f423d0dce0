/**
 * An order-independent, incremental digest of a set of strings: the sum modulo 2^256 of their SHA-256 digests (each
 * read as a big-endian 256-bit integer), written as 64 hex digits. Adding or removing one member costs one SHA-256,
 * whatever the size of the set, so a digest of the whole world state can be kept up to date as entities change.
 */
import { hash } from 'node:crypto';

const WORDS = 8;
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A member's SHA-256 as eight big-endian 32-bit words: what it adds to a set digest (callers may cache it). */
export type MemberHash = Uint32Array;

/** The MemberHash of a member. */
export function memberHash(member: string): MemberHash {
  const h = hash('sha256', member, 'hex');
  const words = new Uint32Array(WORDS);
  for (let i = 0; i < WORDS; i++) {
    let v = 0;
    for (let j = i * 8; j < i * 8 + 8; j++) {
      const c = h.charCodeAt(j);
      v = v * 16 + (c <= 57 ? c - 48 : c - 87);
    }
    words[i] = v;
  }
  return words;
}

export class SetDigest {
  private readonly sum = new Uint32Array(WORDS);

  /** Adds a member given by its memberHash (the caller keeps members distinct). */
  add(term: MemberHash): void {
    const sum = this.sum;
    let carry = 0;
    for (let i = WORDS - 1; i >= 0; i--) {
      const s = (sum[i] as number) + (term[i] as number) + carry;
      sum[i] = s >>> 0;
      carry = s > 0xffffffff ? 1 : 0;
    }
  }

  /** Removes a member added before, given by its memberHash. */
  remove(term: MemberHash): void {
    const sum = this.sum;
    let borrow = 0;
    for (let i = WORDS - 1; i >= 0; i--) {
      let d = (sum[i] as number) - (term[i] as number) - borrow;
      borrow = d < 0 ? 1 : 0;
      if (d < 0) d += 0x100000000;
      sum[i] = d;
    }
  }

  /** The digest as 64 lowercase hex digits. */
  hex(): string {
    let out = '';
    for (let i = 0; i < WORDS; i++) {
      const w = this.sum[i] as number;
      out += (HEX2[w >>> 24] as string) + (HEX2[(w >>> 16) & 0xff] as string) + (HEX2[(w >>> 8) & 0xff] as string) + (HEX2[w & 0xff] as string);
    }
    return out;
  }
}

/** The set digest of the given members, computed from scratch. */
export function setDigestOf(members: Iterable<string>): string {
  const d = new SetDigest();
  for (const m of members) d.add(memberHash(m));
  return d.hex();
}
