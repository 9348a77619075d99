import { UserError } from '../errors';
import { erfc, logGamma } from '../sp800-22/special-functions';
import { type SeasonalProfile, seasonalProfile, seasonalProfileForecast } from './baseline';
import { holdsWholeCounts, HOUR_MS, HOURS_PER_DAY, HOURS_PER_WEEK, type HourlySeries, hourOfWeek, median, timestampAt } from './series';

/** Keys whose expected use is below this many operations an hour are judged by a count distribution. */
export const SPARSE_ANOMALY_LEVEL = 10;
/** The chance, per evaluated window, of flagging an hour of a key that behaves as usual. */
export const DEFAULT_ANOMALY_ALPHA = 1e-3;
/** Expected use never counts as less than one operation a week, so a silent key's first use is not infinitely surprising. */
const MIN_EXPECTED = 1 / HOURS_PER_WEEK;
/** Normal quantiles are precise enough for a count interval once the mean is this large. */
const NORMAL_APPROXIMATION_MEAN = 50;
const MAX_TAIL_TERMS = 100_000;
/** A dense key's expectation follows its level over the half day before each hour (see trailingLevel). */
const LEVEL_HOURS = 12;

// ---------------------------------------------------------------------------------------------------------------------
// Count distributions: negative binomial with mean μ and variance φ·μ (φ = dispersion ≥ 1; φ = 1 is Poisson).

function nbShape(mean: number, dispersion: number): { poisson: boolean; r: number; q: number } {
  if (dispersion <= 1 + 1e-9) return { poisson: true, r: Infinity, q: 0 };
  const r = mean / (dispersion - 1);
  return { poisson: false, r, q: (dispersion - 1) / dispersion };
}

function logPmf(k: number, mean: number, dispersion: number): number {
  const { poisson, r, q } = nbShape(mean, dispersion);
  if (poisson) return k * Math.log(mean) - mean - logGamma(k + 1);
  return logGamma(k + r) - logGamma(r) - logGamma(k + 1) + r * Math.log(1 - q) + k * Math.log(q);
}

/** pmf(k + 1) / pmf(k). */
function pmfRatio(k: number, mean: number, dispersion: number): number {
  const { poisson, r, q } = nbShape(mean, dispersion);
  return poisson ? mean / (k + 1) : ((k + r) / (k + 1)) * q;
}

/** P(X ≥ x), summed from x upward (no cancellation, so tiny tails keep their precision). */
export function countUpperTail(x: number, mean: number, dispersion = 1): number {
  if (x <= 0) return 1;
  if (mean <= 0) return 0;
  if (x <= mean) return 1 - countLowerTail(Math.ceil(x) - 1, mean, dispersion);
  let k = Math.ceil(x);
  let term = Math.exp(logPmf(k, mean, dispersion));
  let sum = term;
  for (let i = 0; i < MAX_TAIL_TERMS && term > sum * 1e-17; i++) {
    term *= pmfRatio(k, mean, dispersion);
    k++;
    sum += term;
  }
  return Math.min(1, sum);
}

/** P(X ≤ x), summed from x downward. */
export function countLowerTail(x: number, mean: number, dispersion = 1): number {
  if (x < 0) return 0;
  if (mean <= 0) return 1;
  if (x >= mean) return 1 - countUpperTail(Math.floor(x) + 1, mean, dispersion);
  let k = Math.floor(x);
  let term = Math.exp(logPmf(k, mean, dispersion));
  let sum = term;
  while (k > 0 && term > sum * 1e-17) {
    term /= pmfRatio(k - 1, mean, dispersion);
    k--;
    sum += term;
  }
  return Math.min(1, sum);
}

/**
 * The smallest count whose distribution function reaches p. Above a mean of 50 the normal approximation with the same
 * variance is used (rounded to a whole count), which is within a count or two there and avoids long sums.
 */
export function negativeBinomialQuantile(mean: number, dispersion: number, p: number): number {
  if (!(mean > 0)) return 0;
  if (mean >= NORMAL_APPROXIMATION_MEAN) return Math.max(0, Math.round(mean + inverseStandardNormal(p) * Math.sqrt(dispersion * mean)));
  let k = 0;
  let term = Math.exp(logPmf(0, mean, dispersion));
  let cumulative = term;
  // The tolerance keeps a distribution function that reaches p exactly from missing it by a rounding error.
  while (cumulative < p - 1e-12 && k < MAX_TAIL_TERMS) {
    term *= pmfRatio(k, mean, dispersion);
    k++;
    cumulative += term;
  }
  return k;
}

/** Acklam's rational approximation of Φ⁻¹ (relative error below 1.2e-9). */
export function inverseStandardNormal(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`inverseStandardNormal needs 0 < p < 1, got ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  const poly = (coefficients: number[], x: number): number => coefficients.reduce((sum, coefficient) => sum * x + coefficient, 0);
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -poly(c, q) / (poly(d, q) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

// ---------------------------------------------------------------------------------------------------------------------
// Anomaly detection.

export interface AnomalyOptions {
  /** The latest hours to judge; default 24. */
  windowHours?: number;
  /** Chance per window of flagging an hour of a key that behaves as usual (Bonferroni over the window); default 0.001. */
  alpha?: number;
  /**
   * The last hour of the series is still running: its count so far can show a spike (it will only grow) but not a
   * drop, so it is judged for spikes only.
   */
  lastHourPartial?: boolean;
}

export interface FlaggedHour {
  /** Start of the hour, ISO 8601 UTC. */
  at: string;
  /** Index of the hour in the series. */
  index: number;
  observed: number;
  expected: number;
  direction: 'spike' | 'drop';
  /** One-sided probability of a count at least this far from the expectation, under the noise model. */
  pValue: number;
}

export interface AnomalyReport {
  /** 0 (nothing unusual) – 1 (far beyond chance); 0.5 where an hour is just flagged. */
  score: number;
  noiseModel: 'negative-binomial' | 'robust-z';
  /** Negative binomial: variance / mean. Robust z: the robust scale (1.4826 · MAD) of the residuals / √expected. */
  noiseParameter: number;
  evaluatedHours: number;
  /** The smallest one-sided p-value in the window. */
  minPValue: number;
  flagged: FlaggedHour[];
}

/**
 * Judges the last `windowHours` of a series against its seasonal expectation: the seasonal profile (see
 * seasonalProfile) estimated on the history before the window, so an anomaly cannot hide by raising its own
 * expectation.
 *
 * The noise model follows the counts. Sparse keys (whole counts, median expected use in the window below
 * SPARSE_ANOMALY_LEVEL an hour): a negative-binomial tail probability, whose dispersion is fitted by moments to the week
 * before the window (judged by a profile estimated before that week), leaving out the hours it would flag and the
 * largest 1% of squared residuals, so that an earlier incident does not widen it (see fitDispersion). Dense keys: the
 * profile at the key's level over the twelve hours before each hour (see trailingLevel), and a robust z-score of the
 * residuals divided by √expected (which steadies Poisson-like noise across busy and quiet hours), scaled by the median
 * absolute deviation of the same residuals in that week, computed the same way.
 *
 * An hour is flagged when its one-sided p-value is below alpha / windowHours. The score is
 * −log10(min p × windowHours) / (2 · −log10 alpha), clipped to 0–1: 0.5 at the flagging line, 1 at its square.
 */
export function detectAnomalies(series: HourlySeries, options: AnomalyOptions = {}): AnomalyReport {
  const windowHours = options.windowHours ?? HOURS_PER_DAY;
  const alpha = options.alpha ?? DEFAULT_ANOMALY_ALPHA;
  const partialLast = options.lastHourPartial ?? false;
  if (!Number.isSafeInteger(windowHours) || windowHours < 1) throw new UserError('invalid_anomaly_options', 'windowHours must be a whole number of at least 1');
  if (!(alpha > 0 && alpha < 1)) throw new UserError('invalid_anomaly_options', 'alpha must be between 0 and 1');
  const counts = series.counts;
  const windowStart = counts.length - windowHours;
  if (windowStart < HOURS_PER_DAY) {
    throw new UserError('insufficient_history', `anomaly detection needs ${HOURS_PER_DAY} hours of history before the ${windowHours} judged, got ${Math.max(0, windowStart)}`);
  }
  const profile = seasonalProfile(series, windowStart);
  const seasonal = seasonalProfileForecast(series, windowStart, windowHours, profile).map((value) => Math.max(value, MIN_EXPECTED));
  const sparse = median(seasonal) < SPARSE_ANOMALY_LEVEL && holdsWholeCounts(counts, windowStart - 4 * HOURS_PER_WEEK, counts.length);
  const expected = sparse ? seasonal : seasonal.map((value, h) => value * trailingLevel(series, profile, windowStart + h));
  const calibration = calibrationResiduals(series, windowStart, !sparse);

  const pValues: { p: number; direction: 'spike' | 'drop' }[] = [];
  let noiseParameter: number;
  if (sparse) {
    noiseParameter = fitDispersion(calibration, alpha / windowHours);
    for (let h = 0; h < windowHours; h++) {
      const observed = counts[windowStart + h]!;
      const mu = expected[h]!;
      const spike = countUpperTail(observed, mu, noiseParameter);
      const drop = countLowerTail(observed, mu, noiseParameter);
      pValues.push(observed >= mu ? { p: spike, direction: 'spike' } : { p: partialLast && h === windowHours - 1 ? 1 : drop, direction: 'drop' });
    }
  } else {
    const scaled = calibration.map(({ actual, predicted }) => (actual - predicted) / Math.sqrt(Math.max(predicted, 1)));
    const center = median(scaled);
    const mad = median(scaled.map((value) => Math.abs(value - center)));
    // A residual spread of zero (a perfectly regular key) would make any deviation infinitely surprising: the spread
    // is floored at that of Poisson noise in the same units (1).
    noiseParameter = Math.max(1.4826 * mad, 1);
    for (let h = 0; h < windowHours; h++) {
      const observed = counts[windowStart + h]!;
      const mu = expected[h]!;
      const z = ((observed - mu) / Math.sqrt(Math.max(mu, 1)) - center) / noiseParameter;
      const ignoredDrop = z < 0 && partialLast && h === windowHours - 1;
      pValues.push({ p: ignoredDrop ? 1 : 0.5 * erfc(Math.abs(z) / Math.SQRT2), direction: z >= 0 ? 'spike' : 'drop' });
    }
  }

  const threshold = alpha / windowHours;
  const flagged: FlaggedHour[] = [];
  let minPValue = 1;
  pValues.forEach(({ p, direction }, h) => {
    minPValue = Math.min(minPValue, p);
    if (p < threshold) {
      const index = windowStart + h;
      flagged.push({ at: new Date(series.startMs + index * HOUR_MS).toISOString(), index, observed: counts[index]!, expected: expected[h]!, direction, pValue: p });
    }
  });
  const surprise = -Math.log10(Math.max(minPValue * windowHours, Number.MIN_VALUE));
  const score = Math.min(1, Math.max(0, surprise / (2 * -Math.log10(alpha))));
  return { score, noiseModel: sparse ? 'negative-binomial' : 'robust-z', noiseParameter, evaluatedHours: windowHours, minPValue, flagged };
}

interface Residual {
  actual: number;
  predicted: number;
}

/** Rounds of refitting; the fit settles in two or three. */
const DISPERSION_FIT_ROUNDS = 6;

/**
 * The negative-binomial dispersion (variance / mean, at least 1) of the calibration hours, by moments: the mean of the
 * Pearson residuals (actual − predicted)² / predicted, the largest 1% left out. An hour the fit would flag (upper tail
 * below `flagLine`) is left out too: an earlier incident is what the detector looks for, not noise, and one spike of
 * nine operations over an expectation of half a one adds 0.9 to a week's mean Pearson residual, which let the next
 * spikes of that size pass as noise. The first round judges with Poisson noise (dispersion 1), because a dispersion
 * widened by the spikes would not flag them; each later round judges with the previous fit, so that the hours of a
 * key that is truly overdispersed come back in.
 */
function fitDispersion(calibration: readonly Residual[], flagLine: number): number {
  const pearson = calibration.map(({ actual, predicted }) => (actual - predicted) ** 2 / predicted);
  let dispersion = 1;
  for (let round = 0; round < DISPERSION_FIT_ROUNDS; round++) {
    const kept = pearson
      .filter((_, i) => {
        const { actual, predicted } = calibration[i]!;
        return !(actual > predicted && countUpperTail(actual, predicted, dispersion) < flagLine);
      })
      .sort((a, b) => a - b);
    const trimmed = kept.slice(0, kept.length - Math.floor(kept.length / 100));
    const next = trimmed.length === 0 ? 1 : Math.max(1, trimmed.reduce((a, b) => a + b, 0) / trimmed.length);
    const settled = Math.abs(next - dispersion) < 1e-3;
    dispersion = next;
    if (settled) break;
  }
  return dispersion;
}

/**
 * Residuals the noise model is fitted to: the week before `end`, forecast by the profile estimated before that week
 * (out of sample, as the judged hours are). With less than two weeks of history, the profile at `end` judges all the
 * hours before it in sample, which understates the noise a little.
 */
function calibrationResiduals(series: HourlySeries, end: number, levelAdjusted: boolean): Residual[] {
  const outOfSample = end - HOURS_PER_WEEK >= HOURS_PER_WEEK;
  const from = outOfSample ? end - HOURS_PER_WEEK : 0;
  const profile = seasonalProfile(series, outOfSample ? from : end);
  const first = hourOfWeek(timestampAt(series, from));
  const residuals: Residual[] = [];
  for (let i = from; i < end; i++) {
    const predicted = Math.max(profile.byHourOfWeek[(first + i - from) % HOURS_PER_WEEK]!, MIN_EXPECTED);
    residuals.push({ actual: series.counts[i]!, predicted: levelAdjusted ? predicted * trailingLevel(series, profile, i) : predicted });
  }
  return residuals;
}

/**
 * How a dense key ran against its profile in the LEVEL_HOURS before `index`: the median of (actual + 1) / (expected + 1)
 * over those hours, 1 when there are none. A busy key's level wanders from day to day by more than its Poisson noise
 * (10 % of 400 operations an hour is twice their standard deviation), so a profile at the four-week level judged every
 * hour of a busier day a spike; at the level of the twelve hours before it, it judges the hour. The median lets no
 * single hour (an earlier spike) move the level, and the hours are all before the one judged, so a spike does not raise
 * its own expectation. A surge that lasts for hours is absorbed after six of them, once it holds the median; its first
 * hours were judged against the level before it, at the hourly evaluations that saw them last.
 */
function trailingLevel(series: HourlySeries, profile: SeasonalProfile, index: number): number {
  const from = Math.max(0, index - LEVEL_HOURS);
  if (from === index) return 1;
  const ratios: number[] = [];
  let w = hourOfWeek(timestampAt(series, from));
  for (let i = from; i < index; i++) {
    ratios.push((series.counts[i]! + 1) / (Math.max(profile.byHourOfWeek[w]!, MIN_EXPECTED) + 1));
    w = w === HOURS_PER_WEEK - 1 ? 0 : w + 1;
  }
  return median(ratios);
}

