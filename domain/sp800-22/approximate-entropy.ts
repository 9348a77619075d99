import { circularPatternCounts, dropLastBit } from './bits';
import { computed, notApplicable, requireIntegerParameter, SINGLE, type TestResult } from './result';
import { igamc } from './special-functions';

export const DEFAULT_APPROXIMATE_ENTROPY_LENGTH = 10;

/** φ^(m) = Σ π_i ln π_i over the m-bit patterns, in pattern order as NIST STS sums it. */
function phi(counts: Uint32Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i]!;
    if (count > 0) sum += count * Math.log(count / n);
  }
  return sum / n;
}

/** SP 800-22 §2.12, the approximate entropy test on the sequence read as a circle. Statistic: χ²(obs). */
export function approximateEntropyTest(bits: Uint8Array, blockLength = DEFAULT_APPROXIMATE_ENTROPY_LENGTH): TestResult {
  requireIntegerParameter('ApproximateEntropy block length m', blockLength, 1, 20);
  const n = bits.length;
  if (n === 0) return notApplicable('ApproximateEntropy', SINGLE, 'the sequence is empty');
  const m = blockLength;
  const longer = circularPatternCounts(bits, m + 1);
  const apEn = phi(dropLastBit(longer), n) - phi(longer, n);
  const chiSquared = 2 * n * (Math.log(2) - apEn);
  return computed('ApproximateEntropy', SINGLE, igamc(2 ** (m - 1), chiSquared / 2), chiSquared);
}
