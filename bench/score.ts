/**
 * Benchmark of scoring 10,000 keys, as an evaluation round does: the week-ahead forecast (forest and seasonal
 * forecasts, validated and combined; the forest's 168 recursive steps batched across all keys), anomaly detection over
 * the last day, and the risk score. The baseline, measured in the same run, is the seasonal profile forecast alone for
 * the same keys, the cheapest forecast a rotation decision could rest on.
 *
 *   node -r tsx/cjs bench/score.ts
 */
import {
  computeRisk,
  createSeededRandom,
  detectAnomalies,
  forecastKeys,
  HOURS_PER_WEEK,
  seasonalProfileForecast,
  trainForest,
} from '../domain/prediction';
import { HOURS, START, medianSeconds, seconds, syntheticKeys } from './prediction-support';

const KEYS = 10_000;
const NOW = START + HOURS * 3_600_000;
/** Keys forecast per batch: the batch is what amortises a forest step. */
const BATCH = 1_000;

const series = syntheticKeys(KEYS, 7);
process.stderr.write('training the model on the first 1,000 keys…\n');
const model = trainForest({ series: series.slice(0, 1_000), random: createSeededRandom(1), trainedAt: new Date(NOW).toISOString() });

let rotateCandidates = 0;
let flaggedKeys = 0;
const scoreSeconds = seconds(() => {
  for (let from = 0; from < KEYS; from += BATCH) {
    const batch = series.slice(from, from + BATCH);
    const forecasts = forecastKeys(batch.map((s) => ({ series: s, horizon: HOURS_PER_WEEK })), model);
    batch.forEach((s, i) => {
      const forecast = forecasts[i]!;
      const anomaly = detectAnomalies(s);
      if (anomaly.flagged.length > 0) flaggedKeys++;
      const risk = computeRisk({
        nowMs: NOW,
        key: { id: `key-${from + i}`, appIds: ['bench'], sensitivity: 'confidential' },
        version: { createdAtMs: NOW - 30 * 86_400_000, usedCount: 0 },
        policy: { maxAgeMs: 90 * 86_400_000, capacityLimit: 1_000_000 },
        forecast,
        anomaly,
      });
      if (risk.score >= 0.8) rotateCandidates++;
    });
    process.stderr.write(`\rscored ${Math.min(from + BATCH, KEYS).toLocaleString('en-US')} of ${KEYS.toLocaleString('en-US')} keys`);
  }
  process.stderr.write('\n');
});
const BASELINE_RUNS = 5;
const baselineSeconds = medianSeconds(BASELINE_RUNS, () => {
  for (const s of series) seasonalProfileForecast(s, HOURS, HOURS_PER_WEEK);
});

console.log(`Scoring ${KEYS.toLocaleString('en-US')} keys × ${HOURS} hours of history, ${HOURS_PER_WEEK}-hour forecasts (model ${model.modelVersion})`);
console.log(`  forecast + anomaly + risk: ${scoreSeconds.toFixed(2)} s (${((scoreSeconds / KEYS) * 1000).toFixed(2)} ms a key)`);
console.log(`  baseline: ${baselineSeconds.toFixed(3)} s (the seasonal profile forecast alone; median of ${BASELINE_RUNS} runs)`);
console.log(`  ratio:    scoring = ${(scoreSeconds / baselineSeconds).toFixed(1)} × baseline`);
console.log(`  ${flaggedKeys} keys with a flagged hour (synthetic keys have none injected: the false alarm rate), ${rotateCandidates} at risk ≥ 0.8`);
