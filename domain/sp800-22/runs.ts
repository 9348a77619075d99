import { packedBits, popcount } from './packed';
import { countOnes } from './bits';
import { computed, notApplicable, SINGLE, type TestResult } from './result';
import { erfc } from './special-functions';

/** SP 800-22 §2.3, the runs test. Statistic: V_n(obs), the number of runs. */
export function runsTest(bits: Uint8Array): TestResult {
  const n = bits.length;
  if (n === 0) return notApplicable('Runs', SINGLE, 'the sequence is empty');
  const pi = countOnes(bits) / n;
  if (Math.abs(pi - 0.5) > 2 / Math.sqrt(n)) {
    // §2.3.4 step 2: the frequency prerequisite fails, so the test is not run; NIST STS then reports a p-value of 0.
    return {
      test: 'Runs',
      subtest: SINGLE,
      pValue: 0,
      statistic: null,
      reason: `the frequency prerequisite failed (|π − 1/2| = ${Math.abs(pi - 0.5).toFixed(6)} > 2/√n), so the p-value is 0 as in NIST STS`,
    };
  }
  // A run starts at every change of bit: inside a packed word, the bits set in w ^ (w << 1) but its last; between
  // words, the last bit of one against the first of the next.
  const words = packedBits(bits).words;
  const whole = n >>> 5;
  let runs = 1;
  for (let t = 0; t < whole; t++) {
    const w = words[t]!;
    runs += popcount((w ^ (w << 1)) & ~1);
    if (32 * t + 32 < n) runs += (w ^ (words[t + 1]! >>> 31)) & 1;
  }
  for (let k = Math.max(1, whole * 32 + 1); k < n; k++) runs += bits[k]! ^ bits[k - 1]!;
  const argument = Math.abs(runs - 2 * n * pi * (1 - pi)) / (2 * pi * (1 - pi) * Math.sqrt(2 * n));
  return computed('Runs', SINGLE, erfc(argument), runs);
}
