import { computed, notApplicable, type TestResult } from './result';
import { standardNormalCdf } from './special-functions';
import { walkSummary } from './walk';

/**
 * P-value of the cumulative sums test for a maximal excursion z of a walk of n steps, SP 800-22 §2.13.4 step 4. The
 * summation bounds use C's integer division, which truncates toward zero, as NIST STS computes them.
 */
function cumulativeSumsPValue(n: number, z: number): number {
  const sqrtN = Math.sqrt(n);
  const nOverZ = Math.trunc(n / z);
  let sum1 = 0;
  for (let k = Math.trunc((1 - nOverZ) / 4); k <= Math.trunc((nOverZ - 1) / 4); k++) {
    sum1 += standardNormalCdf(((4 * k + 1) * z) / sqrtN);
    sum1 -= standardNormalCdf(((4 * k - 1) * z) / sqrtN);
  }
  let sum2 = 0;
  for (let k = Math.trunc((-3 - nOverZ) / 4); k <= Math.trunc((nOverZ - 1) / 4); k++) {
    sum2 += standardNormalCdf(((4 * k + 3) * z) / sqrtN);
    sum2 -= standardNormalCdf(((4 * k + 1) * z) / sqrtN);
  }
  return 1 - sum1 + sum2;
}

/**
 * SP 800-22 §2.13, the cumulative sums test, forward and reverse. Statistic: the largest excursion z of the ±1 walk
 * from its start (forward) or from its end (reverse).
 */
export function cumulativeSumsTest(bits: Uint8Array): TestResult[] {
  const n = bits.length;
  if (n === 0) {
    return [notApplicable('CumulativeSums', 'forward', 'the sequence is empty'), notApplicable('CumulativeSums', 'reverse', 'the sequence is empty')];
  }
  const { final: sum, highest, lowest } = walkSummary(bits);
  const forward = Math.max(highest, -lowest);
  const reverse = Math.max(highest - sum, sum - lowest);
  return [
    computed('CumulativeSums', 'forward', cumulativeSumsPValue(n, forward), forward),
    computed('CumulativeSums', 'reverse', cumulativeSumsPValue(n, reverse), reverse),
  ];
}
