import { UserError } from '../errors';
import { seasonalMeanForecast, seasonalNaiveForecast } from './baseline';
import { forecastKeys, forestForecasts, MIN_FOREST_HISTORY } from './forecaster';
import { createSeededRandom, type ForestModel, type ForestTrainingOptions, trainForest } from './forest-model';
import { BACKTEST_ORIGINS, DEFAULT_BACKTEST_HORIZON, DEFAULT_RETRAIN_EVERY } from './backtest-settings';
import { HOUR_MS, HOURS_PER_DAY, HOURS_PER_WEEK, type HourlySeries, truncateSeries } from './series';

export const BACKTEST_METHODS = ['seasonal-naive-24', 'seasonal-naive-168', 'seasonal-mean-4w', 'forest', 'shipped'] as const;
export type BacktestMethod = (typeof BACKTEST_METHODS)[number];
export { BACKTEST_ORIGINS, DEFAULT_BACKTEST_HORIZON, DEFAULT_RETRAIN_EVERY };

/** MASE divides by the in-sample mean absolute difference at this lag (one day). */
export const MASE_SEASON = HOURS_PER_DAY;

export interface BacktestOptions {
  horizon?: number;
  /** Retrain the forest every this many origins; default 7. */
  retrainEvery?: number;
  seed?: number;
  forest?: Partial<ForestTrainingOptions>;
  onProgress?: (progress: { done: number; total: number; stage: 'training' | 'forecasting' }) => void;
}

export interface MethodScore {
  name: BacktestMethod;
  /** Mean over origins of (MAE at the origin / that origin's in-sample scale). */
  mase: number;
  /** Mean absolute error over every forecast hour of every origin. */
  mae: number;
}

export interface BacktestResult {
  origins: number;
  horizon: number;
  methods: MethodScore[];
  firstOriginAt: string;
  lastOriginAt: string;
  retrains: number;
  /** Origins whose in-sample scale was zero and fell back to the floor (see maseScale). */
  zeroScaleOrigins: number;
}

/**
 * The MASE scale at an origin: the mean absolute 24-hour difference over all hours before it. A key silent for the
 * whole training part has a scale of zero, which would make every error infinite; the scale is then floored at
 * 1 / (number of differences), the smallest value it can take for whole counts when it is not zero (one event in the
 * training part), so an all-zero history is scored as if it had held a single event.
 */
export function maseScale(counts: readonly number[], origin: number): { scale: number; floored: boolean } {
  const differences = origin - MASE_SEASON;
  if (differences < 1) throw new UserError('insufficient_history', `MASE needs more than ${MASE_SEASON} hours before the origin`);
  let sum = 0;
  for (let t = MASE_SEASON; t < origin; t++) sum += Math.abs(counts[t]! - counts[t - MASE_SEASON]!);
  const scale = sum / differences;
  return scale > 0 ? { scale, floored: false } : { scale: 1 / differences, floored: true };
}

/** The rolling origins: the last leaves `horizon` hours to score, one a day before it, each with two weeks behind it. */
export function backtestOrigins(length: number, horizon: number): number[] {
  const last = length - horizon;
  const count = Math.min(BACKTEST_ORIGINS, Math.floor((last - MIN_FOREST_HISTORY) / HOURS_PER_DAY) + 1);
  if (count < 1) {
    throw new UserError(
      'series_too_short',
      `the series has ${length} hours; a backtest needs at least ${MIN_FOREST_HISTORY + horizon} (two weeks of history plus the ${horizon}-hour horizon), ` +
        `and ${MIN_FOREST_HISTORY + horizon + (BACKTEST_ORIGINS - 1) * HOURS_PER_DAY} for all ${BACKTEST_ORIGINS} daily origins`,
    );
  }
  return Array.from({ length: count }, (_, k) => last - (count - 1 - k) * HOURS_PER_DAY);
}

/**
 * Rolling-origin backtest of the baselines, the forest alone and the shipped forecaster. At each origin every method
 * sees only the hours before it: the forest is retrained every `retrainEvery` origins on the series' own hours before
 * that origin (so no model ever saw an hour after the origin it forecasts from), and the shipped forecaster is handed
 * the series cut at the origin.
 */
export function runBacktest(series: HourlySeries, options: BacktestOptions = {}): BacktestResult {
  const horizon = options.horizon ?? DEFAULT_BACKTEST_HORIZON;
  if (!Number.isSafeInteger(horizon) || horizon < 1 || horizon > HOURS_PER_WEEK) {
    throw new UserError('invalid_horizon', `the backtest horizon must be a whole number of hours from 1 to ${HOURS_PER_WEEK}, got ${horizon}`);
  }
  const retrainEvery = options.retrainEvery ?? DEFAULT_RETRAIN_EVERY;
  if (!Number.isSafeInteger(retrainEvery) || retrainEvery < 1) throw new UserError('invalid_backtest_options', 'retrainEvery must be a whole number of at least 1');
  const counts = series.counts;
  const origins = backtestOrigins(counts.length, horizon);
  const random = createSeededRandom(options.seed ?? 1);
  const errors = new Map<BacktestMethod, { absolute: number; scaled: number }>(BACKTEST_METHODS.map((name) => [name, { absolute: 0, scaled: 0 }]));
  const retrains = Math.ceil(origins.length / retrainEvery);
  const progressTotal = retrains + origins.length;
  let done = 0;
  let zeroScaleOrigins = 0;

  for (let block = 0; block < origins.length; block += retrainEvery) {
    const blockOrigins = origins.slice(block, block + retrainEvery);
    const trainingEnd = blockOrigins[0]!;
    options.onProgress?.({ done, total: progressTotal, stage: 'training' });
    const model: ForestModel = trainForest({
      series: [series],
      before: trainingEnd,
      random,
      trainedAt: new Date(series.startMs + trainingEnd * HOUR_MS).toISOString(),
      ...(options.forest === undefined ? {} : { options: options.forest }),
    });
    done++;
    options.onProgress?.({ done, total: progressTotal, stage: 'forecasting' });
    const forest = forestForecasts(
      model,
      blockOrigins.map((origin) => ({ series, origin, horizon })),
    );
    const shipped = forecastKeys(
      blockOrigins.map((origin) => ({ series: truncateSeries(series, origin), horizon })),
      model,
    );
    blockOrigins.forEach((origin, k) => {
      const { scale, floored } = maseScale(counts, origin);
      if (floored) zeroScaleOrigins++;
      const forecasts: Record<BacktestMethod, number[]> = {
        'seasonal-naive-24': seasonalNaiveForecast(counts, origin, horizon, 24),
        'seasonal-naive-168': seasonalNaiveForecast(counts, origin, horizon, HOURS_PER_WEEK),
        'seasonal-mean-4w': seasonalMeanForecast(counts, origin, horizon),
        forest: forest[k]!,
        shipped: shipped[k]!.median,
      };
      for (const name of BACKTEST_METHODS) {
        const forecast = forecasts[name];
        let absolute = 0;
        for (let h = 0; h < horizon; h++) absolute += Math.abs(counts[origin + h]! - forecast[h]!);
        const total = errors.get(name)!;
        total.absolute += absolute;
        total.scaled += absolute / horizon / scale;
      }
      done++;
      options.onProgress?.({ done, total: progressTotal, stage: 'forecasting' });
    });
  }

  return {
    origins: origins.length,
    horizon,
    methods: BACKTEST_METHODS.map((name) => {
      const total = errors.get(name)!;
      return { name, mase: total.scaled / origins.length, mae: total.absolute / (origins.length * horizon) };
    }),
    firstOriginAt: new Date(series.startMs + origins[0]! * HOUR_MS).toISOString(),
    lastOriginAt: new Date(series.startMs + origins[origins.length - 1]! * HOUR_MS).toISOString(),
    retrains,
    zeroScaleOrigins,
  };
}
