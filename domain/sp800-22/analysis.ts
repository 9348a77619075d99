import type { TestName, TestResult } from './result';
import { igamc } from './special-functions';

/** The significance level NIST STS uses (ALPHA in defs.h). */
export const DEFAULT_ALPHA = 0.01;
/** SP 800-22 §4.2.2: p-values whose uniformity P-value falls below this are flagged. */
const UNIFORMITY_THRESHOLD = 0.0001;

/** Section 4.2 over several sequences, for one p-value of one test (one row of NIST STS's finalAnalysisReport.txt). */
export interface StreamAnalysis {
  test: TestName;
  subtest: string;
  /** Sequences that count: those the test applied to (for the random excursion tests, those with a p-value above 0). */
  sampleSize: number;
  passed: number;
  /** The acceptable range of `passed`, p̂ ± 3√(p̂(1−p̂)/s) times s, truncated as NIST STS does; null for no sample. */
  minimumPassed: number | null;
  maximumPassed: number | null;
  /** False when `passed` falls outside [minimumPassed, maximumPassed]; null for no sample. */
  proportionAcceptable: boolean | null;
  /** p-values per tenth of [0, 1], C1 … C10. */
  histogram: number[];
  /** §4.2.2: the χ² P-value of that histogram against the uniform one; null below 10 sequences, as NIST STS. */
  uniformityPValue: number | null;
  uniformityAcceptable: boolean | null;
}

/**
 * NIST STS reads p-values back from its results files, printed with six decimals, into a float; the pass/fail cut
 * and the histogram bin are decided on that value, so a p-value just under α that prints as 0.010000 still fails.
 */
function asReferenceReadsIt(pValue: number): number {
  return Math.fround(Number(pValue.toFixed(6)));
}

/** The minimum and maximum number of passing sequences out of `sampleSize`, §4.2.1, as NIST STS truncates them. */
export function passRateBounds(sampleSize: number, alpha = DEFAULT_ALPHA): { minimum: number; maximum: number } {
  const pHat = 1 - alpha;
  const margin = 3 * Math.sqrt((pHat * alpha) / sampleSize);
  return { minimum: Math.trunc((pHat - margin) * sampleSize), maximum: Math.trunc((pHat + margin) * sampleSize) };
}

function analyze(test: TestName, subtest: string, pValues: (number | null)[], alpha: number): StreamAnalysis {
  const excursion = test === 'RandomExcursions' || test === 'RandomExcursionsVariant';
  const sample = pValues
    .filter((pValue): pValue is number => pValue !== null)
    .map(asReferenceReadsIt)
    // The random excursion tests write 0 for a sequence they do not apply to, and NIST STS leaves out every 0.
    .filter((pValue) => !excursion || pValue > 0);
  const sampleSize = sample.length;
  const passed = sample.filter((pValue) => !(pValue < alpha)).length;
  const histogram = new Array<number>(10).fill(0);
  for (const pValue of sample) histogram[Math.min(9, Math.max(0, Math.floor(pValue * 10)))]!++;
  const expected = Math.floor(sampleSize / 10);
  let uniformityPValue: number | null = null;
  if (expected > 0) {
    const chiSquared = histogram.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    uniformityPValue = igamc(9 / 2, chiSquared / 2);
  }
  const bounds = sampleSize > 0 ? passRateBounds(sampleSize, alpha) : null;
  return {
    test,
    subtest,
    sampleSize,
    passed,
    minimumPassed: bounds?.minimum ?? null,
    maximumPassed: bounds?.maximum ?? null,
    proportionAcceptable: bounds === null ? null : passed >= bounds.minimum && passed <= bounds.maximum,
    histogram,
    uniformityPValue,
    uniformityAcceptable: uniformityPValue === null ? null : uniformityPValue >= UNIFORMITY_THRESHOLD,
  };
}

/**
 * SP 800-22 §4.2 over the battery results of several sequences (one array per sequence, as runBattery returns them):
 * per test and subtest, the proportion of sequences that pass at `alpha` and the uniformity of their p-values.
 */
export function analyzeStreams(streams: TestResult[][], alpha = DEFAULT_ALPHA): StreamAnalysis[] {
  const rows = new Map<string, { test: TestName; subtest: string; pValues: (number | null)[] }>();
  for (const results of streams) {
    for (const { test, subtest, pValue } of results) {
      const key = `${test}\u0000${subtest}`;
      let row = rows.get(key);
      if (row === undefined) {
        row = { test, subtest, pValues: [] };
        rows.set(key, row);
      }
      row.pValues.push(pValue);
    }
  }
  return [...rows.values()].map(({ test, subtest, pValues }) => analyze(test, subtest, pValues, alpha));
}
