/**
 * The special functions behind the p-values. NIST STS 2.1.2 evaluates them with Cephes (igamc, lgam) and the C
 * library (erf, erfc); both are accurate to a few units in the last place, and so are these, so p-values agree with the
 * reference to far better than the six decimals it prints. The incomplete gamma function keeps Cephes' split between
 * the power series and the continued fraction and its cut-offs (1 below a or x ≤ 0, 0 on underflow).
 */

/** 2^-53: the reference iterates its series until a term changes the sum by less than this. */
const MACHINE_EPSILON = 1.1102230246251565e-16;
/** log of the largest double: a smaller prefactor underflows and Cephes returns 0. */
const MAX_LOG = 709.782712893384;
const TINY = 1e-300;
const HALF_LOG_TWO_PI = 0.9189385332046728;
const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;
/** Below this erfc comes from 1 − erf, above it from the continued fraction: each is fully accurate on its side. */
const ERFC_SPLIT = 2.5;
/** erfc(27.3) is below the smallest subnormal double. */
const ERFC_UNDERFLOW = 27.3;
/** Enough for the slowest case we reach (a ≈ x ≈ 2^20, where convergence takes about √a steps). */
const MAX_ITERATIONS = 100_000;

/**
 * ln Γ(x) for x > 0. Shifts x up to at least 15, where the Stirling series truncated after the x^-13 term is exact to
 * double precision, and divides the shift back out.
 */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`logGamma is defined here for x > 0, got ${x}`);
  let y = x;
  let shift = 1;
  while (y < 15) {
    shift *= y;
    y += 1;
  }
  const inverse = 1 / y;
  const inverseSquared = inverse * inverse;
  const series =
    inverse *
    (1 / 12 +
      inverseSquared *
        (-1 / 360 +
          inverseSquared *
            (1 / 1260 + inverseSquared * (-1 / 1680 + inverseSquared * (1 / 1188 + inverseSquared * (-691 / 360360 + inverseSquared / 156))))));
  return (y - 0.5) * Math.log(y) - y + HALF_LOG_TWO_PI + series - Math.log(shift);
}

/** x^a e^-x / Γ(a) in log form; undefined (null) when it underflows, as Cephes treats it. */
function logPrefactor(a: number, x: number): number | null {
  const value = a * Math.log(x) - x - logGamma(a);
  return value < -MAX_LOG ? null : value;
}

/** The regularised lower incomplete gamma function P(a, x). */
export function igam(a: number, x: number): number {
  if (x <= 0 || a <= 0) return 0;
  if (x > 1 && x > a) return 1 - igamc(a, x);
  const log = logPrefactor(a, x);
  if (log === null) return 0;
  let denominator = a;
  let term = 1;
  let sum = 1;
  for (let i = 0; i < MAX_ITERATIONS && term / sum > MACHINE_EPSILON; i++) {
    denominator += 1;
    term *= x / denominator;
    sum += term;
  }
  return (sum * Math.exp(log)) / a;
}

/** The regularised upper incomplete gamma function Q(a, x) = 1 − P(a, x): the χ² tail the tests use. */
export function igamc(a: number, x: number): number {
  if (x <= 0 || a <= 0) return 1;
  if (x < 1 || x < a) return 1 - igam(a, x);
  const log = logPrefactor(a, x);
  if (log === null) return 0;
  // Legendre's continued fraction Q = prefactor / (x + 1 − a − 1·(1 − a)/(x + 3 − a − 2·(2 − a)/(x + 5 − a − …))),
  // its value taken as 1/b₀ from the start.
  let b = x + 1 - a;
  const fraction = lentz(1 / b, 1 / TINY, 1 / b, (i) => -i * (i - a), () => (b += 2));
  return Math.exp(log) * fraction;
}

/**
 * The modified Lentz method: multiplies `value` by the ratio each further term a_i / (b_i + …) makes, from the state
 * (c, d) after the leading terms, until a step changes it by less than the reference's epsilon. `denominator` is
 * called once per term, in order.
 */
function lentz(value: number, c: number, d: number, numerator: (i: number) => number, denominator: (i: number) => number): number {
  for (let i = 1; i <= MAX_ITERATIONS; i++) {
    const an = numerator(i);
    const bn = denominator(i);
    d = an * d + bn;
    if (Math.abs(d) < TINY) d = TINY;
    c = bn + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = c * d;
    value *= delta;
    if (Math.abs(delta - 1) <= MACHINE_EPSILON) break;
  }
  return value;
}

/** erf(x) = 2/√π e^{-x²} Σ 2^k x^{2k+1} / (2k+1)!!: every term has the sign of x, so the sum loses nothing to cancellation. */
function erfSeries(x: number): number {
  const xSquared = x * x;
  let term = x;
  let sum = x;
  for (let k = 1; Math.abs(term) > Math.abs(sum) * 1e-17; k++) {
    term *= (2 * xSquared) / (2 * k + 1);
    sum += term;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-xSquared) * sum;
}

/** erfc(x) for x ≥ ERFC_SPLIT: e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by the modified Lentz method. */
function erfcContinuedFraction(x: number): number {
  if (x >= ERFC_UNDERFLOW) return 0;
  const fraction = lentz(x, x, 0, (i) => i / 2, () => x);
  return (ONE_OVER_SQRT_PI * Math.exp(-x * x)) / fraction;
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (Math.abs(x) < ERFC_SPLIT) return erfSeries(x);
  return x > 0 ? 1 - erfcContinuedFraction(x) : erfcContinuedFraction(-x) - 1;
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return 2 - erfc(-x);
  return x < ERFC_SPLIT ? 1 - erfSeries(x) : erfcContinuedFraction(x);
}

/** Φ(x), the standard normal distribution function, written as STS's cephes_normal writes it. */
export function standardNormalCdf(x: number): number {
  return 0.5 * (1 + erf(x / Math.SQRT2));
}
