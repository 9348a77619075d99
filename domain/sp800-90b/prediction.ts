import type { Estimate } from './estimate';
import { proportionUpperBound, solveDecreasing } from './statistics';

/** A predictor's record over the sequence: predictions made, how many were right, the longest run of right ones. */
export interface PredictorScore {
  correct: number;
  predictions: number;
  longestRun: number;
}

const LOG_ALPHA = Math.log(0.99);

/**
 * Section 6.3.7 steps 3 onwards, shared by the four predictors: the larger of the global bound (99% upper bound on
 * the success rate) and the local one (the success rate under which the longest run is no surprise at 99%).
 * `alphabetSize` floors the probability at a uniform guess.
 */
export function predictionEstimate(score: PredictorScore, alphabetSize: number): Estimate {
  const { correct, predictions, longestRun } = score;
  const r = longestRun + 1;
  const pGlobal = correct / predictions;
  const pGlobalBound = pGlobal > 0 ? proportionUpperBound(pGlobal, predictions) : 1 - 0.01 ** (1 / predictions);
  let p = Math.max(1 / alphabetSize, pGlobalBound);
  let pLocal = -1;
  if (p < 1 && runProbabilityLog(p, r, predictions) > LOG_ALPHA) {
    pLocal = solveDecreasing((x) => runProbabilityLog(x, r, predictions), LOG_ALPHA, p, 1, 1);
    p = Math.max(p, pLocal);
  }
  return {
    minEntropy: -Math.log2(p),
    detail: { correct, predictions, r, pGlobal, pGlobalBound, ...(pLocal >= 0 ? { pLocal } : {}) },
  };
}

/** The reference tool iterates in 80-bit long doubles and stops at their epsilon. */
const LONG_DOUBLE_EPSILON = 2 ** -63;

/**
 * log of the probability that N predictions with success rate p contain no run of r successes (section 6.3.7
 * step 4), with x the fixed point of x = 1 + q p^r x^(r+1) reached by iteration from 1 as the reference does.
 * The iteration runs on δ = x - 1 and every term is formed from δ (log1p, q - pδ), so that doubles keep the
 * digits the reference keeps with 80-bit arithmetic when x is within 1e-7 of 1.
 */
export function runProbabilityLog(p: number, r: number, n: number): number {
  const q = 1 - p;
  const qpr = q * p ** r;
  let delta = 0;
  for (let i = 0; i <= 65; i++) {
    const next = qpr * Math.exp((r + 1) * Math.log1p(delta));
    if (!(next - delta > LONG_DOUBLE_EPSILON * (1 + delta))) {
      if (next > delta) delta = next;
      break;
    }
    delta = next;
  }
  return Math.log(q - p * delta) - Math.log((1 - r * delta) * q) - (n + 1) * Math.log1p(delta);
}
