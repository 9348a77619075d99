import { UserError } from '../../../domain/errors';
import {
  AdaptiveProportionTest,
  adaptiveProportionCutoff,
  binomialCriticalValue,
  RepetitionCountTest,
  repetitionCountCutoff,
  SourceHealthTests,
} from '../../../domain/sp800-90b/health-tests';
import { randomBytes } from './random-bytes';

describe('Repetition Count Test (4.4.1)', () => {
  it('computes C = 1 + ceil(-log2(α) / H): 11 for H = 2 and α = 2^-20, as the standard\'s example', () => {
    expect(repetitionCountCutoff(2, 2 ** -20)).toBe(11);
    expect(repetitionCountCutoff(0.5, 2 ** -20)).toBe(41);
  });

  it('fails a stuck source within its cut-off: an alert at C_alert, a latched failure at C_failure', () => {
    const rct = new RepetitionCountTest({ minEntropy: 7.5, bitsPerSample: 8 });
    expect(rct.alertCutoff).toBe(4); // 1 + ceil(20 / 7.5)
    expect(rct.failureCutoff).toBe(7); // 1 + ceil(40 / 7.5)
    const verdicts = Array.from({ length: 10 }, () => rct.observe(0x42));
    expect(verdicts).toEqual(['pass', 'pass', 'pass', 'alert', 'alert', 'alert', 'failure', 'failure', 'failure', 'failure']);
    expect(rct.observe(0x17)).toBe('failure');
  });

  it('restarts its count when the value changes', () => {
    const rct = new RepetitionCountTest({ minEntropy: 7.5, bitsPerSample: 8 });
    const verdicts = [1, 1, 1, 2, 2, 2, 1].map((s) => rct.observe(s));
    expect(verdicts.every((v) => v === 'pass')).toBe(true);
  });
});

describe('Adaptive Proportion Test (4.4.2)', () => {
  it('uses the binomial critical value, checked against jitterentropy\'s published cut-offs', () => {
    // jitterentropy: cut-off = 2 + qbinom(1 - α, 511, 2^(-1/osr)) gives 325, 422 (α = 2^-30) and 355, 447 (α = 2^-60).
    expect(binomialCriticalValue(511, 0.5, 2 ** -30) + 2).toBe(325);
    expect(binomialCriticalValue(511, 2 ** -0.5, 2 ** -30) + 2).toBe(422);
    expect(binomialCriticalValue(511, 0.5, 2 ** -60) + 2).toBe(355);
    expect(binomialCriticalValue(511, 2 ** -0.5, 2 ** -60) + 2).toBe(447);
  });

  it('picks the window by sample width and never sets a cut-off the test cannot reach', () => {
    expect(new AdaptiveProportionTest({ minEntropy: 1, bitsPerSample: 8 }).window).toBe(1024);
    expect(new AdaptiveProportionTest({ minEntropy: 0.9, bitsPerSample: 1 }).window).toBe(512);
    expect(adaptiveProportionCutoff(0.01, 512, 2 ** -20)).toBe(512);
  });

  it('raises an alert when the first value of a window recurs at the cut-off', () => {
    const apt = new AdaptiveProportionTest({ minEntropy: 4, bitsPerSample: 8 });
    expect(apt.alertCutoff).toBeLessThan(apt.failureCutoff);
    const verdicts: string[] = [];
    for (let i = 0; i < 1024; i++) verdicts.push(apt.observe(i % 4 === 0 ? 9 : 16 + (i % 200)));
    // Every fourth sample repeats the window's first value: the count reaches the alert cut-off at the sample
    // numbered 4 × (C - 1), and the failure cut-off later in the same window.
    expect(verdicts.indexOf('alert')).toBe(4 * (apt.alertCutoff - 1));
    expect(verdicts.indexOf('failure')).toBe(4 * (apt.failureCutoff - 1));
  });
});

describe('both tests on a source', () => {
  it('let a random source through and stop a stuck one', () => {
    const health = new SourceHealthTests({ minEntropy: 7, bitsPerSample: 8 });
    expect(health.observe(randomBytes(200_000, 'health')).verdict).toBe('pass');
    const stuck = health.observe(new Uint8Array(100).fill(0x5a));
    expect(stuck.verdict).toBe('failure');
    expect(stuck.failedAt).toBe(health.repetitionCount.failureCutoff - 1);
    expect(stuck.alerts).toBe(health.repetitionCount.failureCutoff - health.repetitionCount.alertCutoff);
  });

  it('refuses a configuration whose failure α is weaker than its alert α', () => {
    expect(() => new SourceHealthTests({ minEntropy: 4, bitsPerSample: 8, alertAlpha: 2 ** -40, failureAlpha: 2 ** -20 })).toThrow(UserError);
    expect(() => new SourceHealthTests({ minEntropy: 9, bitsPerSample: 8 })).toThrow(UserError);
  });
});
