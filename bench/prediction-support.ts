import { HOURS_PER_WEEK, createSeededRandom, syntheticUsageSeries, type HourlySeries } from '../domain/prediction';

/** Four weeks of hourly history per synthetic key, from 2024-01-01. */
export const HOURS = 4 * HOURS_PER_WEEK;
export const START = Date.UTC(2024, 0, 1);

/** Synthetic keys spanning five orders of magnitude of use, with daily and weekly patterns and drift. */
export function syntheticKeys(count: number, seed: number): HourlySeries[] {
  const random = createSeededRandom(seed);
  return Array.from({ length: count }, () =>
    syntheticUsageSeries(
      {
        startMs: START,
        hours: HOURS,
        level: 10 ** (-1 + 4 * random()),
        dailyAmplitude: 0.3 + 0.7 * random(),
        weekendFactor: 0.2 + random(),
        peakHour: Math.floor(24 * random()),
        drift: 0.1 * random(),
      },
      random,
    ),
  );
}

export function seconds(run: () => void): number {
  const start = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The baseline is quick: its median over several runs, after one to warm up, is steadier than one run. */
export function medianSeconds(runs: number, run: () => void): number {
  run();
  const times = Array.from({ length: runs }, () => seconds(run)).sort((a, b) => a - b);
  return times[Math.floor(runs / 2)]!;
}
