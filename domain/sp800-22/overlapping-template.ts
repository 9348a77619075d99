import { computed, formatCount, notApplicable, requireIntegerParameter, SINGLE, type TestResult } from './result';
import { igamc, logGamma } from './special-functions';

export const DEFAULT_OVERLAPPING_TEMPLATE_LENGTH = 9;
/** M and K as fixed by NIST STS 2.1.2. */
const BLOCK_LENGTH = 1032;
const DEGREES_OF_FREEDOM = 5;

/**
 * Probability of u overlapping matches of the all-ones template in a block, with η = λ/2 (SP 800-22 §3.8). NIST STS
 * 2.1.2 computes its class probabilities with this expression, overwriting the table it also declares, so the
 * published e result (0.110434) comes from these values.
 */
function matchProbability(u: number, eta: number): number {
  if (u === 0) return Math.exp(-eta);
  let sum = 0;
  for (let l = 1; l <= u; l++) {
    sum += Math.exp(-eta - u * Math.log(2) + l * Math.log(eta) - logGamma(l + 1) + logGamma(u) - logGamma(l) - logGamma(u - l + 1));
  }
  return sum;
}

/**
 * SP 800-22 §2.8, the overlapping template matching test with the template of m ones, in blocks of 1032 bits and
 * K = 5 classes (0, 1, 2, 3, 4, ≥ 5 matches). Statistic: χ²(obs).
 */
export function overlappingTemplateTest(bits: Uint8Array, templateLength = DEFAULT_OVERLAPPING_TEMPLATE_LENGTH): TestResult {
  const n = bits.length;
  const m = requireIntegerParameter('OverlappingTemplate template length m', templateLength, 2, 21);
  const blocks = Math.floor(n / BLOCK_LENGTH);
  if (blocks < 1) {
    return notApplicable('OverlappingTemplate', SINGLE, `needs one block of ${formatCount(BLOCK_LENGTH)} bits; the sequence has ${formatCount(n)}`);
  }
  const lambda = (BLOCK_LENGTH - m + 1) / 2 ** m;
  const eta = lambda / 2;
  const probabilities = new Array<number>(DEGREES_OF_FREEDOM + 1);
  let sum = 0;
  for (let u = 0; u < DEGREES_OF_FREEDOM; u++) {
    probabilities[u] = matchProbability(u, eta);
    sum += probabilities[u]!;
  }
  probabilities[DEGREES_OF_FREEDOM] = 1 - sum;

  const frequencies = new Array<number>(DEGREES_OF_FREEDOM + 1).fill(0);
  for (let block = 0; block < blocks; block++) {
    // A window of m ones ends at every position where the current run of ones has reached m.
    let run = 0;
    let matches = 0;
    const start = block * BLOCK_LENGTH;
    for (let i = start, end = start + BLOCK_LENGTH; i < end; i++) {
      run = (run + 1) * bits[i]!;
      // 1 exactly when run ≥ m, without a branch on random data.
      matches += (m - 1 - run) >>> 31;
    }
    frequencies[Math.min(matches, DEGREES_OF_FREEDOM)]!++;
  }
  let chiSquared = 0;
  for (let i = 0; i <= DEGREES_OF_FREEDOM; i++) {
    const expected = blocks * probabilities[i]!;
    chiSquared += (frequencies[i]! - expected) ** 2 / expected;
  }
  return computed('OverlappingTemplate', SINGLE, igamc(DEGREES_OF_FREEDOM / 2, chiSquared / 2), chiSquared);
}
