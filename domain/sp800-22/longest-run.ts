import { packedBits } from './packed';
import { computed, formatCount, notApplicable, SINGLE, type TestResult } from './result';
import { igamc } from './special-functions';

interface LongestRunParameters {
  /** M, the block length. */
  blockLength: number;
  /** The run lengths of the categories: the first also takes every shorter run, the last every longer one. */
  categories: number[];
  /** The probability of each category, as NIST STS 2.1.2 tabulates them (§3.4). */
  probabilities: number[];
}

/** SP 800-22 §2.4.2: M follows from n, with the category bounds and probabilities of §3.4. */
function parametersFor(n: number): LongestRunParameters {
  if (n < 6272) {
    return { blockLength: 8, categories: [1, 2, 3, 4], probabilities: [0.21484375, 0.3671875, 0.23046875, 0.1875] };
  }
  if (n < 750000) {
    return {
      blockLength: 128,
      categories: [4, 5, 6, 7, 8, 9],
      probabilities: [0.1174035788, 0.242955959, 0.249363483, 0.17517706, 0.102701071, 0.112398847],
    };
  }
  return {
    blockLength: 10000,
    categories: [10, 11, 12, 13, 14, 15, 16],
    probabilities: [0.0882, 0.2092, 0.2483, 0.1933, 0.1208, 0.0675, 0.0727],
  };
}

export const LONGEST_RUN_MIN_BITS = 128;

/** Per byte read most significant bit first: the ones it starts with, ends with, and its longest run of ones. */
const LEADING_ONES = new Uint8Array(256);
const TRAILING_ONES = new Uint8Array(256);
const LONGEST_ONES = new Uint8Array(256);
for (let byte = 0; byte < 256; byte++) {
  let run = 0;
  for (let j = 7; j >= 0; j--) {
    run = (byte >>> j) & 1 ? run + 1 : 0;
    if (run > LONGEST_ONES[byte]!) LONGEST_ONES[byte] = run;
    if (run === 8 - j) LEADING_ONES[byte] = run;
  }
  TRAILING_ONES[byte] = run;
}

/** SP 800-22 §2.4, the test for the longest run of ones in a block. Statistic: χ²(obs). */
export function longestRunTest(bits: Uint8Array): TestResult {
  const n = bits.length;
  if (n < LONGEST_RUN_MIN_BITS) {
    return notApplicable('LongestRun', SINGLE, `needs at least ${LONGEST_RUN_MIN_BITS} bits; the sequence has ${formatCount(n)}`);
  }
  const { blockLength, categories, probabilities } = parametersFor(n);
  const last = categories.length - 1;
  const shortest = categories[0]!;
  const longest = categories[last]!;
  const frequencies = new Array<number>(categories.length).fill(0);
  const blocks = Math.floor(n / blockLength);
  const words = packedBits(bits).words;
  for (let block = 0; block < blocks; block++) {
    let run = 0;
    let longestRun = 0;
    // Every M of NIST STS is a whole number of bytes: a byte at a time, through its leading, trailing and longest runs.
    for (let q = (block * blockLength) >>> 3, end = q + (blockLength >>> 3); q < end; q++) {
      const byte = (words[q >>> 2]! >>> (24 - 8 * (q & 3))) & 255;
      if (byte === 255) {
        run += 8;
        continue;
      }
      const longestHere = Math.max(run + LEADING_ONES[byte]!, LONGEST_ONES[byte]!);
      if (longestHere > longestRun) longestRun = longestHere;
      run = TRAILING_ONES[byte]!;
    }
    if (run > longestRun) longestRun = run;
    const category = longestRun <= shortest ? 0 : longestRun >= longest ? last : longestRun - shortest;
    frequencies[category]!++;
  }
  let chiSquared = 0;
  for (let i = 0; i <= last; i++) {
    const expected = blocks * probabilities[i]!;
    chiSquared += ((frequencies[i]! - expected) * (frequencies[i]! - expected)) / expected;
  }
  return computed('LongestRun', SINGLE, igamc(last / 2, chiSquared / 2), chiSquared);
}
