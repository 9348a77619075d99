/**
 * Numerical pieces shared by the SP 800-90B estimators. The constants and the root finder follow NIST's reference
 * tool (SP800-90B_EntropyAssessment, cpp/shared/utils.h) so that estimates agree with ea_non_iid beyond the text of
 * the standard, which leaves solver tolerances open.
 */

/** The 0.995 quantile of the standard normal distribution, to the digits the reference tool uses ("2.576"). */
export const Z_ALPHA = 2.5758293035489008;

const DBL_MIN = 2.2250738585072014e-308;
/** The reference tool's iteration cap: enough halvings to exhaust a double's range. */
const SOLVER_ITERATIONS = 1076;

/** Upper bound of the 99% confidence interval of a proportion `p` observed over `n` trials, capped at 1. */
export function proportionUpperBound(p: number, n: number): number {
  return Math.min(1, p + Z_ALPHA * Math.sqrt((p * (1 - p)) / (n - 1)));
}

const ulpScratch = new Float64Array(2);
const ulpBits = new BigUint64Array(ulpScratch.buffer);

/**
 * Whether two doubles are equal up to a relative tolerance, falling back to an absolute one where a relative
 * comparison means nothing, and finally to a distance in units in the last place.
 */
export function nearlyEqual(a: number, b: number, maxAbs: number, maxRel: number, maxUlps: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return false;
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  let small = a;
  let large = b;
  if (Math.abs(small) > Math.abs(large)) [small, large] = [large, small];
  const absSmall = Math.abs(small);
  const absLarge = Math.abs(large);
  const diff = Math.abs(large - small);
  if (absSmall < DBL_MIN || diff < DBL_MIN || !Number.isFinite(diff) || absLarge * maxRel < DBL_MIN) return diff <= maxAbs;
  if (diff <= absLarge * maxRel) return true;
  if (Math.sign(small) !== Math.sign(large)) return false;
  ulpScratch[0] = absSmall;
  ulpScratch[1] = absLarge;
  return ulpBits[1]! - ulpBits[0]! <= BigInt(maxUlps);
}

function inClosed(x: number, a: number, b: number): boolean {
  return a > b ? x >= b && x <= a : x >= a && x <= b;
}

function inOpen(x: number, a: number, b: number): boolean {
  return a > b ? x > b && x < a : x > a && x < b;
}

/**
 * Finds p in [low, high] where the decreasing function `f` reaches `target`, by bisection with the reference tool's
 * stopping rules (4 ULPs, cycle detection, monotonicity checks). `onSearchFailure` is returned when the target
 * lies outside the function's range; each estimator names its own conservative answer for that case.
 */
export function solveDecreasing(
  f: (p: number) => number,
  target: number,
  low: number,
  high: number,
  onSearchFailure: number,
): number {
  let lbound = low;
  let hbound = high;
  let lvalue = Number.POSITIVE_INFINITY;
  let hvalue = Number.NEGATIVE_INFINITY;
  let p = (lbound + hbound) / 2;
  let value = f(p);
  for (let iteration = 0; iteration < SOLVER_ITERATIONS; iteration++) {
    if (nearlyEqual(value, target, DBL_MIN, Number.EPSILON, 4)) break;
    if (target < value) {
      lbound = p;
      lvalue = value;
    } else {
      hbound = p;
      hvalue = value;
    }
    if (lbound >= hbound) {
      p = Math.min(Math.max(lbound, hbound), high);
      break;
    }
    if (!(inClosed(lbound, low, high) && inClosed(hbound, low, high)) || !inClosed(target, lvalue, hvalue)) {
      p = onSearchFailure;
      break;
    }
    const lastP = p;
    p = (lbound + hbound) / 2;
    if (!inOpen(p, lbound, hbound) || lastP === p) {
      p = hbound;
      break;
    }
    value = f(p);
    if (!inClosed(value, lvalue, hvalue)) {
      p = hbound;
      break;
    }
  }
  return p;
}
