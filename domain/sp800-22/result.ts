import { UserError } from '../errors';

/** The fifteen tests of SP 800-22 rev1a, in the order NIST STS 2.1.2 runs and reports them. */
export const TEST_NAMES = [
  'Frequency',
  'BlockFrequency',
  'CumulativeSums',
  'Runs',
  'LongestRun',
  'Rank',
  'FFT',
  'NonOverlappingTemplate',
  'OverlappingTemplate',
  'Universal',
  'ApproximateEntropy',
  'RandomExcursions',
  'RandomExcursionsVariant',
  'Serial',
  'LinearComplexity',
] as const;

export type TestName = (typeof TEST_NAMES)[number];

/** Subtest name of a test that yields a single p-value. */
export const SINGLE = '-';

export interface TestResult {
  test: TestName;
  /** SINGLE, 'forward'/'reverse', 'p1'/'p2', a template's bits such as '000000001', or a state such as 'x=-4'. */
  subtest: string;
  /** null when the test does not apply to this sequence; `reason` then says why. */
  pValue: number | null;
  /** The statistic the p-value is computed from (a χ², a count, a normalised sum), null when the test does not apply. */
  statistic: number | null;
  /** Why the test does not apply, or why a p-value was set by rule rather than computed. */
  reason?: string;
}

export function computed(test: TestName, subtest: string, pValue: number, statistic: number): TestResult {
  return { test, subtest, pValue, statistic };
}

export function notApplicable(test: TestName, subtest: string, reason: string): TestResult {
  return { test, subtest, pValue: null, statistic: null, reason };
}

/**
 * A count with thousands separators, as toLocaleString('en-US') prints it, without the locale data: its first call
 * loads ICU's number formatting, which costs more than a whole battery run on a short sequence.
 */
export function formatCount(value: number): string {
  if (!Number.isSafeInteger(value)) return value.toLocaleString('en-US');
  const digits = String(Math.abs(value));
  let grouped = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = grouped.length; i < digits.length; i += 3) grouped += `,${digits.slice(i, i + 3)}`;
  return value < 0 ? `-${grouped}` : grouped;
}

/** Throws a UserError unless `value` is an integer in [min, max]; `name` is the parameter as a user would know it. */
export function requireIntegerParameter(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UserError('invalid_sts_parameter', `${name} must be an integer from ${formatCount(min)} to ${formatCount(max)}, got ${value}`);
  }
  return value;
}
