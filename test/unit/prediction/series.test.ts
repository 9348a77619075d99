import { UserError } from '../../../domain/errors';
import {
  alignToHour,
  buildHourlySeries,
  createSeededRandom,
  dayOfWeek,
  HOUR_MS,
  hourOfDay,
  hourOfWeek,
  HOURS_PER_WEEK,
  seasonalIndexes,
  seasonalMeanForecast,
  seasonalNaiveForecast,
  seasonalProfile,
  syntheticUsageSeries,
} from '../../../domain/prediction';

/** Monday 2024-01-01 00:00 UTC. */
const MONDAY = Date.UTC(2024, 0, 1);

describe('hourly series', () => {
  it('aligns to the hour, adds counts that share an hour and fills missing hours with zero', () => {
    const built = buildHourlySeries([
      { timestampMs: MONDAY + 3 * HOUR_MS + 59 * 60_000, count: 2 },
      { timestampMs: MONDAY + 10 * 60_000, count: 5 },
      { timestampMs: MONDAY + 3 * HOUR_MS, count: 1 },
    ]);
    expect(built.series.startMs).toBe(MONDAY);
    expect(built.series.counts).toEqual([5, 0, 0, 3]);
    expect(built.filledHours).toBe(2);
    expect(built.mergedObservations).toBe(1);
  });

  it('extends to a requested range with zeros', () => {
    const built = buildHourlySeries([{ timestampMs: MONDAY + HOUR_MS, count: 4 }], { startMs: MONDAY, endMs: MONDAY + 4 * HOUR_MS });
    expect(built.series.counts).toEqual([0, 4, 0, 0]);
  });

  it('rejects negative or non-finite counts as the caller’s error', () => {
    expect(() => buildHourlySeries([{ timestampMs: MONDAY, count: -1 }])).toThrow(expect.objectContaining({ code: 'invalid_series' }));
    expect(() => buildHourlySeries([{ timestampMs: Number.NaN, count: 1 }])).toThrow(UserError);
    expect(() => buildHourlySeries([])).toThrow(expect.objectContaining({ code: 'invalid_series' }));
  });

  it('places hours in the UTC week starting Monday', () => {
    expect(hourOfWeek(MONDAY)).toBe(0);
    expect(hourOfWeek(MONDAY + 167 * HOUR_MS)).toBe(167);
    expect(hourOfWeek(MONDAY + HOURS_PER_WEEK * HOUR_MS)).toBe(0);
    expect(dayOfWeek(Date.UTC(2024, 0, 7, 12))).toBe(6);
    expect(hourOfDay(Date.UTC(2024, 0, 3, 17, 30))).toBe(17);
    expect(alignToHour(Date.UTC(2024, 0, 3, 17, 30))).toBe(Date.UTC(2024, 0, 3, 17));
    expect(hourOfWeek(Date.UTC(1969, 11, 31, 23))).toBe(71);
  });

  it('recovers the daily and weekly indexes of a noiseless series', () => {
    const counts = Array.from({ length: 4 * HOURS_PER_WEEK }, (_, i) => {
      const hour = i % 24;
      const weekend = Math.floor((i % HOURS_PER_WEEK) / 24) >= 5;
      return (hour >= 9 && hour < 17 ? 400 : 100) * (weekend ? 0.5 : 1);
    });
    const indexes = seasonalIndexes({ startMs: MONDAY, counts });
    expect(indexes.hourOfDay[12]! / indexes.hourOfDay[3]!).toBeCloseTo(4, 2);
    expect(indexes.dayOfWeek[6]! / indexes.dayOfWeek[2]!).toBeCloseTo(0.5, 2);
  });
});

describe('seasonal baselines', () => {
  const counts = Array.from({ length: 4 * HOURS_PER_WEEK }, (_, i) => i);

  it('seasonal naive repeats the last day or week', () => {
    const origin = 2 * HOURS_PER_WEEK;
    expect(seasonalNaiveForecast(counts, origin, 3, 24)).toEqual([origin - 24, origin - 23, origin - 22]);
    expect(seasonalNaiveForecast(counts, origin, 26, 24)[25]).toBe(origin - 24 + 1);
    expect(seasonalNaiveForecast(counts, origin, 2, HOURS_PER_WEEK)).toEqual([origin - HOURS_PER_WEEK, origin - HOURS_PER_WEEK + 1]);
  });

  it('the seasonal mean averages the same hour of the last four weeks, or of the weeks there are', () => {
    const origin = 4 * HOURS_PER_WEEK;
    // Hour origin + 0 of the week: the values at origin − 168, − 336, − 504, − 672.
    expect(seasonalMeanForecast(counts, origin, 1)).toEqual([origin - 2.5 * HOURS_PER_WEEK]);
    expect(seasonalMeanForecast(counts, 2 * HOURS_PER_WEEK, 1)).toEqual([HOURS_PER_WEEK / 2]);
    expect(() => seasonalMeanForecast(counts, 100, 1)).toThrow(expect.objectContaining({ code: 'insufficient_history' }));
  });

  it('the profile leans on the separable shape for a sparse key and on the hour-of-week means for a dense one', () => {
    const sparse = syntheticUsageSeries({ startMs: MONDAY, hours: 4 * HOURS_PER_WEEK, level: 1, dailyAmplitude: 0.8, weekendFactor: 0.5 }, createSeededRandom(3));
    expect(seasonalProfile(sparse, sparse.counts.length).shrinkage).toBeGreaterThan(0.8);
    // Dense, and weekends peak in the evening while weekdays peak in the afternoon: not separable.
    const weekday = syntheticUsageSeries({ startMs: MONDAY, hours: 4 * HOURS_PER_WEEK, level: 500, dailyAmplitude: 0.9, weekendFactor: 1 }, createSeededRandom(4));
    const weekend = syntheticUsageSeries(
      { startMs: MONDAY, hours: 4 * HOURS_PER_WEEK, level: 500, dailyAmplitude: 0.9, weekendFactor: 1, peakHour: 21 },
      createSeededRandom(5),
    );
    const mixed = { startMs: MONDAY, counts: weekday.counts.map((value, i) => (dayOfWeek(MONDAY + i * HOUR_MS) >= 5 ? weekend.counts[i]! : value)) };
    const profile = seasonalProfile(mixed, mixed.counts.length);
    expect(profile.shrinkage).toBeLessThan(0.2);
    // Saturday 21:00 is a peak, Wednesday 21:00 is not.
    expect(profile.byHourOfWeek[5 * 24 + 21]!).toBeGreaterThan(1.5 * profile.byHourOfWeek[2 * 24 + 21]!);
  });
});
