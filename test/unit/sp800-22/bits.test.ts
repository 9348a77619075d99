import { UserError } from '../../../domain/errors';
import { runBattery } from '../../../domain/sp800-22';
import { bitsFromAscii, bitsFromBytes, circularPatternCounts, dropLastBit } from '../../../domain/sp800-22/bits';

const text = (bits: Uint8Array): string => Array.from(bits).join('');

describe('bit sequences', () => {
  it('reads bytes most significant bit first, from any bit offset', () => {
    const bytes = Uint8Array.from([0xa5, 0x0f, 0x80]);
    expect(text(bitsFromBytes(bytes))).toBe('101001010000111110000000');
    expect(text(bitsFromBytes(bytes, 4, 9))).toBe('010100001');
  });

  it("reads ASCII '0' and '1' and skips everything else", () => {
    expect(text(bitsFromAscii(Buffer.from('  1011\r\n0 0x2-1\n')))).toBe('1011001');
  });

  it('counts circular patterns as in the §2.11.4 example (ε = 0011011101)', () => {
    const epsilon = Uint8Array.from('0011011101', (c) => Number(c));
    const three = circularPatternCounts(epsilon, 3);
    // ν000 … ν111 as printed in §2.11.4 step 2.
    expect(Array.from(three)).toEqual([0, 1, 1, 2, 1, 2, 2, 1]);
    expect(Array.from(dropLastBit(three))).toEqual([1, 3, 3, 3]);
    expect(Array.from(dropLastBit(dropLastBit(three)))).toEqual([4, 6]);
  });

  it('refuses a sequence with an element other than 0 or 1', () => {
    const bits = Uint8Array.from([0, 1, 1, 2, 0]);
    expect(() => runBattery(bits)).toThrow(UserError);
    expect(() => runBattery(bits)).toThrow('element 3 of the bit sequence is 2');
  });
});
