import { packedBits, popcount, rememberPacked } from './packed';
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

/** The ones among bits[start … end), whole words at a time from the packed form (packed.ts). */
export function countOnes(bits: Uint8Array, start = 0, end = bits.length): number {
  let ones = 0;
  let i = start;
  if (end - i >= 64) {
    const words = packedBits(bits).words;
    for (; (i & 31) !== 0; i++) ones += bits[i]!;
    for (; i + 32 <= end; i += 32) ones += popcount(words[i >>> 5]!);
  }
  for (; i < end; i++) ones += bits[i]!;
  return ones;
}

/** NIBBLE_BYTES[v]: the four bits of v, most significant first, as four bytes 0/1 in one little-endian 32-bit word. */
const NIBBLE_BYTES = Int32Array.from({ length: 16 }, (_, v) => ((v >>> 3) & 1) | (((v >>> 2) & 1) << 8) | (((v >>> 1) & 1) << 16) | ((v & 1) << 24));
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * The `count` bits starting at bit `offset` of `bytes`, each byte read most significant bit first. From a whole byte,
 * it writes four bits at a time and also records the packed form (packed.ts) read straight from the bytes.
 */
export function bitsFromBytes(bytes: Uint8Array, offset = 0, count = bytes.length * 8 - offset): Uint8Array {
  const bits = new Uint8Array(count);
  if (offset % 8 !== 0 || !LITTLE_ENDIAN) {
    for (let i = 0; i < count; i++) {
      const position = offset + i;
      bits[i] = (bytes[position >>> 3]! >>> (7 - (position & 7))) & 1;
    }
    return bits;
  }
  const first = offset >>> 3;
  const wholeBytes = count >>> 3;
  const nibbles = new Int32Array(bits.buffer, 0, wholeBytes * 2);
  for (let b = 0; b < wholeBytes; b++) {
    const byte = bytes[first + b]!;
    nibbles[2 * b] = NIBBLE_BYTES[byte >>> 4]!;
    nibbles[2 * b + 1] = NIBBLE_BYTES[byte & 15]!;
  }
  for (let i = wholeBytes * 8; i < count; i++) bits[i] = (bytes[first + (i >>> 3)]! >>> (7 - (i & 7))) & 1;
  const words = new Int32Array((count >>> 5) + 2);
  const wordCount = Math.ceil(count / 32);
  const inBounds = Math.min(wordCount, Math.floor((bytes.length - first) / 4));
  for (let w = 0; w < inBounds; w++) {
    const at = first + 4 * w;
    words[w] = (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
  }
  for (let w = inBounds; w < wordCount; w++) {
    const at = first + 4 * w;
    for (let k = 0; k < 4; k++) words[w]! |= (bytes[at + k] ?? 0) << (24 - 8 * k);
  }
  // Bits after the sequence (the rest of the last word) are zero in the packed form.
  if (count % 32 !== 0) words[count >>> 5]! &= ~(-1 >>> (count % 32));
  rememberPacked(bits, { length: count, words });
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
