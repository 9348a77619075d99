import {
  countLowerTail,
  countUpperTail,
  createSeededRandom,
  detectAnomalies,
  HOURS_PER_WEEK,
  type HourlySeries,
  inverseStandardNormal,
  negativeBinomialQuantile,
  syntheticUsageSeries,
} from '../../../domain/prediction';

const MONDAY = Date.UTC(2024, 0, 1);
const HOURS = 5 * HOURS_PER_WEEK;

function withChange(series: HourlySeries, index: number, value: (count: number) => number): HourlySeries {
  return { startMs: series.startMs, counts: series.counts.map((count, i) => (i === index ? value(count) : count)) };
}

describe('count distributions', () => {
  it('gives Poisson tails when the dispersion is 1', () => {
    // P(X ≥ 3 | μ = 1) = 1 − e⁻¹ (1 + 1 + 1/2)
    expect(countUpperTail(3, 1)).toBeCloseTo(1 - Math.exp(-1) * 2.5, 14);
    expect(countLowerTail(0, 2)).toBeCloseTo(Math.exp(-2), 14);
    // Far tails keep their precision: P(X ≥ 30 | μ = 1) ≈ e⁻¹ / 30!.
    expect(countUpperTail(30, 1) / (Math.exp(-1) / 2.652528598121911e32)).toBeCloseTo(1, 1);
    expect(countUpperTail(0, 1)).toBe(1);
  });

  it('gives negative-binomial tails and quantiles for overdispersed counts', () => {
    // Mean 2, variance 4: r = 2, p = 1/2, so P(X = 0) = 1/4 and P(X = 1) = 2 · 1/4 · 1/2.
    expect(countLowerTail(0, 2, 2)).toBeCloseTo(0.25, 14);
    expect(countLowerTail(1, 2, 2)).toBeCloseTo(0.5, 14);
    expect(countUpperTail(2, 2, 2)).toBeCloseTo(0.5, 14);
    expect(negativeBinomialQuantile(2, 2, 0.5)).toBe(1);
    expect(negativeBinomialQuantile(0, 3, 0.95)).toBe(0);
    expect(negativeBinomialQuantile(1000, 1, 0.95)).toBe(Math.round(1000 + 1.6448536269514722 * Math.sqrt(1000)));
  });

  it('inverts the standard normal distribution', () => {
    expect(inverseStandardNormal(0.975)).toBeCloseTo(1.959963984540054, 8);
    expect(inverseStandardNormal(0.5)).toBeCloseTo(0, 12);
    expect(inverseStandardNormal(1e-6)).toBeCloseTo(-4.753424308822899, 7);
  });
});

describe('anomaly detection', () => {
  const dense = syntheticUsageSeries({ startMs: MONDAY, hours: HOURS, level: 400, dailyAmplitude: 0.8, weekendFactor: 0.5 }, createSeededRandom(61));
  const sparse = syntheticUsageSeries({ startMs: MONDAY, hours: HOURS, level: 1.2, dailyAmplitude: 0.8, weekendFactor: 0.6 }, createSeededRandom(62));
  const spikeAt = HOURS - 7;

  it('flags nothing in a dense key behaving as usual', () => {
    const report = detectAnomalies(dense);
    expect(report.noiseModel).toBe('robust-z');
    expect(report.evaluatedHours).toBe(24);
    expect(report.flagged).toEqual([]);
    expect(report.score).toBeLessThan(0.5);
  });

  it('flags an injected spike in a dense key, and only that hour', () => {
    const report = detectAnomalies(withChange(dense, spikeAt, (count) => count * 2));
    expect(report.flagged.map((hour) => hour.index)).toEqual([spikeAt]);
    expect(report.flagged[0]).toMatchObject({ direction: 'spike', observed: dense.counts[spikeAt]! * 2, at: new Date(MONDAY + spikeAt * 3_600_000).toISOString() });
    expect(report.flagged[0]!.expected).toBeGreaterThan(0.7 * dense.counts[spikeAt]!);
    expect(report.score).toBeGreaterThan(0.9);
  });

  it('flags a dense key going silent at a busy hour as a drop', () => {
    const busy = HOURS - 24 + 14;
    const report = detectAnomalies(withChange(dense, busy, () => 0));
    expect(report.flagged).toEqual([expect.objectContaining({ index: busy, direction: 'drop', observed: 0 })]);
  });

  it('judges a sparse key by a count distribution: ordinary hours pass, a burst is flagged', () => {
    const calm = detectAnomalies(sparse);
    expect(calm.noiseModel).toBe('negative-binomial');
    expect(calm.flagged).toEqual([]);
    expect(calm.score).toBeLessThan(0.5);
    const burst = detectAnomalies(withChange(sparse, spikeAt, (count) => count + 15));
    expect(burst.flagged.map((hour) => hour.index)).toEqual([spikeAt]);
    expect(burst.flagged[0]!.pValue).toBeLessThan(1e-6);
    expect(burst.score).toBe(1);
  });

  it('does not take a quiet hour of a sparse key for a drop', () => {
    const quietPeak = detectAnomalies(withChange(sparse, HOURS - 24 + 14, () => 0));
    expect(quietPeak.flagged).toEqual([]);
  });

  it('keeps flagged hours, with the score rising with the surprise', () => {
    const small = detectAnomalies(withChange(dense, spikeAt, (count) => Math.round(count * 1.35)));
    const large = detectAnomalies(withChange(dense, spikeAt, (count) => count * 3));
    expect(small.flagged).toHaveLength(1);
    expect(small.score).toBeGreaterThanOrEqual(0.5);
    expect(large.score).toBeGreaterThanOrEqual(small.score);
    expect(large.minPValue).toBeLessThan(small.minPValue);
  });

  it('judges a dense key at its level of the hours before: a busier day is not a day of spikes', () => {
    // The last day and a half runs 15 % above the four weeks before it: four times the Poisson noise at the peak.
    const busier = { startMs: dense.startMs, counts: dense.counts.map((count, i) => (i >= HOURS - 36 ? Math.round(count * 1.15) : count)) };
    expect(detectAnomalies(busier).flagged).toEqual([]);
    const report = detectAnomalies(withChange(busier, spikeAt, (count) => count * 2));
    expect(report.flagged.map((hour) => hour.index)).toEqual([spikeAt]);
    expect(report.flagged[0]!.expected).toBeGreaterThan(dense.counts[spikeAt]!);
  });

  it('does not let an earlier spike of a sparse key widen its noise enough to hide the next', () => {
    // Two bursts in the week the dispersion is fitted to, then one of the same size in the window.
    const earlier = [HOURS - 24 - 100, HOURS - 24 - 40];
    const burst = (count: number): number => count + 9;
    const series = withChange(withChange(withChange(sparse, earlier[0]!, burst), earlier[1]!, burst), spikeAt, burst);
    const report = detectAnomalies(series);
    expect(report.noiseParameter).toBeLessThan(1.3);
    expect(report.flagged.map((hour) => hour.index)).toEqual([spikeAt]);
  });

  it('refuses options that cannot work and histories too short to judge', () => {
    expect(() => detectAnomalies(dense, { alpha: 0 })).toThrow(expect.objectContaining({ code: 'invalid_anomaly_options' }));
    expect(() => detectAnomalies({ startMs: MONDAY, counts: dense.counts.slice(0, 30) })).toThrow(expect.objectContaining({ code: 'insufficient_history' }));
  });
});
