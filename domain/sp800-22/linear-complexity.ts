import { packedBits, window32 } from './packed';
import { computed, formatCount, notApplicable, requireIntegerParameter, SINGLE, type TestResult } from './result';
import { igamc } from './special-functions';

export const DEFAULT_LINEAR_COMPLEXITY_LENGTH = 500;
/** π_0 … π_6 of SP 800-22 §3.10, with the rounding NIST STS 2.1.2 uses. */
const PROBABILITIES = [0.01047, 0.03125, 0.125, 0.5, 0.25, 0.0625, 0.020833];

/** Reusable buffers for linearComplexity, sized for blocks of up to `maxLength` bits. */
export class BerlekampMasseyScratch {
  readonly words: number;
  readonly buffers: Int32Array[];
  readonly reversed: Int32Array;
  constructor(readonly maxLength: number) {
    this.words = Math.ceil((maxLength + 1) / 32) + 1;
    this.buffers = [0, 1, 2].map(() => new Int32Array(this.words));
    this.reversed = new Int32Array(2 * this.words + 2);
  }
}

function parity(word: number): number {
  let x = word;
  x ^= x >>> 16;
  x ^= x >>> 8;
  x ^= x >>> 4;
  x ^= x >>> 2;
  x ^= x >>> 1;
  return x & 1;
}

/**
 * Linear complexity of bits[start … start+length) by Berlekamp–Massey over GF(2), on 32-bit words. The connection
 * polynomials are bit sets, and the block is stored reversed, so the bits s_N, s_{N−1}, … that meet the coefficients
 * c_0, c_1, … at step N are a contiguous run of it and a discrepancy is the parity of a few word-wise ANDs.
 */
export function linearComplexity(
  bits: Uint8Array,
  start: number,
  length: number,
  scratch: BerlekampMasseyScratch,
  packed: Int32Array = packedBits(bits).words,
): number {
  const { words, reversed } = scratch;
  const [connection, first, second] = scratch.buffers as [Int32Array, Int32Array, Int32Array];
  let previous = first;
  let saved = second;
  connection.fill(0);
  previous.fill(0);
  reversed.fill(0);
  // Bit k of `reversed` is s_{length−1−k}: read most significant bit first, the 32 bits ending at that one are already
  // in that order, so each word is one window of the packed sequence (the bits before the block masked off).
  for (let w = 0, end = start + length; 32 * w < length; w++) {
    const position = end - 32 * (w + 1);
    let word = position >= 0 ? window32(packed, position) : window32(packed, 0) >>> -position;
    const remaining = length - 32 * w;
    if (remaining < 32) word &= (1 << remaining) - 1;
    reversed[w] = word;
  }
  connection[0] = 1;
  previous[0] = 1;
  let previousWords = 1;
  let complexity = 0;
  let lastChange = -1;
  for (let step = 0; step < length; step++) {
    // Bit i of the history is s_{step−i}, bit (length − 1 − step + i) of `reversed`.
    const offset = length - 1 - step;
    const base = offset >>> 5;
    const bitOffset = offset & 31;
    const span = (complexity >>> 5) + 1;
    let acc = 0;
    if (bitOffset === 0) {
      for (let w = 0; w < span; w++) acc ^= connection[w]! & reversed[base + w]!;
    } else {
      for (let w = 0; w < span; w++) {
        const history = (reversed[base + w]! >>> bitOffset) | (reversed[base + w + 1]! << (32 - bitOffset));
        acc ^= connection[w]! & history;
      }
    }
    if (parity(acc) === 0) continue;
    const lengthChanges = complexity <= step >>> 1;
    if (lengthChanges) saved.set(connection);
    // connection += x^{step − lastChange} · previous, over the words where previous has bits (and their carry).
    const shift = step - lastChange;
    const wordShift = shift >>> 5;
    const bitShift = shift & 31;
    for (let w = Math.min(previousWords, words - 1 - wordShift); w >= 0; w--) {
      const carry = w > 0 && bitShift > 0 ? previous[w - 1]! >>> (32 - bitShift) : 0;
      connection[w + wordShift]! ^= (previous[w]! << bitShift) | carry;
    }
    if (lengthChanges) {
      previousWords = (complexity >>> 5) + 1;
      complexity = step + 1 - complexity;
      lastChange = step;
      [previous, saved] = [saved, previous];
    }
  }
  return complexity;
}

/** SP 800-22 §2.10, the linear complexity test on N blocks of M bits (the rest is discarded). Statistic: χ²(obs). */
export function linearComplexityTest(bits: Uint8Array, blockLength = DEFAULT_LINEAR_COMPLEXITY_LENGTH): TestResult {
  const M = requireIntegerParameter('LinearComplexity block length M', blockLength, 2, 1e6);
  const n = bits.length;
  const blocks = Math.floor(n / M);
  if (blocks < 1) {
    return notApplicable('LinearComplexity', SINGLE, `needs one block of ${formatCount(M)} bits; the sequence has ${formatCount(n)}`);
  }
  const mean = M / 2 + (9 + ((M + 1) % 2 === 0 ? -1 : 1)) / 36 - (1 / 2 ** M) * (M / 3 + 2 / 9);
  const sign = M % 2 === 0 ? 1 : -1;
  const frequencies = new Array<number>(7).fill(0);
  const scratch = new BerlekampMasseyScratch(M);
  const packed = packedBits(bits).words;
  for (let block = 0; block < blocks; block++) {
    const complexity = linearComplexity(bits, block * M, M, scratch, packed);
    const t = sign * (complexity - mean) + 2 / 9;
    const category = t <= -2.5 ? 0 : t <= -1.5 ? 1 : t <= -0.5 ? 2 : t <= 0.5 ? 3 : t <= 1.5 ? 4 : t <= 2.5 ? 5 : 6;
    frequencies[category]!++;
  }
  let chiSquared = 0;
  for (let i = 0; i < 7; i++) {
    const expected = blocks * PROBABILITIES[i]!;
    chiSquared += (frequencies[i]! - expected) ** 2 / expected;
  }
  return computed('LinearComplexity', SINGLE, igamc(3, chiSquared / 2), chiSquared);
}
