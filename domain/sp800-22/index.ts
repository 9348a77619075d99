import { approximateEntropyTest, DEFAULT_APPROXIMATE_ENTROPY_LENGTH } from './approximate-entropy';
import { assertBitSequence } from './bits';
import { blockFrequencyTest, DEFAULT_BLOCK_FREQUENCY_LENGTH } from './block-frequency';
import { cumulativeSumsTest } from './cumulative-sums';
import { dftTest } from './discrete-fourier-transform';
import { frequencyTest } from './frequency';
import { DEFAULT_LINEAR_COMPLEXITY_LENGTH, linearComplexityTest } from './linear-complexity';
import { longestRunTest } from './longest-run';
import { DEFAULT_TEMPLATE_LENGTH, nonOverlappingTemplateTest } from './non-overlapping-template';
import { DEFAULT_OVERLAPPING_TEMPLATE_LENGTH, overlappingTemplateTest } from './overlapping-template';
import { randomExcursionsTest } from './random-excursions';
import { randomExcursionsVariantTest } from './random-excursions-variant';
import { rankTest } from './rank';
import { TEST_NAMES, type TestName, type TestResult } from './result';
import { runsTest } from './runs';
import { DEFAULT_SERIAL_LENGTH, serialTest } from './serial';
import { universalTest } from './universal';

export { analyzeStreams, DEFAULT_ALPHA, passRateBounds, type StreamAnalysis } from './analysis';
export { bitsFromAscii, bitsFromBytes } from './bits';
export { formatCount, TEST_NAMES, type TestName, type TestResult } from './result';
export {
  approximateEntropyTest,
  blockFrequencyTest,
  cumulativeSumsTest,
  dftTest,
  frequencyTest,
  linearComplexityTest,
  longestRunTest,
  nonOverlappingTemplateTest,
  overlappingTemplateTest,
  randomExcursionsTest,
  randomExcursionsVariantTest,
  rankTest,
  runsTest,
  serialTest,
  universalTest,
};

/** The parameters NIST STS 2.1.2 lets a user adjust; each defaults to the reference's value. */
export interface BatteryOptions {
  /** M of the block frequency test; default 128. */
  blockFrequencyBlockLength?: number;
  /** m of the non-overlapping template test; default 9 (148 templates). */
  nonOverlappingTemplateLength?: number;
  /** m of the overlapping template test; default 9. */
  overlappingTemplateLength?: number;
  /** m of the approximate entropy test; default 10. */
  approximateEntropyBlockLength?: number;
  /** m of the serial test; default 16. */
  serialBlockLength?: number;
  /** M of the linear complexity test; default 500. */
  linearComplexityBlockLength?: number;
}

/**
 * Runs all fifteen tests of SP 800-22 rev1a on one sequence (one bit per byte, 0 or 1) and returns every p-value in the
 * order NIST STS reports them. A test that cannot run on this sequence is listed with pValue null and a reason.
 */
export function runBattery(bits: Uint8Array, options: BatteryOptions = {}): TestResult[] {
  return runTests(bits, TEST_NAMES, options);
}

/**
 * The results of the tests named in `tests` only, in the order NIST STS reports them; runBattery with every test. Two
 * threads can each run a part (the CLI gives the FFT and linear complexity tests to a worker) and merge the parts with
 * mergeResults.
 */
export function runTests(bits: Uint8Array, tests: readonly TestName[], options: BatteryOptions = {}): TestResult[] {
  assertBitSequence(bits);
  const run: Record<TestName, () => TestResult | TestResult[]> = {
    Frequency: () => frequencyTest(bits),
    BlockFrequency: () => blockFrequencyTest(bits, options.blockFrequencyBlockLength ?? DEFAULT_BLOCK_FREQUENCY_LENGTH),
    CumulativeSums: () => cumulativeSumsTest(bits),
    Runs: () => runsTest(bits),
    LongestRun: () => longestRunTest(bits),
    Rank: () => rankTest(bits),
    FFT: () => dftTest(bits),
    NonOverlappingTemplate: () =>
      nonOverlappingTemplateTest(bits, { templateLength: options.nonOverlappingTemplateLength ?? DEFAULT_TEMPLATE_LENGTH }),
    OverlappingTemplate: () => overlappingTemplateTest(bits, options.overlappingTemplateLength ?? DEFAULT_OVERLAPPING_TEMPLATE_LENGTH),
    Universal: () => universalTest(bits),
    ApproximateEntropy: () => approximateEntropyTest(bits, options.approximateEntropyBlockLength ?? DEFAULT_APPROXIMATE_ENTROPY_LENGTH),
    RandomExcursions: () => randomExcursionsTest(bits),
    RandomExcursionsVariant: () => randomExcursionsVariantTest(bits),
    Serial: () => serialTest(bits, options.serialBlockLength ?? DEFAULT_SERIAL_LENGTH),
    LinearComplexity: () => linearComplexityTest(bits, options.linearComplexityBlockLength ?? DEFAULT_LINEAR_COMPLEXITY_LENGTH),
  };
  return TEST_NAMES.filter((test) => tests.includes(test)).flatMap((test) => run[test]());
}

/** The results of several runTests calls on one sequence, in the order NIST STS reports them. */
export function mergeResults(...parts: TestResult[][]): TestResult[] {
  const order = new Map<string, number>(TEST_NAMES.map((test, i) => [test, i]));
  // Array.prototype.sort is stable, so the subtests of a test keep their order.
  return parts.flat().sort((a, b) => order.get(a.test)! - order.get(b.test)!);
}
