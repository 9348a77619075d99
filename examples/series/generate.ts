/**
 * Writes the synthetic usage series next to this file, for `keyrotor backtest` (with and without --anomalies): eight
 * weeks of hourly counts from Monday 2024-01-01, each with a daily cycle (quiet nights), quieter weekends, a level that
 * wanders from day to day (domain/prediction/series.ts, syntheticUsageSeries) and Poisson counts. Seeded, so a rerun
 * writes the same files.
 *
 *   npx tsx examples/series/generate.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSeededRandom, HOUR_MS, HOURS_PER_WEEK, syntheticUsageSeries } from '../../domain/prediction';

const START = Date.UTC(2024, 0, 1);
/** Mean operations an hour: a busy key, one used about once an hour, one used a couple of times a day. */
const SERIES = { dense: 300, sparse: 1, 'very-sparse': 0.1 } as const;

for (const [name, level] of Object.entries(SERIES)) {
  const series = syntheticUsageSeries({ startMs: START, hours: 8 * HOURS_PER_WEEK, level, dailyAmplitude: 0.8, weekendFactor: 0.5, drift: 0.05 }, createSeededRandom(2026));
  const rows = series.counts.map((count, i) => `${new Date(series.startMs + i * HOUR_MS).toISOString()},${count}`);
  writeFileSync(join(__dirname, `${name}.csv`), `timestamp,count\n${rows.join('\n')}\n`);
}
