import { SETTINGS } from '../config-settings';
import { UserError } from '../errors';
import { parseDuration } from '../keys/durations';
import { DEFAULT_POLICY } from '../keys/policy';
import { detectAnomalies, type FlaggedHour } from './anomaly';
import { seasonalProfile } from './baseline';
import { ANOMALY_MIN_HISTORY, ANOMALY_SCORED_HOURS, ANOMALY_SPIKE_SIGMAS, DEFAULT_ANOMALY_TRIALS, SPIKES_PER_TRIAL } from './backtest-settings';
import { createSeededRandom, type Random } from './forest-model';
import { HOUR_MS, HOURS_PER_WEEK, holdsWholeCounts, type HourlySeries, hourOfWeek, timestampAt, truncateSeries } from './series';

/** Two spikes are at least this far apart, so that no window the detector judges holds two of them. */
export const MIN_SPIKE_GAP_HOURS = 24;
/**
 * A detection matches a spike only when it flags the spiked hour itself: a spike changes one hour's count, and the
 * detector judges each hour on its own against an expectation from earlier hours, so a flag on any other hour is not
 * the spike found and counts as a false alarm.
 */
export const MATCH_TOLERANCE_HOURS = 0;

export { ANOMALY_MIN_HISTORY, ANOMALY_SCORED_HOURS, ANOMALY_SPIKE_SIGMAS, DEFAULT_ANOMALY_TRIALS, SPIKES_PER_TRIAL };

/** The product's defaults, read from where the product reads them: the window of each evaluation and its cadence. */
const PRODUCT_WINDOW_HOURS = SETTINGS.anomalyWindowHours.default;
const PRODUCT_EVALUATION_EVERY_HOURS = Math.max(1, Math.round(parseDuration(DEFAULT_POLICY.evaluationInterval, 'evaluationInterval') / HOUR_MS));

export interface AnomalyBacktestOptions {
  /** Spike sizes in σ; default ANOMALY_SPIKE_SIGMAS. */
  sigmas?: readonly number[];
  seed?: number;
  trials?: number;
  onProgress?: (progress: { done: number; total: number }) => void;
}

export interface SpikeScore {
  /** The spike's size in σ. */
  sigmas: number;
  /** Operations added to each spiked hour: sigmas × σ, rounded up to a whole operation for a series of whole counts. */
  added: number;
  injected: number;
  detected: number;
  /** Distinct unspiked hours in the scored weeks that some evaluation flagged (a spike or a drop). */
  falseAlarms: number;
  recall: number;
  falseAlarmsPer4Weeks: number;
}

export interface AnomalyBacktestResult {
  /** The residual standard deviation the spikes are measured in. */
  sigma: number;
  /** The detector's noise model at the end of the clean series. */
  noiseModel: 'negative-binomial' | 'robust-z';
  scoredFrom: string;
  scoredTo: string;
  trials: number;
  spikesPerTrial: number;
  windowHours: number;
  evaluationEveryHours: number;
  sizes: SpikeScore[];
}

/**
 * σ of a series: the root mean square of its hourly residuals over the scored weeks, each hour's residual being its
 * count minus the seasonal profile the detector uses (domain/prediction/baseline.ts), estimated on the hours before it.
 * Not the standard deviation of the raw counts, which holds the daily and weekly rhythm and would make a "+8 σ" spike
 * several times the noise the detector has to see through. Measured on the series before any spike is injected.
 */
export function residualSigma(series: HourlySeries, from: number, to = series.counts.length): number {
  if (from < 24 || to > series.counts.length || to <= from) throw new UserError('insufficient_history', 'residualSigma needs a day of history before a non-empty span');
  let sumOfSquares = 0;
  for (let t = from; t < to; t++) {
    const expected = seasonalProfile(series, t).byHourOfWeek[hourOfWeek(timestampAt(series, t))]!;
    sumOfSquares += (series.counts[t]! - expected) ** 2;
  }
  return Math.sqrt(sumOfSquares / (to - from));
}

/**
 * `count` distinct hours in `from .. to)`, drawn uniformly with `random`, each at least `gap` hours from the others,
 * in ascending order. Throws when the span cannot hold them.
 */
export function drawSpikeHours(random: Random, from: number, to: number, count: number, gap = MIN_SPIKE_GAP_HOURS): number[] {
  if ((count - 1) * gap >= to - from) throw new UserError('invalid_anomaly_options', `${count} spikes ${gap} hours apart do not fit in ${to - from} hours`);
  const chosen: number[] = [];
  // Rejection sampling: with six spikes in four weeks nearly every draw is accepted.
  for (let attempt = 0; chosen.length < count; attempt++) {
    if (attempt > 100_000) throw new UserError('invalid_anomaly_options', `could not place ${count} spikes ${gap} hours apart in ${to - from} hours`);
    const hour = from + Math.floor(random() * (to - from));
    if (chosen.every((other) => Math.abs(other - hour) >= gap)) chosen.push(hour);
  }
  return chosen.sort((a, b) => a - b);
}

/** A copy of the series with `added` operations more in each of the `hours`. */
export function injectSpikes(series: HourlySeries, hours: readonly number[], added: number): HourlySeries {
  const counts = [...series.counts];
  for (const hour of hours) {
    if (!(hour >= 0 && hour < counts.length)) throw new RangeError(`spike hour ${hour} is outside the series`);
    counts[hour] = counts[hour]! + added;
  }
  return { startMs: series.startMs, counts };
}

/**
 * Replays the product's evaluations over `from .. to)`: one every `everyHours`, each cutting the series after the hour
 * it ends in and judging the last `windowHours` with `detectAnomalies`, the running hour for spikes only, exactly as
 * evaluateKey does. Returns every hour in `from .. to)` that at least one evaluation flagged (its first flag).
 */
export function replayDetector(series: HourlySeries, from: number, to: number, windowHours = PRODUCT_WINDOW_HOURS, everyHours = PRODUCT_EVALUATION_EVERY_HOURS): Map<number, FlaggedHour> {
  const flagged = new Map<number, FlaggedHour>();
  for (let last = from; last < to; last += everyHours) {
    const report = detectAnomalies(truncateSeries(series, last + 1), { windowHours, lastHourPartial: true });
    for (const hour of report.flagged) {
      if (hour.index >= from && hour.index < to && !flagged.has(hour.index)) flagged.set(hour.index, hour);
    }
  }
  return flagged;
}

/** Scores flagged hours against the spiked ones (see MATCH_TOLERANCE_HOURS). */
export function scoreDetections(spiked: readonly number[], flagged: Iterable<number>): { injected: number; detected: number; falseAlarms: number } {
  const flaggedHours = [...new Set(flagged)];
  const matches = (spike: number, hour: number): boolean => Math.abs(spike - hour) <= MATCH_TOLERANCE_HOURS;
  const detected = spiked.filter((spike) => flaggedHours.some((hour) => matches(spike, hour))).length;
  const falseAlarms = flaggedHours.filter((hour) => !spiked.some((spike) => matches(spike, hour))).length;
  return { injected: spiked.length, detected, falseAlarms };
}

/**
 * How well the shipped detector finds spikes in a series. The last four weeks are scored. Each trial draws
 * SPIKES_PER_TRIAL hours in them (seeded), and for each spike size adds the same number of operations to those hours of
 * a copy of the series and replays the product's hourly evaluations over the four weeks (replayDetector). Every size
 * sees the same spike hours in a trial, so the sizes differ by size alone.
 */
export function runAnomalyBacktest(series: HourlySeries, options: AnomalyBacktestOptions = {}): AnomalyBacktestResult {
  const sigmas = options.sigmas ?? ANOMALY_SPIKE_SIGMAS;
  const trials = options.trials ?? DEFAULT_ANOMALY_TRIALS;
  if (sigmas.length === 0 || !sigmas.every((k) => Number.isFinite(k) && k > 0)) throw new UserError('invalid_anomaly_options', 'spike sizes must be numbers of standard deviations above 0');
  if (!Number.isSafeInteger(trials) || trials < 1) throw new UserError('invalid_anomaly_options', 'trials must be a whole number of at least 1');
  const to = series.counts.length;
  const from = to - ANOMALY_SCORED_HOURS;
  if (from < ANOMALY_MIN_HISTORY) {
    throw new UserError(
      'series_too_short',
      `the series has ${to} hours; an anomaly backtest needs ${ANOMALY_MIN_HISTORY + ANOMALY_SCORED_HOURS} (two weeks of history before the four weeks it scores)`,
    );
  }
  const sigma = residualSigma(series, from, to);
  if (!(sigma > 0)) throw new UserError('invalid_series', 'the series does not vary around its seasonal profile, so a spike of k standard deviations adds nothing');
  const whole = holdsWholeCounts(series.counts, 0, to);
  const random = createSeededRandom(options.seed ?? 1);
  const totals = sigmas.map((k) => ({ sigmas: k, added: whole ? Math.ceil(k * sigma) : k * sigma, injected: 0, detected: 0, falseAlarms: 0 }));
  const progressTotal = trials * sigmas.length;
  options.onProgress?.({ done: 0, total: progressTotal });
  for (let trial = 0; trial < trials; trial++) {
    const hours = drawSpikeHours(random, from, to, SPIKES_PER_TRIAL);
    totals.forEach((total, s) => {
      const flagged = replayDetector(injectSpikes(series, hours, total.added), from, to);
      const score = scoreDetections(hours, flagged.keys());
      total.injected += score.injected;
      total.detected += score.detected;
      total.falseAlarms += score.falseAlarms;
      options.onProgress?.({ done: trial * sigmas.length + s + 1, total: progressTotal });
    });
  }
  const scoredFourWeeks = (trials * ANOMALY_SCORED_HOURS) / (4 * HOURS_PER_WEEK);
  return {
    sigma,
    noiseModel: detectAnomalies(series, { windowHours: PRODUCT_WINDOW_HOURS }).noiseModel,
    scoredFrom: new Date(timestampAt(series, from)).toISOString(),
    scoredTo: new Date(timestampAt(series, to)).toISOString(),
    trials,
    spikesPerTrial: SPIKES_PER_TRIAL,
    windowHours: PRODUCT_WINDOW_HOURS,
    evaluationEveryHours: PRODUCT_EVALUATION_EVERY_HOURS,
    sizes: totals.map((total) => ({ ...total, recall: total.detected / total.injected, falseAlarmsPer4Weeks: total.falseAlarms / scoredFourWeeks })),
  };
}
