import { circularPatternCounts, dropLastBit } from './bits';
import { computed, notApplicable, requireIntegerParameter, type TestResult } from './result';
import { igamc } from './special-functions';

export const DEFAULT_SERIAL_LENGTH = 16;

/** ψ²_m = 2^m/n Σ ν_i² − n (zero for m ≤ 0), SP 800-22 §2.11.4 step 3. */
function psiSquared(counts: Uint32Array, m: number, n: number): number {
  if (m <= 0) return 0;
  let sum = 0;
  for (let i = 0; i < counts.length; i++) sum += counts[i]! * counts[i]!;
  return (sum * 2 ** m) / n - n;
}

/** SP 800-22 §2.11, the serial test on the sequence read as a circle: p1 from ∇ψ²_m, p2 from ∇²ψ²_m (the statistics). */
export function serialTest(bits: Uint8Array, blockLength = DEFAULT_SERIAL_LENGTH): TestResult[] {
  requireIntegerParameter('Serial block length m', blockLength, 2, 20);
  const n = bits.length;
  if (n === 0) return [notApplicable('Serial', 'p1', 'the sequence is empty'), notApplicable('Serial', 'p2', 'the sequence is empty')];
  const m = blockLength;
  const counts = circularPatternCounts(bits, m);
  const shorter = dropLastBit(counts);
  const shortest = dropLastBit(shorter);
  const psiM = psiSquared(counts, m, n);
  const psiM1 = psiSquared(shorter, m - 1, n);
  const psiM2 = psiSquared(shortest, m - 2, n);
  const delta1 = psiM - psiM1;
  const delta2 = psiM - 2 * psiM1 + psiM2;
  return [
    computed('Serial', 'p1', igamc(2 ** (m - 1) / 2, delta1 / 2), delta1),
    computed('Serial', 'p2', igamc(2 ** (m - 2) / 2, delta2 / 2), delta2),
  ];
}
