/**
 * An order-independent, incremental digest of a set of strings: the sum modulo 2^256 of their SHA-256 digests (each
 * read as a big-endian 256-bit integer), written as 64 hex digits. Adding or removing one member costs one SHA-256,
 * whatever the size of the set, so a digest of the whole world state can be kept up to date as entities change.
 */
import { hash } from 'node:crypto';

const WORDS = 8;

/** SHA-256 (hex) of a member: what it adds to a set digest (callers may cache it). */
export function memberHash(member: string): string {
  return hash('sha256', member, 'hex');
}

export class SetDigest {
  private readonly sum = new Uint32Array(WORDS);
  private readonly term = new Uint32Array(WORDS);

  /** Adds a member given by its memberHash (the caller keeps members distinct). */
  add(memberHashHex: string): void {
    this.load(memberHashHex);
    let carry = 0;
    for (let i = WORDS - 1; i >= 0; i--) {
      const s = (this.sum[i] as number) + (this.term[i] as number) + carry;
      this.sum[i] = s >>> 0;
      carry = s > 0xffffffff ? 1 : 0;
    }
  }

  /** Removes a member added before, given by its memberHash. */
  remove(memberHashHex: string): void {
    this.load(memberHashHex);
    let borrow = 0;
    for (let i = WORDS - 1; i >= 0; i--) {
      let d = (this.sum[i] as number) - (this.term[i] as number) - borrow;
      borrow = d < 0 ? 1 : 0;
      if (d < 0) d += 0x100000000;
      this.sum[i] = d;
    }
  }

  /** The digest as 64 lowercase hex digits. */
  hex(): string {
    let out = '';
    for (let i = 0; i < WORDS; i++) out += (this.sum[i] as number).toString(16).padStart(8, '0');
    return out;
  }

  private load(h: string): void {
    for (let i = 0; i < WORDS; i++) {
      let v = 0;
      for (let j = i * 8; j < i * 8 + 8; j++) {
        const c = h.charCodeAt(j);
        v = v * 16 + (c <= 57 ? c - 48 : c - 87);
      }
      this.term[i] = v;
    }
  }
}

/** The set digest of the given members, computed from scratch. */
export function setDigestOf(members: Iterable<string>): string {
  const d = new SetDigest();
  for (const m of members) d.add(memberHash(m));
  return d.hex();
}
