import type { EstimatorOutcome } from './estimate';
import { predictorEstimate, PredictorRecord, type PredictorScore, Scoreboard } from './prediction';

const WINDOWS = [63, 255, 1023, 4095] as const;
const LARGEST_WINDOW = 4095;

/**
 * Section 6.3.7: four most-common-in-window predictors, the one with the best record so far making the prediction.
 * Ties for the most common symbol go to the one seen last, as in the reference tool.
 */
export function multiMcwEstimate(symbols: Uint8Array, alphabetSize: number): EstimatorOutcome {
  return predictorEstimate({ minimumLength: LARGEST_WINDOW + 1, scoreBits: binaryScore, scoreSymbols: score }, symbols, alphabetSize);
}

function score(symbols: Uint8Array, alphabetSize: number): PredictorScore {
  const length = symbols.length;
  const k = alphabetSize;
  const counts = new Int32Array(WINDOWS.length * k);
  const lastPosition = new Int32Array(WINDOWS.length * k);
  const maxCount = new Int32Array(WINDOWS.length);
  const frequent = new Int32Array(WINDOWS.length);

  for (let i = 0; i < LARGEST_WINDOW; i++) {
    const s = symbols[i]!;
    for (let j = 0; j < WINDOWS.length; j++) {
      if (i >= WINDOWS[j]!) continue;
      const c = ++counts[j * k + s]!;
      if (maxCount[j]! <= c) {
        maxCount[j] = c;
        frequent[j] = s;
      }
      lastPosition[j * k + s] = i;
    }
  }

  const board = new Scoreboard(WINDOWS.length);
  const record = new PredictorRecord();
  for (let i = WINDOWS[0]; i < length; i++) {
    const s = symbols[i]!;
    record.check(frequent[board.winner] === s);
    for (let j = 0; j < WINDOWS.length; j++) {
      if (i >= WINDOWS[j]! && frequent[j] === s) board.credit(j);
    }
    for (let j = 0; j < WINDOWS.length; j++) {
      const w = WINDOWS[j]!;
      if (i < w) continue;
      const base = j * k;
      const leaving = symbols[i - w]!;
      counts[base + leaving]!--;
      const c = ++counts[base + s]!;
      lastPosition[base + s] = i;
      if (leaving !== frequent[j]) {
        if (maxCount[j]! <= c) {
          maxCount[j] = c;
          frequent[j] = s;
        }
      } else {
        maxCount[j]!--;
        let bestPosition = i - w;
        for (let symbol = 0; symbol < k; symbol++) {
          const count = counts[base + symbol]!;
          if (maxCount[j]! < count || (maxCount[j] === count && bestPosition <= lastPosition[base + symbol]!)) {
            maxCount[j] = count;
            frequent[j] = symbol;
            bestPosition = lastPosition[base + symbol]!;
          }
        }
      }
    }
  }
  return record.score(length - WINDOWS[0]);
}

/**
 * The binary case. Every window is full from its first prediction on and holds an odd number of bits, so its most
 * common value is its majority, with no tie to break: a running count of ones per window replaces the counts.
 */
function binaryScore(bits: Uint8Array): PredictorScore {
  const length = bits.length;
  const ones = new Int32Array(WINDOWS.length);
  for (let i = 0, seen = 0; i < LARGEST_WINDOW; i++) {
    seen += bits[i]!;
    for (let j = 0; j < WINDOWS.length; j++) if (i === WINDOWS[j]! - 1) ones[j] = seen;
  }
  const board = new Scoreboard(WINDOWS.length);
  const record = new PredictorRecord();
  let i = WINDOWS[0];
  for (; i < length && i < LARGEST_WINDOW; i++) {
    const bit = bits[i]!;
    const winner = board.winner;
    record.check((2 * ones[winner]! > WINDOWS[winner]! ? 1 : 0) === bit);
    for (let j = 0; j < WINDOWS.length; j++) {
      const w = WINDOWS[j]!;
      if (i < w) break;
      if ((2 * ones[j]! > w ? 1 : 0) === bit) board.credit(j);
    }
    for (let j = 0; j < WINDOWS.length; j++) {
      const w = WINDOWS[j]!;
      if (i < w) break;
      ones[j]! += bit - bits[i - w]!;
    }
  }

  // Every window is full from here on: the four predictors unrolled, their majorities and scores in locals.
  let ones0 = ones[0]!;
  let ones1 = ones[1]!;
  let ones2 = ones[2]!;
  let ones3 = ones[3]!;
  let score0 = board.scores[0]!;
  let score1 = board.scores[1]!;
  let score2 = board.scores[2]!;
  let score3 = board.scores[3]!;
  let winner = board.winner;
  let correct = record.correct;
  let longestRun = record.longestRun;
  let run = record.currentRun;
  for (; i < length; i++) {
    const bit = bits[i]!;
    const majority0 = 2 * ones0 > WINDOWS[0] ? 1 : 0;
    const majority1 = 2 * ones1 > WINDOWS[1] ? 1 : 0;
    const majority2 = 2 * ones2 > WINDOWS[2] ? 1 : 0;
    const majority3 = 2 * ones3 > WINDOWS[3] ? 1 : 0;
    const spoken = winner === 0 ? majority0 : winner === 1 ? majority1 : winner === 2 ? majority2 : majority3;
    if (spoken === bit) {
      correct++;
      if (++run > longestRun) longestRun = run;
    } else {
      run = 0;
    }
    // In the scoreboard's order: a predictor that reaches or ties the high score speaks next.
    if (majority0 === bit) {
      score0++;
      if (score0 >= (winner === 0 ? score0 : winner === 1 ? score1 : winner === 2 ? score2 : score3)) winner = 0;
    }
    if (majority1 === bit) {
      score1++;
      if (score1 >= (winner === 0 ? score0 : winner === 1 ? score1 : winner === 2 ? score2 : score3)) winner = 1;
    }
    if (majority2 === bit) {
      score2++;
      if (score2 >= (winner === 0 ? score0 : winner === 1 ? score1 : winner === 2 ? score2 : score3)) winner = 2;
    }
    if (majority3 === bit) {
      score3++;
      if (score3 >= (winner === 0 ? score0 : winner === 1 ? score1 : winner === 2 ? score2 : score3)) winner = 3;
    }
    ones0 += bit - bits[i - WINDOWS[0]]!;
    ones1 += bit - bits[i - WINDOWS[1]]!;
    ones2 += bit - bits[i - WINDOWS[2]]!;
    ones3 += bit - bits[i - WINDOWS[3]]!;
  }
  return { correct, predictions: length - WINDOWS[0], longestRun };
}
