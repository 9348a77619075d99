import { UserError } from '../errors';

export const HOUR_MS = 3_600_000;
export const HOURS_PER_DAY = 24;
export const HOURS_PER_WEEK = 168;
/** 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of its week when weeks start on Monday 00:00 UTC. */
const EPOCH_HOUR_OF_WEEK = 72;

/**
 * A key's usage: one count per hour, without gaps, starting at `startMs` (a whole UTC hour). `counts[i]` is the use in
 * the hour that starts at `startMs + i·HOUR_MS`.
 */
export interface HourlySeries {
  readonly startMs: number;
  readonly counts: readonly number[];
}

/** One observed count, at any instant inside its hour. */
export interface Observation {
  readonly timestampMs: number;
  readonly count: number;
}

export interface BuiltSeries {
  series: HourlySeries;
  /** Hours inside the range that no observation fell in, counted as zero use. */
  filledHours: number;
  /** Observations that shared an hour with an earlier one and were added to it. */
  mergedObservations: number;
}

/** The start of the UTC hour holding `timestampMs`. */
export function alignToHour(timestampMs: number): number {
  return Math.floor(timestampMs / HOUR_MS) * HOUR_MS;
}

/** 0–23, UTC. */
export function hourOfDay(timestampMs: number): number {
  return mod(Math.floor(timestampMs / HOUR_MS), HOURS_PER_DAY);
}

/** 0 (Monday) – 6 (Sunday), UTC. */
export function dayOfWeek(timestampMs: number): number {
  return Math.floor(hourOfWeek(timestampMs) / HOURS_PER_DAY);
}

/** 0 (Monday 00:00–01:00 UTC) – 167 (Sunday 23:00–24:00 UTC). */
export function hourOfWeek(timestampMs: number): number {
  return mod(Math.floor(timestampMs / HOUR_MS) + EPOCH_HOUR_OF_WEEK, HOURS_PER_WEEK);
}

function mod(value: number, modulus: number): number {
  return ((value % modulus) + modulus) % modulus;
}

/**
 * Builds the gap-free hourly series from observations in any order: each lands in the hour that holds it, counts in
 * one hour add up (usage is additive), and an hour without observations is zero use. The range defaults to the first
 * to the last observed hour; `range.endMs` is exclusive.
 */
export function buildHourlySeries(observations: readonly Observation[], range: { startMs?: number; endMs?: number } = {}): BuiltSeries {
  for (const [i, { timestampMs, count }] of observations.entries()) {
    if (!Number.isFinite(timestampMs)) throw new UserError('invalid_series', `observation ${i + 1}: the timestamp is not a valid time`);
    if (!Number.isFinite(count) || count < 0) {
      throw new UserError('invalid_series', `observation ${i + 1}: the count must be a finite number of at least 0, got ${count}`);
    }
  }
  let first = Infinity;
  let last = -Infinity;
  for (const { timestampMs } of observations) {
    first = Math.min(first, timestampMs);
    last = Math.max(last, timestampMs);
  }
  const startMs = alignToHour(range.startMs ?? first);
  const endMs = range.endMs === undefined ? alignToHour(last) + HOUR_MS : alignToHour(range.endMs - 1) + HOUR_MS;
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs <= startMs) {
    throw new UserError('invalid_series', 'the series is empty: give at least one observation inside the range');
  }
  const hours = (endMs - startMs) / HOUR_MS;
  const counts = new Array<number>(hours).fill(0);
  const seen = new Uint8Array(hours);
  let mergedObservations = 0;
  for (const { timestampMs, count } of observations) {
    const index = (alignToHour(timestampMs) - startMs) / HOUR_MS;
    if (index < 0 || index >= hours) continue;
    if (seen[index] === 1) mergedObservations++;
    seen[index] = 1;
    counts[index] = (counts[index] ?? 0) + count;
  }
  let filledHours = 0;
  for (const flag of seen) if (flag === 0) filledHours++;
  return { series: { startMs, counts }, filledHours, mergedObservations };
}

/** The first `hours` of a series (its history before an origin). */
export function truncateSeries(series: HourlySeries, hours: number): HourlySeries {
  return { startMs: series.startMs, counts: series.counts.slice(0, Math.max(0, Math.min(hours, series.counts.length))) };
}

/** The timestamp of the hour `index` of a series (index may run past its end, into the forecast). */
export function timestampAt(series: HourlySeries, index: number): number {
  return series.startMs + index * HOUR_MS;
}

/** Whether `counts[from .. to)` holds only whole numbers, as usage counts do (and measurements mostly do not). */
export function holdsWholeCounts(counts: readonly number[], from: number, to: number): boolean {
  for (let i = Math.max(0, from); i < Math.min(counts.length, to); i++) {
    if (!Number.isInteger(counts[i])) return false;
  }
  return true;
}

export function mean(values: ArrayLike<number>, from = 0, to = values.length): number {
  const start = Math.max(0, from);
  const end = Math.min(values.length, to);
  if (end <= start) return 0;
  let sum = 0;
  for (let i = start; i < end; i++) sum += values[i] ?? 0;
  return sum / (end - start);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Linear interpolation between order statistics (type 7, the R and NumPy default); 0 for an empty list. */
export function quantile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * Math.min(1, Math.max(0, p));
  const below = Math.floor(position);
  const low = sorted[below] ?? 0;
  const high = sorted[Math.min(sorted.length - 1, below + 1)] ?? low;
  return low + (high - low) * (position - below);
}

export interface SeasonalIndexes {
  hourOfDay: number[];
  dayOfWeek: number[];
  /** Mean count per hour over the window. */
  level: number;
}

/** Sums of a window of a series by hour of the week (0 = Monday 00:00 UTC). */
export interface HourOfWeekCells {
  sum: Float64Array;
  sumOfSquares: Float64Array;
  hours: Float64Array;
  /** Hours in the window. */
  total: number;
}

/** One pass over `counts[from .. to)`, everything the seasonal estimates need. */
export function hourOfWeekCells(series: HourlySeries, from: number, to: number): HourOfWeekCells {
  const counts = series.counts;
  const start = Math.max(0, from);
  const end = Math.min(counts.length, to);
  const cells: HourOfWeekCells = {
    sum: new Float64Array(HOURS_PER_WEEK),
    sumOfSquares: new Float64Array(HOURS_PER_WEEK),
    hours: new Float64Array(HOURS_PER_WEEK),
    total: Math.max(0, end - start),
  };
  let w = hourOfWeek(timestampAt(series, start));
  for (let i = start; i < end; i++) {
    const value = counts[i]!;
    cells.sum[w]! += value;
    cells.sumOfSquares[w]! += value * value;
    cells.hours[w]! += 1;
    w = w === HOURS_PER_WEEK - 1 ? 0 : w + 1;
  }
  return cells;
}

/**
 * Multiplicative seasonal indexes over a window of a series: the hour of day (24) and the day of week (7, Monday first),
 * each 1 on average. A sparse series gives noisy cell means, so each index is shrunk toward 1 by `priorEvents`
 * pseudo-events at the overall mean (a gamma prior: it matters for a cell of a few events, not for one of thousands);
 * the day-of-week index is estimated on the series with the hour-of-day pattern divided out.
 */
export function seasonalIndexes(
  series: HourlySeries,
  options: { from?: number; to?: number; priorEvents?: number } = {},
): SeasonalIndexes {
  const cells = hourOfWeekCells(series, options.from ?? 0, options.to ?? series.counts.length);
  return indexesFromCells(cells, options.priorEvents);
}

export function indexesFromCells(cells: HourOfWeekCells, priorEvents = 3): SeasonalIndexes {
  const hourOfDayIndex = new Array<number>(HOURS_PER_DAY).fill(1);
  const dayOfWeekIndex = new Array<number>(7).fill(1);
  let total = 0;
  for (let w = 0; w < HOURS_PER_WEEK; w++) total += cells.sum[w]!;
  const level = cells.total > 0 ? total / cells.total : 0;
  if (level <= 0) return { hourOfDay: hourOfDayIndex, dayOfWeek: dayOfWeekIndex, level: 0 };
  for (let h = 0; h < HOURS_PER_DAY; h++) {
    let sum = 0;
    let hours = 0;
    for (let d = 0; d < 7; d++) {
      sum += cells.sum[d * HOURS_PER_DAY + h]!;
      hours += cells.hours[d * HOURS_PER_DAY + h]!;
    }
    hourOfDayIndex[h] = (sum + priorEvents) / (hours * level + priorEvents);
  }
  normalise(hourOfDayIndex);
  for (let d = 0; d < 7; d++) {
    let sum = 0;
    let expected = 0;
    for (let h = 0; h < HOURS_PER_DAY; h++) {
      sum += cells.sum[d * HOURS_PER_DAY + h]!;
      expected += cells.hours[d * HOURS_PER_DAY + h]! * level * hourOfDayIndex[h]!;
    }
    dayOfWeekIndex[d] = (sum + priorEvents) / (expected + priorEvents);
  }
  normalise(dayOfWeekIndex);
  return { hourOfDay: hourOfDayIndex, dayOfWeek: dayOfWeekIndex, level };
}

function normalise(index: number[]): void {
  const average = mean(index);
  if (average > 0) for (let i = 0; i < index.length; i++) index[i] = index[i]! / average;
}

/**
 * A synthetic usage series with a known shape, for tests, benchmarks and demonstrations: a daily cycle peaking at
 * `peakHour`, weekends scaled by `weekendFactor`, a day-to-day level that wanders (log random walk pulled back toward
 * `level`, step `drift`) and Poisson counts around the resulting mean. Randomness comes from `random` (uniform [0, 1)).
 */
export interface SyntheticUsageSpec {
  startMs: number;
  hours: number;
  /** Mean count per hour. */
  level: number;
  /** 0 (flat day) – 1 (quiet nights). */
  dailyAmplitude: number;
  weekendFactor: number;
  peakHour?: number;
  /** Standard deviation of the daily step of the log level; 0 for a steady level. */
  drift?: number;
}

export function syntheticUsageSeries(spec: SyntheticUsageSpec, random: () => number): HourlySeries {
  const peak = spec.peakHour ?? 14;
  const drift = spec.drift ?? 0;
  const weekAverage = (5 + 2 * spec.weekendFactor) / 7;
  const startMs = alignToHour(spec.startMs);
  const counts: number[] = [];
  let logLevel = 0;
  for (let i = 0; i < spec.hours; i++) {
    const when = startMs + i * HOUR_MS;
    if (i > 0 && hourOfDay(when) === 0) logLevel = 0.8 * logLevel + drift * standardNormal(random);
    const phase = (2 * Math.PI * (hourOfDay(when) - peak)) / HOURS_PER_DAY;
    const daily = Math.max(0, 1 + spec.dailyAmplitude * (0.8 * Math.cos(phase) + 0.2 * Math.cos(2 * phase)));
    const weekly = (dayOfWeek(when) >= 5 ? spec.weekendFactor : 1) / weekAverage;
    counts.push(poisson(spec.level * daily * weekly * Math.exp(logLevel), random));
  }
  return { startMs, counts };
}

function standardNormal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Knuth's product method for small means, the normal approximation (rounded, at least 0) above 30. */
function poisson(mean: number, random: () => number): number {
  if (mean <= 0) return 0;
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * standardNormal(random)));
  const limit = Math.exp(-mean);
  let k = 0;
  let product = random();
  while (product > limit) {
    k++;
    product *= random();
  }
  return k;
}
