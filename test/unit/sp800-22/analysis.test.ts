import { analyzeStreams, passRateBounds, type StreamAnalysis, type TestName, type TestResult } from '../../../domain/sp800-22';

function streamsOf(test: TestName, subtest: string, pValues: (number | null)[]): TestResult[][] {
  return pValues.map((pValue) => [{ test, subtest, pValue, statistic: null }]);
}

function only(rows: StreamAnalysis[]): StreamAnalysis {
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

describe('section 4.2 analysis over several sequences', () => {
  it('4.2.1: 1000 sequences at α = 0.01 must pass between 0.99 ± 0.0094392, i.e. 980 to 999 of them', () => {
    expect(passRateBounds(1000)).toEqual({ minimum: 980, maximum: 999 });
  });

  it('gives the minimum pass rate NIST STS reports for 100 sequences: 96', () => {
    expect(passRateBounds(100).minimum).toBe(96);
  });

  it('4.2.2: a histogram of 7 13 10 9 9 12 7 9 12 12 over 100 sequences has uniformity P-value 0.897763', () => {
    // One row of a NIST STS finalAnalysisReport: "7 13 10 9 9 12 7 9 12 12 0.897763 99/100 NonOverlappingTemplate".
    const histogram = [7, 13, 10, 9, 9, 12, 7, 9, 12, 12];
    const pValues = histogram.flatMap((count, bin) => Array.from({ length: count }, (_, i) => bin / 10 + 0.05 + i / 1000));
    pValues[0] = 0.004;
    const row = only(analyzeStreams(streamsOf('NonOverlappingTemplate', '000000001', pValues)));
    expect(row.histogram).toEqual(histogram);
    expect(row.uniformityPValue).toBeCloseTo(0.897763, 6);
    expect(row.uniformityAcceptable).toBe(true);
    expect(row).toMatchObject({ sampleSize: 100, passed: 99, minimumPassed: 96, proportionAcceptable: true });
  });

  it('flags a proportion below the minimum and a histogram far from uniform', () => {
    const pValues = [...new Array<number>(10).fill(0.001), ...new Array<number>(10).fill(0.5)];
    const row = only(analyzeStreams(streamsOf('Frequency', '-', pValues)));
    expect(row.passed).toBe(10);
    expect(row.proportionAcceptable).toBe(false);
    expect(row.uniformityAcceptable).toBe(false);
  });

  it('computes no uniformity for fewer than 10 sequences', () => {
    const row = only(analyzeStreams(streamsOf('Runs', '-', [0.2, 0.4, 0.9])));
    expect(row.uniformityPValue).toBeNull();
    expect(row.passed).toBe(3);
  });

  it('judges a p-value as NIST STS reads it back, six decimals into a float: 0.0099996 fails, 0.0100005 passes', () => {
    const row = only(analyzeStreams(streamsOf('Serial', 'p1', [0.0099996, 0.0100005, 0.0099994])));
    expect(row.passed).toBe(1);
  });

  it('leaves out sequences a test did not apply to, and for the random excursion tests every p-value of 0', () => {
    const excursions = only(analyzeStreams(streamsOf('RandomExcursions', 'x=1', [0.3, null, 0, 0.0000004, 0.8])));
    expect(excursions.sampleSize).toBe(2);
    const universal = only(analyzeStreams(streamsOf('Universal', '-', [0.3, null, 0])));
    expect(universal).toMatchObject({ sampleSize: 2, passed: 1 });
  });

  it('keeps one row per test and subtest, in the order they first appear', () => {
    const streams: TestResult[][] = [0.1, 0.2].map((pValue) => [
      { test: 'CumulativeSums', subtest: 'forward', pValue, statistic: null },
      { test: 'CumulativeSums', subtest: 'reverse', pValue, statistic: null },
      { test: 'Serial', subtest: 'p1', pValue, statistic: null },
    ]);
    const rows = analyzeStreams(streams);
    expect(rows.map((r) => `${r.test} ${r.subtest} ${r.sampleSize}`)).toEqual(['CumulativeSums forward 2', 'CumulativeSums reverse 2', 'Serial p1 2']);
  });
});
