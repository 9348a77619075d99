import { countOnes } from './bits';
import { computed, notApplicable, SINGLE, type TestResult } from './result';
import { erfc } from './special-functions';

/** SP 800-22 §2.1, the frequency (monobit) test. Statistic: s_obs = |S_n|/√n. */
export function frequencyTest(bits: Uint8Array): TestResult {
  const n = bits.length;
  if (n === 0) return notApplicable('Frequency', SINGLE, 'the sequence is empty');
  const sum = 2 * countOnes(bits) - n;
  const sObs = Math.abs(sum) / Math.sqrt(n);
  return computed('Frequency', SINGLE, erfc(sObs / Math.SQRT2), sObs);
}
