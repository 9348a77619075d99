import { UserError } from '../errors';
import { HOURS_PER_DAY, HOURS_PER_WEEK, hourOfWeek, hourOfWeekCells, type HourlySeries, indexesFromCells, timestampAt } from './series';

// Imported constants are module getters once compiled to CommonJS (tsx, swc): local copies keep them out of hot loops.
const WEEK = HOURS_PER_WEEK;
const DAY = HOURS_PER_DAY;

/** The seasonal mean looks back this many weeks. */
export const SEASONAL_MEAN_WEEKS = 4;

function requireHistory(origin: number, needed: number, method: string): void {
  if (origin < needed) {
    throw new UserError('insufficient_history', `${method} needs at least ${needed} hours of history before the forecast, got ${origin}`);
  }
}

/**
 * Seasonal naive: each hour repeats the same hour one period earlier (24: yesterday, 168: last week), the last observed
 * period repeated over longer horizons. Uses `counts[0 .. origin)` and forecasts hours `origin .. origin + horizon)`.
 */
export function seasonalNaiveForecast(counts: readonly number[], origin: number, horizon: number, period: number): number[] {
  requireHistory(origin, period, `seasonal naive ${period} h`);
  return Array.from({ length: horizon }, (_, h) => counts[origin - period + (h % period)] ?? 0);
}

/**
 * The mean of the same hour of the week over the last `weeks` weeks (fewer when the history is shorter, at least one).
 * Past one week ahead it repeats, like the seasonal naive forecast.
 */
export function seasonalMeanForecast(counts: readonly number[], origin: number, horizon: number, weeks = SEASONAL_MEAN_WEEKS): number[] {
  requireHistory(origin, WEEK, 'the seasonal mean');
  const cycles = Math.min(weeks, Math.floor(origin / WEEK));
  return Array.from({ length: horizon }, (_, h) => {
    const anchor = origin - WEEK + (h % WEEK);
    let sum = 0;
    for (let k = 0; k < cycles; k++) sum += counts[anchor - k * WEEK] ?? 0;
    return sum / cycles;
  });
}

/** The seasonal profile of a key at an origin: one expected count for each hour of the week. */
export interface SeasonalProfile {
  /** Indexed by hour of the week (0 = Monday 00:00 UTC). */
  byHourOfWeek: number[];
  /**
   * Weight on the separable part (level × hour-of-day × day-of-week), 0–1: near 1 for sparse keys, whose hour-of-week
   * cells are mostly noise, near 0 for dense keys with a weekly shape of their own.
   */
  shrinkage: number;
  /** Whole or partial weeks of history it was estimated from. */
  weeks: number;
  /** Mean count per hour over that history. */
  level: number;
}

/**
 * The four-week seasonal mean, shrunk toward a separable profile by empirical Bayes. The separable profile
 * (level × hour-of-day index × day-of-week index) pools 28 values per hour of day and 96 per day of week, so it is
 * stable for sparse keys; the hour-of-week mean keeps shapes the separable one cannot (a different working-day rhythm on
 * weekends) but averages only four values. The weight on each follows their noise: the within-cell variance across
 * weeks estimates the noise of a cell mean, the spread of cell means around the separable profile beyond that noise
 * estimates the real hour-of-week effect, and the ratio sets the shrinkage. With one week or less of history the cell
 * noise is taken as Poisson (variance = mean).
 */
export function seasonalProfile(series: HourlySeries, origin: number, weeks = SEASONAL_MEAN_WEEKS): SeasonalProfile {
  requireHistory(origin, DAY, 'the seasonal profile');
  const from = Math.max(0, origin - weeks * WEEK);
  const cells = hourOfWeekCells(series, from, origin);
  const indexes = indexesFromCells(cells);
  const separable = new Float64Array(WEEK);
  for (let w = 0; w < WEEK; w++) {
    separable[w] = indexes.level * indexes.hourOfDay[w % DAY]! * indexes.dayOfWeek[Math.floor(w / DAY)]!;
  }
  let withinSum = 0;
  let withinCells = 0;
  for (let w = 0; w < WEEK; w++) {
    const n = cells.hours[w]!;
    if (n < 2) continue;
    const cellMean = cells.sum[w]! / n;
    withinSum += (cells.sumOfSquares[w]! - n * cellMean * cellMean) / (n - 1);
    withinCells++;
  }
  const pooledWithin = withinCells >= WEEK / 2 ? withinSum / withinCells : null;
  let noise = 0;
  let spread = 0;
  let observedCells = 0;
  for (let w = 0; w < WEEK; w++) {
    const n = cells.hours[w]!;
    if (n === 0) continue;
    const deviation = cells.sum[w]! / n - separable[w]!;
    spread += deviation * deviation;
    noise += (pooledWithin ?? separable[w]!) / n;
    observedCells++;
  }
  let shrinkage = 1;
  if (observedCells > 0) {
    noise /= observedCells;
    spread /= observedCells;
    const signal = Math.max(0, spread - noise);
    shrinkage = signal + noise > 0 ? noise / (signal + noise) : 1;
  }
  const byHourOfWeek = new Array<number>(WEEK);
  for (let w = 0; w < WEEK; w++) {
    const n = cells.hours[w]!;
    const expected = separable[w]!;
    byHourOfWeek[w] = n === 0 ? expected : Math.max(0, expected + (1 - shrinkage) * (cells.sum[w]! / n - expected));
  }
  return { byHourOfWeek, shrinkage, weeks: (origin - from) / WEEK, level: indexes.level };
}

/** The seasonal profile read off for the hours `origin .. origin + horizon)`. */
export function seasonalProfileForecast(series: HourlySeries, origin: number, horizon: number, profile = seasonalProfile(series, origin)): number[] {
  const first = hourOfWeek(timestampAt(series, origin));
  return Array.from({ length: horizon }, (_, h) => profile.byHourOfWeek[(first + h) % WEEK]!);
}

/** How many hours recentLevelRatio looks back by default: a day was too noisy, a week too slow after a level shift. */
export const RECENT_LEVEL_HOURS = 3 * DAY;

/**
 * How the hours just before `origin` ran against the profile: (actual + 1) / (expected + 1) over the last `hours`.
 * The pseudo-operation on each side keeps a sparse key's ratio near 1 instead of swinging with every event.
 */
export function recentLevelRatio(series: HourlySeries, origin: number, profile: SeasonalProfile, hours = RECENT_LEVEL_HOURS): number {
  const from = Math.max(0, origin - hours);
  let w = hourOfWeek(timestampAt(series, from));
  let actual = 0;
  let expected = 0;
  for (let i = from; i < origin; i++) {
    actual += series.counts[i]!;
    expected += profile.byHourOfWeek[w]!;
    w = w === WEEK - 1 ? 0 : w + 1;
  }
  return (actual + 1) / (expected + 1);
}
