import { UserError } from '../errors';

/** Section 4.4 recommends a false-positive probability of 2^-20 to 2^-40 per test; alerts use the frequent end. */
export const DEFAULT_ALERT_ALPHA = 2 ** -20;
/** A permanent failure needs far stronger evidence than an intermittent alert. */
export const DEFAULT_FAILURE_ALPHA = 2 ** -40;

/** pass: nothing unusual; alert: an intermittent error at the alert α; failure: permanent, latched until replaced. */
export type HealthVerdict = 'pass' | 'alert' | 'failure';

export interface HealthTestConfig {
  /** The source's assessed min-entropy per sample, H. */
  minEntropy: number;
  /** Bits per sample; 1 selects the APT's binary window of 512. */
  bitsPerSample: number;
  alertAlpha?: number;
  failureAlpha?: number;
}

function checkedConfig(config: HealthTestConfig): Required<HealthTestConfig> {
  const { minEntropy, bitsPerSample, alertAlpha = DEFAULT_ALERT_ALPHA, failureAlpha = DEFAULT_FAILURE_ALPHA } = config;
  if (!Number.isInteger(bitsPerSample) || bitsPerSample < 1 || bitsPerSample > 8) {
    throw new UserError('invalid_bits_per_sample', `bits per sample must be an integer from 1 to 8, not ${bitsPerSample}`);
  }
  if (!(minEntropy > 0 && minEntropy <= bitsPerSample)) {
    throw new UserError('invalid_min_entropy', `min-entropy must be above 0 and at most ${bitsPerSample} bits per sample, not ${minEntropy}`);
  }
  for (const [name, alpha] of [['alert', alertAlpha], ['failure', failureAlpha]] as const) {
    if (!(alpha > 0 && alpha < 1)) throw new UserError('invalid_alpha', `the ${name} α must lie strictly between 0 and 1, not ${alpha}`);
  }
  if (failureAlpha > alertAlpha) {
    throw new UserError('invalid_alpha', 'the failure α must not exceed the alert α: a permanent failure needs the stronger evidence');
  }
  return { minEntropy, bitsPerSample, alertAlpha, failureAlpha };
}

/** Section 4.4.1: C = 1 + ⌈-log2(α) / H⌉. */
export function repetitionCountCutoff(minEntropy: number, alpha: number): number {
  return 1 + Math.ceil(-Math.log2(alpha) / minEntropy);
}

/** Section 4.4.2: W = 512 for binary sources, 1024 otherwise. */
export function adaptiveProportionWindow(bitsPerSample: number): number {
  return bitsPerSample === 1 ? 512 : 1024;
}

/**
 * Section 4.4.2: C = 1 + CRITBINOM(W, 2^-H, 1 - α), capped at W so that the test can still fail (a cut-off above
 * the window could never be reached).
 */
export function adaptiveProportionCutoff(minEntropy: number, window: number, alpha: number): number {
  return Math.min(window, 1 + binomialCriticalValue(window, 2 ** -minEntropy, alpha));
}

/**
 * The smallest k with P(X ≤ k) ≥ 1 - α for X ~ Binomial(trials, p) (Excel's CRITBINOM). The upper tail is summed
 * directly, from the top, so that α far below the double precision of 1 - α (2^-40 and less) is still exact.
 */
export function binomialCriticalValue(trials: number, p: number, alpha: number): number {
  const logP = Math.log(p);
  const logQ = Math.log1p(-p);
  // log C(trials, j) for j = trials, trials-1, ...: start at 0 for j = trials and step down.
  let logChoose = 0;
  let tail = 0;
  for (let k = trials - 1; k >= 0; k--) {
    const j = k + 1;
    tail += Math.exp(logChoose + j * logP + (trials - j) * logQ);
    if (tail > alpha) return k + 1;
    logChoose += Math.log(j / (trials - j + 1));
  }
  return 0;
}

/** Section 4.4.1: a run of identical samples as long as the cut-off is improbable from a source with entropy H. */
export class RepetitionCountTest {
  readonly alertCutoff: number;
  readonly failureCutoff: number;
  private last = -1;
  private run = 0;
  private failed = false;

  constructor(config: HealthTestConfig) {
    const { minEntropy, alertAlpha, failureAlpha } = checkedConfig(config);
    this.alertCutoff = repetitionCountCutoff(minEntropy, alertAlpha);
    this.failureCutoff = repetitionCountCutoff(minEntropy, failureAlpha);
  }

  observe(sample: number): HealthVerdict {
    if (sample === this.last) {
      this.run++;
    } else {
      this.last = sample;
      this.run = 1;
    }
    if (this.failed || this.run >= this.failureCutoff) {
      this.failed = true;
      return 'failure';
    }
    return this.run >= this.alertCutoff ? 'alert' : 'pass';
  }
}

/** Section 4.4.2: the first sample of each window must not recur in it as often as the cut-off. */
export class AdaptiveProportionTest {
  readonly window: number;
  readonly alertCutoff: number;
  readonly failureCutoff: number;
  private reference = -1;
  private count = 0;
  private position = 0;
  private failed = false;

  constructor(config: HealthTestConfig) {
    const { minEntropy, bitsPerSample, alertAlpha, failureAlpha } = checkedConfig(config);
    this.window = adaptiveProportionWindow(bitsPerSample);
    this.alertCutoff = adaptiveProportionCutoff(minEntropy, this.window, alertAlpha);
    this.failureCutoff = adaptiveProportionCutoff(minEntropy, this.window, failureAlpha);
  }

  observe(sample: number): HealthVerdict {
    if (this.position === 0) {
      this.reference = sample;
      this.count = 1;
    } else if (sample === this.reference) {
      this.count++;
    }
    this.position = (this.position + 1) % this.window;
    if (this.failed || this.count >= this.failureCutoff) {
      this.failed = true;
      return 'failure';
    }
    return this.count >= this.alertCutoff ? 'alert' : 'pass';
  }
}

export interface HealthReport {
  verdict: HealthVerdict;
  /** Samples on which either test raised an alert. */
  alerts: number;
  /** Index in the batch of the first sample judged a failure (0 when the source had failed before this batch). */
  failedAt: number | undefined;
}

/** Both continuous health tests of one noise source, kept across batches of samples. */
export class SourceHealthTests {
  readonly repetitionCount: RepetitionCountTest;
  readonly adaptiveProportion: AdaptiveProportionTest;

  constructor(config: HealthTestConfig) {
    this.repetitionCount = new RepetitionCountTest(config);
    this.adaptiveProportion = new AdaptiveProportionTest(config);
  }

  observe(samples: Uint8Array): HealthReport {
    let alerts = 0;
    let failedAt: number | undefined;
    for (let i = 0; i < samples.length; i++) {
      const rct = this.repetitionCount.observe(samples[i]!);
      const apt = this.adaptiveProportion.observe(samples[i]!);
      if (rct === 'failure' || apt === 'failure') {
        failedAt ??= i;
      } else if (rct === 'alert' || apt === 'alert') {
        alerts++;
      }
    }
    const verdict: HealthVerdict = failedAt !== undefined ? 'failure' : alerts > 0 ? 'alert' : 'pass';
    return { verdict, alerts, failedAt };
  }
}
