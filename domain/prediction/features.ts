import { SEASONAL_MEAN_WEEKS } from './baseline';
import { HOURS_PER_DAY, HOURS_PER_WEEK } from './series';

// Imported constants are module getters once compiled to CommonJS (tsx, swc): local copies keep them out of hot loops.
const WEEK = HOURS_PER_WEEK;
const DAY = HOURS_PER_DAY;
const MEAN_WEEKS = SEASONAL_MEAN_WEEKS;

/**
 * The forest's inputs for one hour t, all free of the key's scale so that one model serves keys of a few operations a
 * day and keys of thousands an hour: counts are divided by the key's level (its mean over the week before t).
 *
 * The forest does not re-learn each key's weekly shape from a few hundred rows: its target is the deviation of the count
 * from the key's seasonal expectation at t (the seasonal profile, see seasonalProfile, estimated before the forecast
 * origin), so the trees learn corrections to it: a day running hot, a level shift, the shape after a quiet hour. The
 * deviation is relative to the expectation where that is large enough (a level shift moves busy hours more than quiet
 * ones) and to a quarter of the weekly level where it is small (a night hour of a sparse key).
 *
 * `log_level` is the one feature that knows the scale, on purpose: how much a count says depends on it (an hour of 2
 * against an expected 1 is noise, an hour of 2,000 against 1,000 is not), so the model needs the count regime to know
 * how far to trust the lags.
 */
export const LAGS = [...Array.from({ length: DAY }, (_, i) => i + 1), WEEK] as const;

export const FEATURE_NAMES: readonly string[] = [
  ...LAGS.map((lag) => `lag_${lag}`),
  'seasonal_expectation',
  'seasonal_mean_4w',
  'mean_last_6h',
  'mean_last_24h',
  'vs_expectation_last_6h',
  'vs_expectation_last_24h',
  'log_level',
  'hour_of_day',
  'day_of_week',
];

export const FEATURE_COUNT = FEATURE_NAMES.length;

/** A row needs a full week before it (lag 168 and the level). */
export const MIN_FEATURE_HISTORY = WEEK;

/**
 * The level a key's counts are divided by never falls below one operation a day: a silent key's features stay finite
 * and its forecasts stay near zero.
 */
export const MIN_LEVEL = 1 / DAY;

export interface RowScale {
  /** The seasonal expectation at t, which the target is the deviation from. */
  base: number;
  /** What the deviation was divided by: count = base + output × scale. */
  scale: number;
}

/** Where a row sits: its index in `values`, its calendar position and the seasonal profile in force. */
export interface RowContext {
  t: number;
  hourOfWeek: number;
  /** Expected count by hour of the week (seasonalProfile().byHourOfWeek), estimated before the forecast origin. */
  profile: readonly number[];
  /**
   * The key's level at the forecast origin. Training rows leave it out (the week before t is their level); a recursive
   * forecast fixes it at the origin, because a level recomputed over its own forecasts would feed them back into the
   * scale and let a run of high forecasts grow without bound.
   */
  level?: number;
}

/**
 * Writes the features of hour `t` into `out` at `offset` and returns what turns the model's output back into a count.
 * Reads `values[t - 672 .. t)` (fewer weeks when t is smaller, never less than MIN_FEATURE_HISTORY): they must hold
 * observed counts, or forecasts for the hours already forecast. The seasonal mean feature averages as many of the four
 * weeks as lie at or after index 0, so callers pass windows of four whole weeks where the history has them.
 */
export function writeFeatures(values: ArrayLike<number>, row: RowContext, out: Float64Array, offset: number): RowScale {
  const { t, hourOfWeek, profile } = row;
  const level = row.level ?? levelAt(values, t);
  const base = profile[hourOfWeek]!;
  let o = offset;
  for (const lag of LAGS) out[o++] = values[t - lag]! / level;
  out[o++] = base / level;
  out[o++] = seasonalMeanAt(values, t) / level;
  let last6 = 0;
  let last24 = 0;
  let expected6 = 0;
  let expected24 = 0;
  for (let i = 1; i <= DAY; i++) {
    const value = values[t - i]!;
    const expected = profile[(hourOfWeek - i + WEEK) % WEEK]!;
    if (i <= 6) {
      last6 += value;
      expected6 += expected;
    }
    last24 += value;
    expected24 += expected;
  }
  out[o++] = last6 / 6 / level;
  out[o++] = last24 / DAY / level;
  // One pseudo-operation on each side keeps a sparse key's ratios from jumping between 0 and infinity.
  out[o++] = (last6 + 1) / (expected6 + 1);
  out[o++] = (last24 + 1) / (expected24 + 1);
  out[o++] = Math.log10(level);
  out[o++] = hourOfWeek % DAY;
  out[o] = Math.floor(hourOfWeek / DAY);
  return { base, scale: Math.max(base, level / 4) };
}

/** The mean of the week before t, at least MIN_LEVEL. */
export function levelAt(values: ArrayLike<number>, t: number): number {
  let sum = 0;
  for (let i = t - WEEK; i < t; i++) sum += values[i]!;
  return Math.max(sum / WEEK, MIN_LEVEL);
}

/** Mean of the same hour in up to four earlier weeks (at least one: t ≥ 168). */
export function seasonalMeanAt(values: ArrayLike<number>, t: number): number {
  const cycles = Math.min(MEAN_WEEKS, Math.floor(t / WEEK));
  let sum = 0;
  for (let k = 1; k <= cycles; k++) sum += values[t - k * WEEK]!;
  return sum / cycles;
}
