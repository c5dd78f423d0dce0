import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../server/protocol/bytes.js';

/** The obvious hex of some bytes, to check toHex's fast path against. */
const plainHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

describe('toHex', () => {
  it('writes lowercase hex, two digits a byte, for any length (the 32-byte fast path, the chunk edges)', () => {
    for (const n of [0, 1, 31, 32, 33, 4095, 4096, 4097, 9000]) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (i * 131 + 7) & 255;
      expect(toHex(b)).toBe(plainHex(b));
    }
    expect(toHex(new Uint8Array(32).fill(255))).toBe('f'.repeat(64));
    expect(toHex(Uint8Array.of(0, 1, 0x0a, 0xa0))).toBe('00010aa0');
  });

  it('round-trips through fromHex, and a second call does not see the first one\'s digits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, d) => {
        const ha = toHex(a);
        const hd = toHex(d);
        expect(ha).toBe(plainHex(a));
        expect(hd).toBe(plainHex(d));
        expect(fromHex(hd)).toEqual(d);
      }),
      { numRuns: 500 },
    );
  });
});
