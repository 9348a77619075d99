import { computed, formatCount, notApplicable, type TestResult } from './result';
import { igamc } from './special-functions';
import { walkSummary } from './walk';

const STATES = [-4, -3, -2, -1, 1, 2, 3, 4];
/** π_k(x) for k = 0 … 5 visits (the last class is ≥ 5), indexed by |x|, as tabulated in NIST STS 2.1.2. */
const PROBABILITIES: ReadonlyArray<readonly number[]> = [
  [0, 0, 0, 0, 0, 0],
  [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.03125],
  [0.75, 0.0625, 0.046875, 0.03515625, 0.0263671875, 0.0791015625],
  [0.8333333333, 0.02777777778, 0.02314814815, 0.01929012346, 0.01607510288, 0.0803755143],
  [0.875, 0.015625, 0.013671875, 0.01196289063, 0.0104675293, 0.0732727051],
];

export function stateName(x: number): string {
  return `x=${x}`;
}

/**
 * The rule SP 800-22 rev1a §2.14.7 and NIST STS apply before the random excursion tests: a sequence with fewer than
 * max(0.005·√n, 500) cycles is not tested. `truncate` mirrors the variant test, which casts the bound to int first.
 */
export function minimumCycles(n: number, truncate: boolean): number {
  const bound = Math.max(0.005 * Math.sqrt(n), 500);
  return truncate ? Math.trunc(bound) : bound;
}

export interface RandomExcursionsOptions {
  /** Override the minimum number of cycles (for the §2.14.4 example, which has 3). */
  minimumCycles?: number;
}

/**
 * SP 800-22 §2.14, the random excursions test: the ±1 walk is cut into cycles at its returns to 0 (a walk that does not
 * end at 0 has a final, unfinished cycle), and for each state x = −4 … 4 the cycles are classed by their number of
 * visits to x. Statistic: χ²(obs) per state. NIST STS also gives up when the walk returns to 0 more than
 * max(1000, ⌊n/100⌋) times, the size of its cycle table; that is kept as a second applicability rule.
 */
export function randomExcursionsTest(bits: Uint8Array, options: RandomExcursionsOptions = {}): TestResult[] {
  const n = bits.length;
  const notApplicableAll = (reason: string): TestResult[] =>
    STATES.map((x) => notApplicable('RandomExcursions', stateName(x), reason));
  if (n === 0) return notApplicableAll('the sequence is empty');

  const summary = walkSummary(bits);
  const zeros = summary.visits[9]!;
  const walk = summary.final;
  const cycles = walk === 0 ? zeros : zeros + 1;
  const cycleTable = Math.max(1000, Math.floor(n / 100));
  if (zeros > cycleTable) {
    return notApplicableAll(`the walk returns to 0 ${formatCount(zeros)} times, more than the ${formatCount(cycleTable)} NIST STS allows for`);
  }
  const required = options.minimumCycles ?? minimumCycles(n, false);
  if (cycles < required) {
    return notApplicableAll(`${formatCount(cycles)} cycles, fewer than the ${formatCount(Math.ceil(required))} required`);
  }

  // classes[k * 8 + s]: cycles with k visits (k = 5 meaning ≥ 5) to STATES[s].
  const classes = summary.classes;

  return STATES.map((x, s) => {
    const probabilities = PROBABILITIES[Math.abs(x)]!;
    let chiSquared = 0;
    for (let k = 0; k < 6; k++) {
      const expected = cycles * probabilities[k]!;
      chiSquared += (classes[k * STATES.length + s]! - expected) ** 2 / expected;
    }
    return computed('RandomExcursions', stateName(x), igamc(2.5, chiSquared / 2), chiSquared);
  });
}
