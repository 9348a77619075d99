import { RandomForestRegression } from 'ml-random-forest';
import {
  createSeededRandom,
  FEATURE_COUNT,
  FEATURE_NAMES,
  forecastKey,
  forecastKeys,
  ForestModel,
  forestForecasts,
  type ForestModelJson,
  HOURS_PER_WEEK,
  type HourlySeries,
  maseScale,
  runBacktest,
  syntheticUsageSeries,
  trainForest,
  truncateSeries,
} from '../../../domain/prediction';
import { flattenTrainedTree } from '../../../domain/prediction/forest-model';

const MONDAY = Date.UTC(2024, 0, 1);
/** Eight weeks: four of history before the first of the 28 daily origins, and the four weeks they cover. */
const HOURS = 8 * HOURS_PER_WEEK;
/** Small and quick, for tests; the defaults take a few seconds per training. */
const TEST_FOREST = { trees: 8, rowsPerTree: 160 };

/** Hundreds an hour, busy afternoons, quiet weekends, a level that wanders from day to day. */
function denseSeries(seed: number, hours = HOURS): HourlySeries {
  return syntheticUsageSeries({ startMs: MONDAY, hours, level: 300, dailyAmplitude: 0.8, weekendFactor: 0.4, drift: 0.05 }, createSeededRandom(seed));
}

/** About 1.5 an hour on average (0.3 at night, 3 in the afternoon): Poisson counts. */
function sparseSeries(seed: number, hours = HOURS): HourlySeries {
  return syntheticUsageSeries({ startMs: MONDAY, hours, level: 1.5, dailyAmplitude: 0.9, weekendFactor: 0.6, drift: 0.05 }, createSeededRandom(seed));
}

function mase(result: ReturnType<typeof runBacktest>, name: string): number {
  const method = result.methods.find((m) => m.name === name);
  if (method === undefined) throw new Error(`no method ${name}`);
  return method.mase;
}

describe('backtest of the shipped forecaster', () => {
  it.each([
    ['dense', denseSeries(11)],
    ['sparse', sparseSeries(12)],
  ])('beats the seasonal naive 168 h and the four-week seasonal mean on a %s series', (_kind, series) => {
    const result = runBacktest(series, { horizon: 24, seed: 5, forest: TEST_FOREST });
    expect(result.origins).toBe(28);
    expect(result.methods.map((m) => m.name)).toEqual(['seasonal-naive-24', 'seasonal-naive-168', 'seasonal-mean-4w', 'forest', 'shipped']);
    expect(mase(result, 'shipped')).toBeLessThan(mase(result, 'seasonal-naive-168'));
    expect(mase(result, 'shipped')).toBeLessThan(mase(result, 'seasonal-mean-4w'));
  });

  it('places one origin a day over the last four weeks and refuses a series without two weeks before the first', () => {
    const result = runBacktest(denseSeries(13, 2 * HOURS_PER_WEEK + 24 + 2 * 24), { forest: TEST_FOREST });
    expect(result.origins).toBe(3);
    expect(Date.parse(result.lastOriginAt) - Date.parse(result.firstOriginAt)).toBe(2 * 24 * 3_600_000);
    expect(() => runBacktest(denseSeries(13, 2 * HOURS_PER_WEEK + 23))).toThrow(expect.objectContaining({ code: 'series_too_short' }));
  });

  it('floors a zero MASE scale at one event over the training part', () => {
    const silent = new Array<number>(400).fill(0);
    expect(maseScale(silent, 400)).toEqual({ scale: 1 / 376, floored: true });
    const busy = Array.from({ length: 48 }, (_, i) => (i < 24 ? 1 : 3));
    expect(maseScale(busy, 48)).toEqual({ scale: 2, floored: false });
  });
});

describe('forecasts', () => {
  const dense = denseSeries(21, 5 * HOURS_PER_WEEK);
  const model = trainForest({ series: [dense, sparseSeries(22, 5 * HOURS_PER_WEEK)], random: createSeededRandom(1), trainedAt: '2024-02-05T00:00:00.000Z', options: TEST_FOREST });

  it('uses the baseline alone, and says why, with less than two weeks of history', () => {
    const forecast = forecastKey({ series: truncateSeries(dense, 10 * 24), horizon: 48 }, model);
    expect(forecast.method).toBe('baseline-only');
    expect(forecast.reason).toMatch(/two weeks/);
    expect(forecast.modelVersion).toBeNull();
    expect(forecast.components.map((c) => c.name)).toEqual(['seasonal-profile']);
    expect(forecast.mean).toHaveLength(48);
    expect(forecastKey({ series: dense }, null)).toMatchObject({ method: 'baseline-only', reason: 'no forest model is available' });
  });

  it('combines the forest with the seasonal forecasts, weighted by validation, and names the model', () => {
    const forecast = forecastKey({ series: dense }, model);
    expect(forecast.method).toBe('combined');
    expect(forecast.modelVersion).toBe(model.modelVersion);
    expect(forecast.horizon).toBe(HOURS_PER_WEEK);
    expect(forecast.startAt).toBe(new Date(MONDAY + 5 * HOURS_PER_WEEK * 3_600_000).toISOString());
    const weights = forecast.components.map((c) => c.weight);
    expect(weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(forecast.components.every((c) => c.validationMae !== null && c.validationMae > 0)).toBe(true);
    expect(forecast.validationHours).toBe(72);
    forecast.mean.forEach((mean, h) => {
      expect(forecast.lower[h]!).toBeLessThanOrEqual(mean);
      expect(forecast.upper[h]!).toBeGreaterThanOrEqual(mean);
    });
    expect(forecast.cumulative).toBeCloseTo(forecast.mean.reduce((a, b) => a + b, 0), 6);
  });

  it('covers most actual hours with its 90% interval', () => {
    const series = denseSeries(23, 6 * HOURS_PER_WEEK);
    const origins = Array.from({ length: 7 }, (_, k) => 5 * HOURS_PER_WEEK + k * 24);
    const forecasts = forecastKeys(origins.map((origin) => ({ series: truncateSeries(series, origin), horizon: 24 })), model);
    let inside = 0;
    forecasts.forEach((forecast, k) => {
      forecast.mean.forEach((_, h) => {
        const actual = series.counts[origins[k]! + h]!;
        if (actual >= forecast.lower[h]! && actual <= forecast.upper[h]!) inside++;
      });
    });
    expect(inside / (7 * 24)).toBeGreaterThan(0.7);
  });

  it('gives sparse keys a count interval and a whole-count median', () => {
    const forecast = forecastKey({ series: sparseSeries(24, 5 * HOURS_PER_WEEK), horizon: 24 }, model);
    expect(forecast.interval).toBe('negative-binomial');
    expect(forecast.median.every((value) => Number.isInteger(value))).toBe(true);
    expect(forecast.lower.every((value, h) => value <= forecast.median[h]! && forecast.median[h]! <= forecast.upper[h]!)).toBe(true);
  });

  it('keeps a week of recursive forest forecasts for a bursty sparse key near its real level', () => {
    const random = createSeededRandom(31);
    const base = sparseSeries(25, 6 * HOURS_PER_WEEK);
    const bursty = { startMs: MONDAY, counts: base.counts.map((value) => (random() < 0.02 ? value + 20 : value)) };
    const own = trainForest({ series: [bursty], before: 5 * HOURS_PER_WEEK, random: createSeededRandom(2), trainedAt: '2024-02-05T00:00:00.000Z', options: TEST_FOREST });
    const [path] = forestForecasts(own, [{ series: bursty, origin: 5 * HOURS_PER_WEEK, horizon: HOURS_PER_WEEK }]);
    const forecastMean = path!.reduce((a, b) => a + b, 0) / HOURS_PER_WEEK;
    const actualMean = bursty.counts.slice(5 * HOURS_PER_WEEK).reduce((a, b) => a + b, 0) / HOURS_PER_WEEK;
    expect(forecastMean).toBeLessThan(2 * actualMean);
    expect(forecastMean).toBeGreaterThan(0.5 * actualMean);
  });

  it('batches keys without changing any key’s forecast', () => {
    const other = sparseSeries(26, 4 * HOURS_PER_WEEK);
    const [a, b] = forecastKeys([{ series: dense, horizon: 24 }, { series: other, horizon: 12 }], model);
    expect(a).toEqual(forecastKey({ series: dense, horizon: 24 }, model));
    expect(b).toEqual(forecastKey({ series: other, horizon: 12 }, model));
  });
});

describe('the forest model', () => {
  const series = [denseSeries(41, 4 * HOURS_PER_WEEK), sparseSeries(42, 4 * HOURS_PER_WEEK)];
  const train = (seed: number): ForestModel =>
    trainForest({ series, random: createSeededRandom(seed), trainedAt: '2024-01-29T00:00:00.000Z', options: { trees: 4, rowsPerTree: 120 } });

  it('survives a JSON round trip with the same version and predictions', () => {
    const model = train(7);
    const loaded = ForestModel.fromJSON(JSON.parse(JSON.stringify(model.toJSON())));
    expect(loaded.modelVersion).toBe(model.modelVersion);
    expect(model.modelVersion).toMatch(/^keyrotor-forest\/1#[0-9a-f]{8}$/);
    const rows = Float64Array.from({ length: 5 * FEATURE_COUNT }, (_, i) => (i * 7919) % 13 / 5);
    expect(Array.from(loaded.predict(rows, 5))).toEqual(Array.from(model.predict(rows, 5)));
  });

  it('versions by content: the same seed gives the same model, another seed another', () => {
    expect(train(7).modelVersion).toBe(train(7).modelVersion);
    expect(train(8).modelVersion).not.toBe(train(7).modelVersion);
  });

  it('predicts exactly as ml-random-forest does with the trees it trained', () => {
    const random = createSeededRandom(9);
    const x = Array.from({ length: 200 }, () => Array.from({ length: FEATURE_COUNT }, () => Math.round(random() * 40) / 10));
    const y = x.map((row) => row[0]! * 2 - row[5]! + (row[30]! > 2 ? 1 : 0) + random() / 10);
    const reference = new RandomForestRegression({ nEstimators: 1, maxFeatures: 0.5, replacement: false, useSampleBagging: false, noOOB: true, seed: 3, treeOptions: { maxDepth: 6, minNumSamples: 4 } });
    reference.train(x, y);
    const json: ForestModelJson = {
      ...train(7).toJSON(),
      trees: [flattenTrainedTree(reference.toJSON())],
    };
    const model = ForestModel.fromJSON(json);
    const probe = Array.from({ length: 50 }, () => Array.from({ length: FEATURE_COUNT }, () => Math.round(random() * 40) / 10));
    expect(Array.from(model.predict(Float64Array.from(probe.flat()), probe.length))).toEqual(reference.predict(probe));
  });

  it('refuses a model it cannot use instead of guessing', () => {
    const json = train(7).toJSON();
    const broken = (change: Record<string, unknown>): unknown => ({ ...json, ...change });
    const cyclic = { ...json.trees[0]!, left: json.trees[0]!.left.map((child) => (child > 0 ? 0 : child)) };
    for (const bad of [null, broken({ format: 'other/1' }), broken({ featureNames: FEATURE_NAMES.slice(1) }), broken({ trees: [] }), broken({ trees: [cyclic] })]) {
      expect(() => ForestModel.fromJSON(bad)).toThrow(expect.objectContaining({ code: 'invalid_forest_model' }));
    }
  });

  it('needs series with more than a week of history', () => {
    expect(() => trainForest({ series: [denseSeries(43, 150)], random: createSeededRandom(1), trainedAt: '2024-01-07T06:00:00Z' })).toThrow(
      expect.objectContaining({ code: 'insufficient_history' }),
    );
  });
});
