import type { EntropyReport, RiskReply, RiskTrendsReply, UsageReply } from './api-types';

/** uPlot's data: x in seconds, then one array per series, aligned; null where a series has no point. */
export type Aligned = [number[], ...Array<Array<number | null>>];

const seconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);
const HOUR_S = 3600;

/**
 * Actual hourly counts, the forecast with its interval after them, the flagged anomalies, and each hour as each usage
 * source counted it, on one hourly x axis: [x, actual, mean, lower, upper, anomalies, app-report, hsm-log].
 */
export function usageSeries(usage: UsageReply): Aligned {
  type Point = { actual?: number; mean?: number; lower?: number; upper?: number; anomaly?: number; reported?: number; hsmLog?: number };
  const points = new Map<number, Point>();
  const at = (x: number) => {
    let point = points.get(x);
    if (!point) points.set(x, (point = {}));
    return point;
  };
  for (const row of usage.actual) {
    const point = at(seconds(row.at));
    point.actual = row.count;
    point.reported = row.bySource['app-report'];
    point.hsmLog = row.bySource['hsm-log'];
  }
  const forecast = usage.forecast;
  if (forecast) {
    const start = seconds(forecast.startAt);
    forecast.mean.forEach((mean, i) => {
      const point = at(start + i * HOUR_S);
      point.mean = mean;
      point.lower = forecast.lower[i] ?? mean;
      point.upper = forecast.upper[i] ?? mean;
    });
  }
  for (const flagged of usage.anomalies?.flagged ?? []) at(seconds(flagged.at)).anomaly = flagged.actual;
  const xs = [...points.keys()].sort((a, b) => a - b);
  const pick = (name: keyof Point) => xs.map((x) => points.get(x)?.[name] ?? null);
  return [xs, pick('actual'), pick('mean'), pick('lower'), pick('upper'), pick('anomaly'), pick('reported'), pick('hsmLog')];
}

/** Risk scores oldest first against their threshold: [x, score, threshold]. */
export function riskSeries(risk: RiskReply): Aligned {
  const items = [...risk.items].sort((a, b) => Date.parse(a.evaluatedAt) - Date.parse(b.evaluatedAt));
  return [items.map((item) => seconds(item.evaluatedAt)), items.map((item) => item.score), items.map((item) => item.threshold)];
}

/** One key's risk trend as GET /risk-trends gives it (oldest first): [x, score]. */
export function trendSeries(points: RiskTrendsReply['trends'][number]['points']): [number[], number[]] {
  return [points.map((point) => seconds(point.evaluatedAt)), points.map((point) => point.score)];
}

/** Credited pool bits after each harvest, against the minimum: [x, credited, minimum]. */
export function poolSeries(reports: readonly EntropyReport[]): Aligned {
  const ordered = [...reports].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  return [ordered.map((r) => seconds(r.at)), ordered.map((r) => r.snapshot.creditedBits), ordered.map((r) => r.snapshot.minimumCreditedBits)];
}

/** Each source's assessed min-entropy (bits per sample) as the harvests reported it: x, then one series per source. */
export function minEntropySeries(reports: readonly EntropyReport[]): { names: string[]; data: Aligned } {
  const ordered = [...reports].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const names = [...new Set(ordered.flatMap((r) => r.sources.filter((s) => s.assessment).map((s) => s.name)))].sort();
  const data: Aligned = [ordered.map((r) => seconds(r.at))];
  for (const name of names) data.push(ordered.map((r) => r.sources.find((s) => s.name === name)?.assessment?.minEntropy ?? null));
  return { names, data };
}

/**
 * SP 800-22 section 4.2.1: with m tests at α = 0.01 the proportion that pass should lie within
 * p̂ ± 3·sqrt(p̂(1−p̂)/m), p̂ = 0.99. The lower bound is what a healthy generator stays above.
 */
export function passProportionBounds(tests: number, alpha = 0.01): { expected: number; lower: number; upper: number } {
  const expected = 1 - alpha;
  const spread = tests > 0 ? 3 * Math.sqrt((expected * alpha) / tests) : 0;
  return { expected, lower: expected - spread, upper: Math.min(1, expected + spread) };
}

/** The battery's pass proportion after each harvest that ran it, with the section 4.2.1 lower bound: [x, proportion, lower]. */
export function batterySeries(reports: readonly EntropyReport[]): Aligned {
  const byRun = new Map<string, { passed: number; failed: number }>();
  for (const report of reports) {
    const battery = report.snapshot.battery;
    if (battery) byRun.set(battery.at, { passed: battery.passed, failed: battery.failed.length });
  }
  const runs = [...byRun].sort(([a], [b]) => Date.parse(a) - Date.parse(b));
  const proportion = ({ passed, failed }: { passed: number; failed: number }): number | null => (passed + failed > 0 ? passed / (passed + failed) : null);
  return [
    runs.map(([at]) => seconds(at)),
    runs.map(([, run]) => proportion(run)),
    runs.map(([, run]) => (run.passed + run.failed > 0 ? passProportionBounds(run.passed + run.failed).lower : null)),
  ];
}
