import type { EstimatorOutcome } from './estimate';
import { solveDecreasing, Z_ALPHA } from './statistics';

const BLOCK_BITS = 6;
const ALPHABET = 1 << BLOCK_BITS;
const DICTIONARY_BLOCKS = 1000;

/** Section 6.3.4 on a bitstring: Maurer's universal statistic over 6-bit blocks, inverted for a near-uniform source. */
export function compressionEstimate(bits: Uint8Array): EstimatorOutcome {
  const numBlocks = Math.floor(bits.length / BLOCK_BITS);
  if (numBlocks <= DICTIONARY_BLOCKS) {
    return { notApplicable: `needs more than ${DICTIONARY_BLOCKS} blocks of ${BLOCK_BITS} bits` };
  }
  const lastSeen = new Float64Array(ALPHABET);
  const blockAt = (index: number): number => {
    let block = 0;
    for (let j = 0, base = index * BLOCK_BITS; j < BLOCK_BITS; j++) block = (block << 1) | (bits[base + j]! & 1);
    return block;
  };
  for (let i = 0; i < DICTIONARY_BLOCKS; i++) lastSeen[blockAt(i)] = i + 1;

  // Kahan summation, as in the reference tool: a million small logarithms lose digits in a plain sum.
  let sum = 0;
  let sumCarry = 0;
  let squares = 0;
  let squaresCarry = 0;
  for (let i = DICTIONARY_BLOCKS; i < numBlocks; i++) {
    const block = blockAt(i);
    const distance = Math.log2(i + 1 - lastSeen[block]!);
    let y = distance - sumCarry;
    let t = sum + y;
    sumCarry = t - sum - y;
    sum = t;
    y = distance * distance - squaresCarry;
    t = squares + y;
    squaresCarry = t - squares - y;
    squares = t;
    lastSeen[block] = i + 1;
  }
  const v = numBlocks - DICTIONARY_BLOCKS;
  const mean = sum / v;
  const sigma = 0.5907 * Math.sqrt(squares / (v - 1) - mean * mean);
  const meanBound = mean - (Z_ALPHA * sigma) / Math.sqrt(v);
  const { p, minEntropy } = compressionFromMeanBound(meanBound, numBlocks);
  return { minEntropy, detail: { mean, sigma, meanBound, p } };
}

/** Steps 7 and 8: the p whose expected statistic equals the bounded mean, or full entropy when there is none. */
export function compressionFromMeanBound(meanBound: number, numBlocks: number): { p: number; minEntropy: number } {
  const log2Table = log2Up(numBlocks);
  const expected = (p: number): number => expectedStatistic(p, numBlocks, log2Table);
  const uniform = 1 / ALPHABET;
  const p = expected(uniform) > meanBound ? solveDecreasing(expected, meanBound, uniform, 1, uniform) : -1;
  if (p > uniform) return { p, minEntropy: -Math.log2(p) / BLOCK_BITS };
  return { p: uniform, minEntropy: 1 };
}

function log2Up(n: number): Float64Array {
  const table = new Float64Array(n + 1);
  for (let i = 1; i <= n; i++) table[i] = Math.log2(i);
  return table;
}

/** E[statistic] for the near-uniform family: one symbol at p, the other 63 sharing the rest. */
function expectedStatistic(p: number, numBlocks: number, log2Table: Float64Array): number {
  const q = (1 - p) / (ALPHABET - 1);
  return gTerm(p, numBlocks, log2Table) + (ALPHABET - 1) * gTerm(q, numBlocks, log2Table);
}

/**
 * Below this the factor (1 - z)^i makes every further term of G smaller than 1e-280, far beneath the last digit of
 * the sums (which are at least 1e-3): the reference tool's loop goes on until the terms underflow to zero, but in
 * round-to-nearest the factor sticks at the smallest subnormal instead, and the remaining million subnormal
 * products change nothing but the time they take.
 */
const NEGLIGIBLE_FACTOR = 1e-300;

/**
 * G(z) of step 7, computed as in the reference tool: the inner sums share their terms (A_i accumulates, the sum of
 * sums is a weighted tail), and the loop stops once the terms are negligible.
 */
function gTerm(z: number, numBlocks: number, log2Table: Float64Array): number {
  const d = DICTIONARY_BLOCKS;
  const v = numBlocks - d;
  const decay = 1 - z;
  let a = 0;
  let aCarry = 0;
  let firstSum = 0;
  let firstCarry = 0;
  let b = decay;
  for (let i = 2; i <= d; i++) {
    const y = log2Table[i]! * b - aCarry;
    const t = a + y;
    aCarry = t - a - y;
    a = t;
    b *= decay;
  }
  const aAtD1 = a;
  let underflow = false;
  for (let i = d + 1; i <= numBlocks - 1; i++) {
    const term = log2Table[i]! * b;
    let y = term - aCarry;
    let t = a + y;
    aCarry = t - a - y;
    a = t;
    const scaled = (numBlocks - i) * term;
    if (!(scaled > 0) || b < NEGLIGIBLE_FACTOR) {
      underflow = true;
      break;
    }
    y = scaled - firstCarry;
    t = firstSum + y;
    firstCarry = t - firstSum - y;
    firstSum = t;
    b *= decay;
  }
  {
    const y = (numBlocks - d) * aAtD1 - firstCarry;
    const t = firstSum + y;
    firstCarry = t - firstSum - y;
    firstSum = t;
  }
  if (!underflow) {
    const y = log2Table[numBlocks]! * b - aCarry;
    a += y;
  }
  return (1 / v) * z * (z * firstSum + (a - aAtD1));
}
