import { packedBits } from './packed';
import { UserError } from '../errors';

/**
 * Bit sequences are Uint8Arrays holding one bit per byte (0 or 1), bit i of the sequence at index i: the layout of
 * NIST STS's `epsilon`, which keeps every test a plain loop over the sequence.
 */

/** Throws a UserError unless every element is 0 or 1. */
export function assertBitSequence(bits: Uint8Array): void {
  let any = 0;
  for (let i = 0; i < bits.length; i++) any |= bits[i]!;
  if (any > 1) {
    const bad = bits.findIndex((bit) => bit > 1);
    throw new UserError('invalid_bit_sequence', `element ${bad} of the bit sequence is ${bits[bad]}; every element must be 0 or 1`);
  }
}

export function countOnes(bits: Uint8Array, start = 0, end = bits.length): number {
  let ones = 0;
  for (let i = start; i < end; i++) ones += bits[i]!;
  return ones;
}

/** The `count` bits starting at bit `offset` of `bytes`, each byte read most significant bit first. */
export function bitsFromBytes(bytes: Uint8Array, offset = 0, count = bytes.length * 8 - offset): Uint8Array {
  const bits = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const position = offset + i;
    bits[i] = (bytes[position >>> 3]! >>> (7 - (position & 7))) & 1;
  }
  return bits;
}

const ASCII_ZERO = 0x30;
const ASCII_ONE = 0x31;

/** The characters '0' and '1' of an ASCII text, in order; every other byte (newlines, spaces) is skipped. */
export function bitsFromAscii(text: Uint8Array): Uint8Array {
  let count = 0;
  for (const byte of text) if (byte === ASCII_ZERO || byte === ASCII_ONE) count++;
  const bits = new Uint8Array(count);
  let i = 0;
  for (const byte of text) {
    if (byte === ASCII_ZERO) bits[i++] = 0;
    else if (byte === ASCII_ONE) bits[i++] = 1;
  }
  return bits;
}

/**
 * How often each m-bit pattern occurs among the n overlapping windows of the sequence read as a circle (the last m−1
 * windows wrap around to the start), as the Serial and Approximate Entropy tests define it. Index = the pattern read
 * most significant bit first.
 */
export function circularPatternCounts(bits: Uint8Array, m: number): Uint32Array {
  const n = bits.length;
  const counts = new Uint32Array(2 ** m);
  if (n === 0) return counts;
  // The windows that do not wrap are the top m bits of a 32-bit window of the packed sequence; m ≤ 21 here.
  const straight = m <= 32 ? Math.max(0, n - m + 1) : 0;
  const words = packedBits(bits).words;
  const shift = 32 - m;
  for (let i = 0; i < straight; i++) {
    const w = i >>> 5;
    const offset = i & 31;
    const word = offset === 0 ? words[w]! : (words[w]! << offset) | (words[w + 1]! >>> (32 - offset));
    counts[word >>> shift]!++;
  }
  // The last m − 1 windows wrap around to the start.
  const mask = 2 ** m - 1;
  for (let i = straight; i < n; i++) {
    let window = 0;
    for (let j = 0; j < m; j++) window = ((window << 1) | bits[(i + j) % n]!) & mask;
    counts[window]!++;
  }
  return counts;
}

/**
 * Counts of (m−1)-bit patterns from the counts of m-bit patterns of the same circular sequence: each circular window
 * of m bits starts with exactly one circular window of m−1 bits.
 */
export function dropLastBit(counts: Uint32Array): Uint32Array {
  const shorter = new Uint32Array(counts.length >>> 1);
  for (let pattern = 0; pattern < shorter.length; pattern++) shorter[pattern] = counts[2 * pattern]! + counts[2 * pattern + 1]!;
  return shorter;
}
