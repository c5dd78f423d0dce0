import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, writeHex } from '../../server/protocol/bytes.js';

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

describe('writeHex and fromHex', () => {
  it('take exactly lowercase hex of even length, and nothing that only looks like it', () => {
    const out = new Uint8Array(8).fill(0xee);
    expect(writeHex('00ff0a9f', out, 2)).toBe(6);
    expect([...out]).toEqual([0xee, 0xee, 0x00, 0xff, 0x0a, 0x9f, 0xee, 0xee]);
    expect(writeHex('', out, 3)).toBe(3);
    // Uppercase, the neighbours of each digit range, odd length, and characters past 0xff whose low byte is a digit.
    for (const bad of ['0A', 'F0', '/0', '0:', '`0', '0g', '0', '000', ' 0', '\u0130\u0130', '\u0161a', 'a\u0131', '\uff10\uff10']) {
      expect(writeHex(bad, out, 0), JSON.stringify(bad)).toBe(-1);
      expect(fromHex(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });

  it('agree with Buffer on every byte, at any offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(8), (b, at) => {
        const out = new Uint8Array(at + b.length);
        expect(writeHex(Buffer.from(b).toString('hex'), out, at)).toBe(at + b.length);
        expect(out.subarray(at)).toEqual(b);
      }),
      { numRuns: 300 },
    );
  });
});
