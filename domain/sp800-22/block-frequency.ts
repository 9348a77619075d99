import { countOnes } from './bits';
import { computed, formatCount, notApplicable, requireIntegerParameter, SINGLE, type TestResult } from './result';
import { igamc } from './special-functions';

export const DEFAULT_BLOCK_FREQUENCY_LENGTH = 128;

/** SP 800-22 §2.2, the frequency test within blocks of M bits; the bits after the last whole block are discarded. */
export function blockFrequencyTest(bits: Uint8Array, blockLength = DEFAULT_BLOCK_FREQUENCY_LENGTH): TestResult {
  requireIntegerParameter('BlockFrequency block length M', blockLength, 1, 1e9);
  const n = bits.length;
  const blocks = Math.floor(n / blockLength);
  if (blocks < 1) {
    return notApplicable('BlockFrequency', SINGLE, `needs one block of ${formatCount(blockLength)} bits; the sequence has ${formatCount(n)}`);
  }
  let sum = 0;
  for (let i = 0; i < blocks; i++) {
    const deviation = countOnes(bits, i * blockLength, (i + 1) * blockLength) / blockLength - 0.5;
    sum += deviation * deviation;
  }
  const chiSquared = 4 * blockLength * sum;
  return computed('BlockFrequency', SINGLE, igamc(blocks / 2, chiSquared / 2), chiSquared);
}
