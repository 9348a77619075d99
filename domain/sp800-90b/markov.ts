import type { EstimatorOutcome } from './estimate';

/** Section 6.3.3 on a bitstring: the most likely 128-bit sequence under a first-order Markov model. */
export function markovEstimate(bits: Uint8Array): EstimatorOutcome {
  const length = bits.length;
  if (length < 2) return { notApplicable: 'fewer than two bits' };
  let zeros = 0;
  let zeroZero = 0;
  let oneZero = 0;
  for (let i = 0; i < length - 1; i++) {
    if (bits[i] === 0) {
      zeros++;
      if (bits[i + 1] === 0) zeroZero++;
    } else if (bits[i + 1] === 0) {
      oneZero++;
    }
  }
  const ones = length - 1 - zeros;
  const p00 = zeros > 0 ? zeroZero / zeros : 0;
  const p10 = ones > 0 ? oneZero / ones : 0;
  const zeroSeen = zeros > 0;
  if (bits[length - 1] === 0) zeros++;
  return markovFromProbabilities(zeros / length, p00, p10, zeroSeen, ones > 0);
}

/**
 * The six candidate sequences of step 3. A transition whose source bit never occurs has no estimate (the reference
 * tool sets both of its probabilities to zero), which the two flags carry.
 */
export function markovFromProbabilities(
  p0: number,
  p00: number,
  p10: number,
  zeroSeen = true,
  oneSeen = true,
): EstimatorOutcome {
  const p1 = 1 - p0;
  const p01 = zeroSeen ? 1 - p00 : 0;
  const p11 = oneSeen ? 1 - p10 : 0;
  const q00 = zeroSeen ? p00 : 0;
  const q10 = oneSeen ? p10 : 0;
  let hMin = 128;
  const consider = (h: number): void => {
    if (h < hMin) hMin = h;
  };
  if (q00 > 0) consider(-Math.log2(p0) - 127 * Math.log2(q00));
  if (p01 > 0 && q10 > 0) consider(-Math.log2(p0) - 64 * Math.log2(p01) - 63 * Math.log2(q10));
  if (p01 > 0 && p11 > 0) consider(-Math.log2(p0) - Math.log2(p01) - 126 * Math.log2(p11));
  if (q10 > 0 && q00 > 0) consider(-Math.log2(p1) - Math.log2(q10) - 126 * Math.log2(q00));
  if (q10 > 0 && p01 > 0) consider(-Math.log2(p1) - 64 * Math.log2(q10) - 63 * Math.log2(p01));
  if (p11 > 0) consider(-Math.log2(p1) - 127 * Math.log2(p11));
  return { minEntropy: Math.min(hMin / 128, 1), detail: { p0, p1, p00: q00, p01, p10: q10, p11, pMax: 2 ** -hMin } };
}
