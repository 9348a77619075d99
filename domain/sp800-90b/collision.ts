import type { EstimatorOutcome } from './estimate';
import { Z_ALPHA } from './statistics';

/**
 * Section 6.3.2 on a bitstring. A collision in binary data comes after two or three bits, so the sequence of
 * waiting times reduces to how many of each there were.
 */
export function collisionEstimate(bits: Uint8Array): EstimatorOutcome {
  const length = bits.length;
  let i = 0;
  let twos = 0;
  let threes = 0;
  while (i < length - 1) {
    if (bits[i] === bits[i + 1]) {
      twos++;
      i += 2;
    } else if (i < length - 2) {
      threes++;
      i += 3;
    } else {
      break;
    }
  }
  if (twos + threes < 2) return { notApplicable: 'fewer than two collisions' };
  return collisionFromWaitingTimes(twos, threes);
}

/**
 * Solves step 7 in closed form: with binary data the expected waiting time for the one-parameter family reduces to
 * -2p^2 + 2p + 2 (an observation the reference tool credits to Uyen Dinh), so p is the root above 1/2. A bounded
 * mean of 2.5 or more has no such root and section 6.3.2 then assigns full entropy.
 */
export function collisionFromWaitingTimes(twos: number, threes: number): EstimatorOutcome {
  const v = twos + threes;
  const sum = 2 * twos + 3 * threes;
  const sumOfSquares = 4 * twos + 9 * threes;
  const mean = sum / v;
  const sigma = Math.sqrt((sumOfSquares - sum * mean) / (v - 1));
  const meanBound = Math.max(2, mean - (Z_ALPHA * sigma) / Math.sqrt(v));
  if (meanBound < 2.5) {
    const p = 0.5 + Math.sqrt(1.25 - 0.5 * meanBound);
    return { minEntropy: -Math.log2(p), detail: { v, mean, sigma, meanBound, p } };
  }
  return { minEntropy: 1, detail: { v, mean, sigma, meanBound, p: 0.5 } };
}
