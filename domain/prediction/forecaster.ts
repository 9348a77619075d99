import { UserError } from '../errors';
import { negativeBinomialQuantile } from './anomaly';
import { recentLevelRatio, SEASONAL_MEAN_WEEKS, type SeasonalProfile, seasonalProfile, seasonalProfileForecast } from './baseline';
import { FEATURE_COUNT, levelAt, writeFeatures } from './features';
import type { ForestModel } from './forest-model';
import { holdsWholeCounts, HOUR_MS, HOURS_PER_DAY, HOURS_PER_WEEK, type HourlySeries, hourOfWeek, quantile, timestampAt } from './series';

/** Below two weeks of history a key is forecast by its seasonal profile alone. */
export const MIN_FOREST_HISTORY = 2 * HOURS_PER_WEEK;
export const DEFAULT_HORIZON = HOURS_PER_WEEK;
export const MAX_HORIZON = 4 * HOURS_PER_WEEK;
/** Keys averaging fewer operations an hour than this get a count-distribution interval and median (see intervalFor). */
export const SPARSE_LEVEL = 5;
export const INTERVAL_LEVEL = 0.9;
/** History a forest path reads: the four weeks of the seasonal mean feature. */
const FEATURE_WINDOW = SEASONAL_MEAN_WEEKS * HOURS_PER_WEEK;
/**
 * Validation: the last three days, each forecast from the hours before it (as far ahead as the forecast, at most a
 * day). Validating a week ahead, from a week back, weighted no better on the scenarios tried (level shifts, trends,
 * outliers, gaps, intermittent keys) and reacted a week later to a change; it would also double the forest's work.
 */
const VALIDATION_ORIGINS = 3;
const VALIDATION_HORIZON = HOURS_PER_DAY;

export type ComponentName = 'seasonal-profile' | 'recent-level-profile' | 'forest';

export interface ForecastComponent {
  name: ComponentName;
  weight: number;
  /** Mean absolute error over the validation hours; null when there was too little history to validate. */
  validationMae: number | null;
}

export interface KeyForecast {
  /** The first forecast hour (ISO 8601, UTC): the hour after the last one in the history. */
  startAt: string;
  horizon: number;
  method: 'combined' | 'baseline-only';
  /** Why the forest took no part, when it did not. */
  reason: string | null;
  modelVersion: string | null;
  /** Expected use per hour: what cumulative use and capacity planning add up. */
  mean: number[];
  /**
   * The median of each hour's forecast distribution: the point forecast that minimises absolute error, and the one the
   * backtest scores. For a sparse key it is a whole count and often 0 (an hour expecting 0.4 operations most likely sees
   * none); for a dense key it is the mean.
   */
  median: number[];
  lower: number[];
  upper: number[];
  intervalLevel: number;
  /** How the interval was made (see intervalFor). */
  interval: 'validation-residual-quantiles' | 'negative-binomial';
  components: ForecastComponent[];
  /** Hours of validation the weights and the interval rest on. */
  validationHours: number;
  /** Forecast use over the whole horizon: the sum of the means, and of the upper bounds (a conservative total). */
  cumulative: number;
  cumulativeUpper: number;
}

export interface ForecastRequest {
  series: HourlySeries;
  /** Hours ahead; default 168. */
  horizon?: number;
}

/** One recursive forest path: `horizon` hours from `origin`, on the counts before it. */
export interface ForestJob {
  series: HourlySeries;
  origin: number;
  horizon: number;
  /** The seasonal profile at the origin, when the caller has it already. */
  profile?: SeasonalProfile;
}

/**
 * Recursive multi-step forecasts of the forest for many jobs at once: hour by hour, each step builds one feature row per
 * job (on its history plus its own forecasts so far) and predicts them all in a single call, so 168 steps over 10,000
 * keys are 168 batched predictions, not 1.68 million single ones. Each forecast is the seasonal expectation plus the
 * forest's correction (see features.ts), at least zero and at most twice the largest hour of the four weeks read plus
 * one, a rail against a recursion feeding on its own errors.
 */
export function forestForecasts(model: ForestModel, jobs: readonly ForestJob[]): number[][] {
  const buffers = jobs.map(({ series, origin, horizon, profile }) => {
    if (origin < MIN_FOREST_HISTORY) throw new UserError('insufficient_history', `the forest needs ${MIN_FOREST_HISTORY} hours of history, got ${origin}`);
    const from = Math.max(0, origin - FEATURE_WINDOW);
    const values = new Float64Array(origin - from + horizon);
    let largest = 0;
    for (let i = from; i < origin; i++) {
      const value = series.counts[i] ?? 0;
      values[i - from] = value;
      largest = Math.max(largest, value);
    }
    return {
      values,
      length: origin - from,
      firstHourOfWeek: hourOfWeek(timestampAt(series, origin)),
      profile: (profile ?? seasonalProfile(series, origin)).byHourOfWeek,
      level: levelAt(values, origin - from),
      ceiling: 2 * largest + 1,
    };
  });
  const longest = jobs.reduce((max, job) => Math.max(max, job.horizon), 0);
  // Imported constants are module getters once compiled to CommonJS (tsx, swc): read once, not once per row.
  const width = FEATURE_COUNT;
  const week = HOURS_PER_WEEK;
  const features = new Float64Array(jobs.length * width);
  const scales = new Float64Array(jobs.length * 2);
  const active: number[] = [];
  for (let step = 0; step < longest; step++) {
    active.length = 0;
    for (let j = 0; j < jobs.length; j++) {
      if (step >= jobs[j]!.horizon) continue;
      const buffer = buffers[j]!;
      const row = active.length;
      const context = { t: buffer.length + step, hourOfWeek: (buffer.firstHourOfWeek + step) % week, profile: buffer.profile, level: buffer.level };
      const { base, scale } = writeFeatures(buffer.values, context, features, row * width);
      scales[row * 2] = scale;
      scales[row * 2 + 1] = base;
      active.push(j);
    }
    const outputs = model.predict(features, active.length);
    for (let row = 0; row < active.length; row++) {
      const buffer = buffers[active[row]!]!;
      const value = scales[row * 2 + 1]! + outputs[row]! * scales[row * 2]!;
      buffer.values[buffer.length + step] = Math.min(buffer.ceiling, Math.max(0, value));
    }
  }
  return buffers.map((buffer, j) => Array.from(buffer.values.subarray(buffer.length, buffer.length + jobs[j]!.horizon)));
}

interface Plan {
  series: HourlySeries;
  horizon: number;
  origin: number;
  useForest: boolean;
  reason: string | null;
  /** Origins inside the history that every component is re-run from, each `validationHorizon` hours ahead. */
  validationOrigins: number[];
  validationHorizon: number;
  /** The seasonal profile at the origin, then at each validation origin: estimated once, used by every component. */
  profiles: SeasonalProfile[];
}

function plan(request: ForecastRequest, model: ForestModel | null): Plan {
  const horizon = request.horizon ?? DEFAULT_HORIZON;
  if (!Number.isSafeInteger(horizon) || horizon < 1 || horizon > MAX_HORIZON) {
    throw new UserError('invalid_horizon', `the horizon must be a whole number of hours from 1 to ${MAX_HORIZON}, got ${horizon}`);
  }
  const series = request.series;
  const origin = series.counts.length;
  if (origin < HOURS_PER_DAY) throw new UserError('insufficient_history', `a forecast needs at least ${HOURS_PER_DAY} hours of history, got ${origin}`);
  let reason: string | null = null;
  if (model === null) reason = 'no forest model is available';
  else if (origin < MIN_FOREST_HISTORY) reason = `${origin} hours of history, fewer than the ${MIN_FOREST_HISTORY} (two weeks) the forest needs`;
  const useForest = reason === null;
  const earliest = useForest ? MIN_FOREST_HISTORY : HOURS_PER_WEEK;
  const validationHorizon = Math.min(horizon, VALIDATION_HORIZON, origin - earliest);
  const validationOrigins: number[] = [];
  if (validationHorizon >= Math.min(horizon, HOURS_PER_DAY)) {
    for (let k = VALIDATION_ORIGINS - 1; k >= 0; k--) {
      const validationOrigin = origin - validationHorizon - k * HOURS_PER_DAY;
      if (validationOrigin >= earliest) validationOrigins.push(validationOrigin);
    }
  }
  const profiles = [origin, ...validationOrigins].map((o) => seasonalProfile(series, o));
  return { series, horizon, origin, useForest, reason, validationOrigins, validationHorizon, profiles };
}

/**
 * Forecasts many keys with one model, batching the forest's recursive steps across all of them.
 *
 * The shipped forecast combines three forecasts: the seasonal profile (the four-week hour-of-week mean shrunk toward a
 * separable daily × weekly profile, see seasonalProfile), the same profile scaled to the last three days' level (for keys
 * whose use has shifted), and the forest. Each is re-run from the last three days (see VALIDATION_ORIGINS), on data
 * before each of those origins, and weighted by the inverse square of its mean absolute error there: a key
 * whose forest misbehaves falls back to the seasonal forecasts on its own, and no component is ever trusted blindly.
 * With less than two weeks of history, or no model, the seasonal profile alone is used and the forecast says why
 * (`method: 'baseline-only'`, `reason`).
 */
export function forecastKeys(requests: readonly ForecastRequest[], model: ForestModel | null): KeyForecast[] {
  const plans = requests.map((request) => plan(request, model));
  const jobs: ForestJob[] = [];
  const firstJob: number[] = [];
  for (const p of plans) {
    firstJob.push(jobs.length);
    if (!p.useForest) continue;
    jobs.push({ series: p.series, origin: p.origin, horizon: p.horizon, profile: p.profiles[0]! });
    p.validationOrigins.forEach((origin, k) => jobs.push({ series: p.series, origin, horizon: p.validationHorizon, profile: p.profiles[k + 1]! }));
  }
  const paths = model !== null && jobs.length > 0 ? forestForecasts(model, jobs) : [];
  return plans.map((p, i) => {
    const first = firstJob[i]!;
    const forest = p.useForest ? { forecast: paths[first]!, validation: p.validationOrigins.map((_, k) => paths[first + 1 + k]!) } : null;
    return combine(p, forest, model);
  });
}

export function forecastKey(request: ForecastRequest, model: ForestModel | null): KeyForecast {
  return forecastKeys([request], model)[0]!;
}

interface Candidate {
  name: ComponentName;
  forecast: number[];
  validation: number[][];
}

/** The seasonal profile, and the same scaled by how the last three days ran against it (see recentLevelRatio). */
function profileForecasts(series: HourlySeries, origin: number, horizon: number, estimate: SeasonalProfile): { profile: number[]; recentLevel: number[] } {
  const profile = seasonalProfileForecast(series, origin, horizon, estimate);
  const ratio = recentLevelRatio(series, origin, estimate);
  return { profile, recentLevel: profile.map((value) => value * ratio) };
}

function combine(p: Plan, forest: { forecast: number[]; validation: number[][] } | null, model: ForestModel | null): KeyForecast {
  const { series, horizon, origin, validationOrigins, validationHorizon } = p;
  const counts = series.counts;
  const now = profileForecasts(series, origin, horizon, p.profiles[0]!);
  const past = validationOrigins.map((o, k) => profileForecasts(series, o, validationHorizon, p.profiles[k + 1]!));
  const candidates: Candidate[] = [{ name: 'seasonal-profile', forecast: now.profile, validation: past.map((v) => v.profile) }];
  if (forest !== null) {
    candidates.push({ name: 'recent-level-profile', forecast: now.recentLevel, validation: past.map((v) => v.recentLevel) });
    candidates.push({ name: 'forest', forecast: forest.forecast, validation: forest.validation });
  }

  const errors = candidates.map(({ validation }) => (validation.length === 0 ? null : meanAbsoluteError(counts, validationOrigins, validation)));
  const weights = inverseSquaredErrorWeights(errors);
  const blend = (k: number, h: number, pick: (c: Candidate) => number[] | undefined): number => (pick(candidates[k]!)?.[h] ?? 0) * weights[k]!;
  const mean = Array.from({ length: horizon }, (_, h) => candidates.reduce((sum, _c, k) => sum + blend(k, h, (c) => c.forecast), 0));
  const residuals: Residual[] = [];
  validationOrigins.forEach((o, v) => {
    for (let h = 0; h < validationHorizon; h++) {
      const predicted = candidates.reduce((sum, _c, k) => sum + blend(k, h, (c) => c.validation[v]), 0);
      residuals.push({ actual: counts[o + h]!, predicted });
    }
  });
  const { lower, upper, median, method } = intervalFor(mean, residuals, p.profiles[0]!.level, holdsWholeCounts(counts, origin - FEATURE_WINDOW, origin));
  return {
    startAt: new Date(series.startMs + origin * HOUR_MS).toISOString(),
    horizon,
    method: forest === null ? 'baseline-only' : 'combined',
    reason: p.reason,
    modelVersion: forest === null || model === null ? null : model.modelVersion,
    mean,
    median,
    lower,
    upper,
    intervalLevel: INTERVAL_LEVEL,
    interval: method,
    components: candidates.map((c, k) => ({ name: c.name, weight: weights[k]!, validationMae: errors[k] ?? null })),
    validationHours: residuals.length,
    cumulative: mean.reduce((a, b) => a + b, 0),
    cumulativeUpper: upper.reduce((a, b) => a + b, 0),
  };
}

interface Residual {
  actual: number;
  predicted: number;
}

function meanAbsoluteError(counts: readonly number[], origins: readonly number[], forecasts: readonly number[][]): number {
  let sum = 0;
  let n = 0;
  origins.forEach((o, v) => {
    const forecast = forecasts[v]!;
    for (let h = 0; h < forecast.length; h++) {
      sum += Math.abs(counts[o + h]! - forecast[h]!);
      n++;
    }
  });
  return n === 0 ? 0 : sum / n;
}

/**
 * Weights ∝ 1 / MAE², normalised: clearly worse components fade, close ones share. A perfect component (MAE 0, say on
 * a silent key) takes all the weight, shared with any other perfect one; without validation the weights are equal.
 */
function inverseSquaredErrorWeights(errors: readonly (number | null)[]): number[] {
  const values = errors.filter((e): e is number => e !== null);
  if (values.length < errors.length) return errors.map(() => 1 / errors.length);
  if (Math.min(...values) <= 0) {
    const perfect = values.filter((e) => e <= 0).length;
    return values.map((e) => (e <= 0 ? 1 / perfect : 0));
  }
  const inverse = values.map((e) => 1 / (e * e));
  const total = inverse.reduce((a, b) => a + b, 0);
  return inverse.map((w) => w / total);
}

/**
 * The prediction interval, and the median.
 *
 * Dense keys (level ≥ SPARSE_LEVEL an hour) with at least a day of validation: empirical quantiles of the combined
 * forecast's relative residuals over the validation hours, (actual − forecast) / max(forecast, 1), applied to every hour
 * (validation looks at most a day ahead, so the interval does not widen further out); the median is the mean.
 *
 * A series of fractional values (a measurement rather than a count) is treated as dense whatever its level.
 *
 * Sparse keys, or any key without that validation: a negative-binomial distribution around each hourly mean, with the
 * dispersion (variance / mean) fitted to the validation residuals by moments, at least 1 (Poisson), and 1 without
 * validation; the interval and the median are its quantiles.
 */
function intervalFor(
  mean: readonly number[],
  residuals: readonly Residual[],
  level: number,
  countData: boolean,
): Pick<KeyForecast, 'lower' | 'upper' | 'median'> & { method: KeyForecast['interval'] } {
  const tail = (1 - INTERVAL_LEVEL) / 2;
  if ((level >= SPARSE_LEVEL || !countData) && residuals.length >= HOURS_PER_DAY) {
    const relative = residuals.map(({ actual, predicted }) => (actual - predicted) / Math.max(predicted, 1));
    const low = Math.min(0, quantile(relative, tail));
    const high = Math.max(0, quantile(relative, 1 - tail));
    return {
      lower: mean.map((m) => Math.max(0, m * (1 + low))),
      upper: mean.map((m) => m * (1 + high)),
      median: [...mean],
      method: 'validation-residual-quantiles',
    };
  }
  let squared = 0;
  let predicted = 0;
  for (const r of residuals) {
    squared += (r.actual - r.predicted) ** 2;
    predicted += r.predicted;
  }
  const dispersion = predicted > 0 ? Math.max(1, squared / predicted) : 1;
  return {
    lower: mean.map((m) => negativeBinomialQuantile(m, dispersion, tail)),
    upper: mean.map((m) => negativeBinomialQuantile(m, dispersion, 1 - tail)),
    median: countData ? mean.map((m) => negativeBinomialQuantile(m, dispersion, 0.5)) : [...mean],
    method: 'negative-binomial',
  };
}
