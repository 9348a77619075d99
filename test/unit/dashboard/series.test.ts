import type { EntropyReport, RiskReply, UsageReply } from '../../../dashboard/src/model/api-types';
import { batterySeries, minEntropySeries, passProportionBounds, poolSeries, riskSeries, trendSeries, usageSeries } from '../../../dashboard/src/model/series';
import { formatRelative, formatTime } from '../../../dashboard/src/model/format';

const s = (iso: string): number => Date.parse(iso) / 1000;

describe('chart series from the API replies', () => {
  it('puts actual use, the forecast with its interval after it, the flagged hours and the count of each source on one hourly axis', () => {
    const usage: UsageReply = {
      key: 'k',
      evaluatedAt: '2026-03-01T01:30:00Z',
      actual: [{ at: '2026-03-01T00:00:00Z', count: 10, bySource: { 'app-report': 10, 'hsm-log': 4, 'envelope-api': 0 } }, { at: '2026-03-01T01:00:00Z', count: 90, bySource: { 'app-report': 60, 'hsm-log': 90, 'envelope-api': 0 } }],
      uses: [],
      forecast: { startAt: '2026-03-01T02:00:00Z', horizon: 2, method: 'combined', reason: 'r', modelVersion: 'm1', mean: [12, 14], lower: [8, 9], upper: [16, 19], intervalLevel: 0.9 },
      anomalies: { score: 3.2, noiseModel: null, note: null, flagged: [{ at: '2026-03-01T01:00:00Z', actual: 90, expected: 11, direction: 'spike', pValue: 0.001 }] },
    };
    expect(usageSeries(usage)).toEqual([
      [s('2026-03-01T00:00:00Z'), s('2026-03-01T01:00:00Z'), s('2026-03-01T02:00:00Z'), s('2026-03-01T03:00:00Z')],
      [10, 90, null, null],
      [null, null, 12, 14],
      [null, null, 8, 9],
      [null, null, 16, 19],
      [null, 90, null, null],
      [10, 60, null, null],
      [4, 90, null, null],
    ]);
  });

  it('orders risk evaluations oldest first (the API gives newest first)', () => {
    const item = (evaluatedAt: string, score: number) => ({ evaluationId: `e-${evaluatedAt}`, evaluatedAt, version: 1, rotate: false, score, threshold: 0.7, trigger: null, reason: 'r', predictedRotationAt: 'p', components: [], modelVersion: 'm', forecastMethod: 'f' });
    const risk: RiskReply = { key: 'k', items: [item('2026-03-02T00:00:00Z', 0.5), item('2026-03-01T00:00:00Z', 0.2)] };
    expect(riskSeries(risk)).toEqual([[s('2026-03-01T00:00:00Z'), s('2026-03-02T00:00:00Z')], [0.2, 0.5], [0.7, 0.7]]);
  });

  it('draws a key\'s risk trend as GET /risk-trends gives it, oldest first, on a seconds axis', () => {
    const points = [{ evaluatedAt: '2026-03-01T00:00:00.000Z', score: 0.2 }, { evaluatedAt: '2026-03-01T01:00:00.000Z', score: 0.35 }];
    expect(trendSeries(points)).toEqual([[s('2026-03-01T00:00:00Z'), s('2026-03-01T01:00:00Z')], [0.2, 0.35]]);
    expect(trendSeries([])).toEqual([[], []]);
  });

  const report = (at: string, credited: number, battery: EntropyReport['snapshot']['battery'], minEntropy: number | null): EntropyReport => ({
    nodeId: 'n',
    at,
    healthy: true,
    snapshot: { nodeId: 'n', at, sources: [], creditedBits: credited, minimumCreditedBits: 512, healthy: true, drbg: { instantiated: true, reseeds: 1, lastReseedAt: null }, battery },
    sources: [
      { name: 'hsm-rng', state: 'healthy', assessment: minEntropy === null ? null : { minEntropy, samples: 1000, at }, lastHealth: null },
      { name: 'os-rng', state: 'healthy', assessment: null, lastHealth: null },
    ],
  });
  const batteryA = { at: '2026-03-01T00:00:00Z', bits: 100_000, passed: 150, failed: ['Runs'], notApplicable: 0 };
  const reports = [report('2026-03-01T00:05:00Z', 900, batteryA, 6.1), report('2026-03-01T00:00:00Z', 600, batteryA, 6)];

  it('draws the pool against its minimum and each assessed source\'s min-entropy over time', () => {
    expect(poolSeries(reports)).toEqual([[s('2026-03-01T00:00:00Z'), s('2026-03-01T00:05:00Z')], [600, 900], [512, 512]]);
    expect(minEntropySeries(reports)).toEqual({ names: ['hsm-rng'], data: [[s('2026-03-01T00:00:00Z'), s('2026-03-01T00:05:00Z')], [6, 6.1]] });
  });

  it('counts each SP 800-22 run once, with the section 4.2.1 lower bound for its number of tests', () => {
    const [xs, proportion, lower] = batterySeries(reports);
    expect(xs).toEqual([s('2026-03-01T00:00:00Z')]);
    expect(proportion?.[0]).toBeCloseTo(150 / 151);
    expect(lower?.[0]).toBeCloseTo(0.99 - 3 * Math.sqrt((0.99 * 0.01) / 151));
    // NIST's own example: 1,000 sequences give the range 0.99 ± 0.0094392.
    expect(passProportionBounds(1000).lower).toBeCloseTo(0.9805608, 6);
  });
});

describe('how times read', () => {
  it('in UTC, and relative to now', () => {
    expect(formatTime('2026-03-01T08:05:09.123Z')).toBe('2026-03-01 08:05:09 UTC');
    expect(formatTime(null)).toBe('—');
    const now = Date.parse('2026-03-01T12:00:00Z');
    expect(formatRelative('2026-03-01T15:00:00Z', now)).toBe('in 3 h');
    expect(formatRelative('2026-03-01T11:55:00Z', now)).toBe('5 min ago');
    expect(formatRelative('2026-03-04T12:00:00Z', now)).toBe('in 3 d');
  });
});
