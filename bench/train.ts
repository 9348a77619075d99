/**
 * Benchmark of one retrain of the global forest: 1,000 synthetic keys with four weeks of hourly history each (levels
 * from a few operations a day to a thousand an hour), default training options. The baseline, measured in the same run,
 * is what every forecast needs anyway: the seasonal profile of each of the same keys.
 *
 *   node -r tsx/cjs bench/train.ts
 */
import {
  createSeededRandom,
  DEFAULT_FOREST_OPTIONS,
  seasonalProfile,
  trainForest,
} from '../domain/prediction';
import { HOURS, START, medianSeconds, seconds, syntheticKeys } from './prediction-support';

const KEYS = 1_000;

const series = syntheticKeys(KEYS, 2024);
const options = DEFAULT_FOREST_OPTIONS;
let trainingRows = 0;
const trainSeconds = seconds(() => {
  const model = trainForest({ series, random: createSeededRandom(1), trainedAt: new Date(START + HOURS * 3_600_000).toISOString() });
  trainingRows = model.toJSON().trainingRows;
});
const BASELINE_RUNS = 9;
const baselineSeconds = medianSeconds(BASELINE_RUNS, () => {
  for (const s of series) seasonalProfile(s, HOURS);
});

console.log(`Global forest retrain: ${KEYS.toLocaleString('en-US')} keys × ${HOURS} hours (${trainingRows.toLocaleString('en-US')} candidate rows)`);
console.log(`  options:  ${options.trees} trees × ${options.rowsPerTree} sampled rows, depth ≤ ${options.maxDepth}, ${options.featureFraction * 100}% of the features per tree`);
console.log(`  train:    ${trainSeconds.toFixed(2)} s`);
console.log(`  baseline: ${(baselineSeconds * 1000).toFixed(1)} ms (the seasonal profile of every key; median of ${BASELINE_RUNS} runs)`);
console.log(`  ratio:    train = ${(trainSeconds / baselineSeconds).toFixed(0)} × baseline`);
