import type { Estimate, EstimatorOutcome } from './estimate';
import { popcount as importedPopcount } from './packed-bits';
import { proportionUpperBound, solveDecreasing } from './statistics';

// A module-level binding, which V8 inlines into a hot loop (see lag.ts).
const popcount = importedPopcount;

/** A predictor's record over the sequence: predictions made, how many were right, the longest run of right ones. */
export interface PredictorScore {
  correct: number;
  predictions: number;
  longestRun: number;
}

/**
 * One of the predictor estimators (sections 6.3.7 to 6.3.10): the fewest symbols it needs, and how it scores bits
 * (with dense tables) and larger alphabets.
 */
export interface Predictor {
  minimumLength: number;
  scoreBits(bits: Uint8Array): PredictorScore;
  scoreSymbols(symbols: Uint8Array, alphabetSize: number): PredictorScore;
}

export function predictorEstimate(predictor: Predictor, symbols: Uint8Array, alphabetSize: number): EstimatorOutcome {
  if (symbols.length < predictor.minimumLength) return { notApplicable: `needs at least ${predictor.minimumLength} symbols` };
  const score = alphabetSize === 2 ? predictor.scoreBits(symbols) : predictor.scoreSymbols(symbols, alphabetSize);
  return predictionEstimate(score, alphabetSize);
}

/**
 * The record of the predictions that count, checked one by one as they are made: how many were right and the longest
 * run of right ones (section 6.3.7 step 2).
 */
export class PredictorRecord {
  correct = 0;
  longestRun = 0;
  private run = 0;

  check(right: boolean): void {
    if (right) {
      this.correct++;
      if (++this.run > this.longestRun) this.longestRun = this.run;
    } else {
      this.run = 0;
    }
  }

  /**
   * `steps` predictions at once, the first in bit 31 of `right` (set where it was right) and the following below it;
   * the bits under them are clear.
   */
  checkWord(right: number, steps: number): void {
    this.correct += popcount(right);
    const leading = Math.clz32(~right);
    if (leading >= steps) {
      this.run += steps;
      if (this.run > this.longestRun) this.longestRun = this.run;
      return;
    }
    if (this.run + leading > this.longestRun) this.longestRun = this.run + leading;
    let inside = 0;
    for (let x = right; x !== 0; x &= x << 1) inside++;
    if (inside > this.longestRun) this.longestRun = inside;
    const missed = ~(right >>> (32 - steps));
    this.run = 31 - Math.clz32(missed & -missed);
  }

  /** The right predictions since the last wrong one, for a predictor that goes on counting on its own. */
  get currentRun(): number {
    return this.run;
  }

  score(predictions: number): PredictorScore {
    return { correct: this.correct, predictions, longestRun: this.longestRun };
  }

  /** A record that goes on from this one's state independently. */
  copy(): PredictorRecord {
    const copy = new PredictorRecord();
    copy.correct = this.correct;
    copy.longestRun = this.longestRun;
    copy.run = this.run;
    return copy;
  }
}

/**
 * The scoreboard of an ensemble of predictors (sections 6.3.7 to 6.3.9): each right prediction scores a point, and the
 * predictor that reaches the high score, or ties it, becomes the one that speaks next.
 */
export class Scoreboard {
  readonly scores: Float64Array;
  winner = 0;

  constructor(predictors: number) {
    this.scores = new Float64Array(predictors);
  }

  get highScore(): number {
    return this.scores[this.winner]!;
  }

  /** Predictor `d` was right. */
  credit(d: number): void {
    if (++this.scores[d]! >= this.scores[this.winner]!) this.winner = d;
  }
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
