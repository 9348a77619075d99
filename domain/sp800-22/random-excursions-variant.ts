import { minimumCycles, stateName, type RandomExcursionsOptions } from './random-excursions';
import { computed, formatCount, notApplicable, type TestResult } from './result';
import { erfc } from './special-functions';
import { walkSummary } from './walk';

const STATES = [-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9];

/**
 * SP 800-22 §2.15, the random excursions variant test: total visits ξ(x) to each state x = −9 … 9 over the whole walk,
 * against the number of cycles J. Statistic: ξ(x).
 */
export function randomExcursionsVariantTest(bits: Uint8Array, options: RandomExcursionsOptions = {}): TestResult[] {
  const n = bits.length;
  const notApplicableAll = (reason: string): TestResult[] =>
    STATES.map((x) => notApplicable('RandomExcursionsVariant', stateName(x), reason));
  if (n === 0) return notApplicableAll('the sequence is empty');

  // visits[x + 9]: visits to state x (returns to 0 at index 9).
  const { visits, final: walk } = walkSummary(bits);
  const zeros = visits[9]!;
  const cycles = walk === 0 ? zeros : zeros + 1;
  const required = options.minimumCycles ?? minimumCycles(n, true);
  if (cycles < required) {
    return notApplicableAll(`${formatCount(cycles)} cycles, fewer than the ${formatCount(Math.ceil(required))} required`);
  }
  return STATES.map((x) => {
    const count = visits[x + 9]!;
    const pValue = erfc(Math.abs(count - cycles) / Math.sqrt(2 * cycles * (4 * Math.abs(x) - 2)));
    return computed('RandomExcursionsVariant', stateName(x), pValue, count);
  });
}
