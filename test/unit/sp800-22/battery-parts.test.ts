import { bitsFromBytes, mergeResults, runBattery, runTests, TEST_NAMES, type TestName } from '../../../domain/sp800-22';
import { pseudoRandomBytes } from '../../support/pseudo-random';

describe('runTests and mergeResults', () => {
  // keyrotor sts runs the FFT test on a worker thread and the others on its own, then merges the two parts.
  const bits = bitsFromBytes(pseudoRandomBytes(20_000, 'keyrotor battery parts'));
  const whole = runBattery(bits);

  it('give the battery in NIST STS order when the tests are split in two', () => {
    const worker: TestName[] = ['FFT', 'LinearComplexity'];
    const main = TEST_NAMES.filter((test) => !worker.includes(test));
    expect(mergeResults(runTests(bits, main), runTests(bits, worker))).toEqual(whole);
    expect(mergeResults(runTests(bits, worker), runTests(bits, main))).toEqual(whole);
  });

  it('run only the tests named, each with all its subtests', () => {
    const serial = runTests(bits, ['Serial', 'CumulativeSums']);
    expect(serial.map((result) => `${result.test} ${result.subtest}`)).toEqual([
      'CumulativeSums forward',
      'CumulativeSums reverse',
      'Serial p1',
      'Serial p2',
    ]);
    expect(serial).toEqual(whole.filter((result) => result.test === 'Serial' || result.test === 'CumulativeSums'));
  });
});
