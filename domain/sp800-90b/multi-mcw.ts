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
  for (let i = WINDOWS[0]; i < length; i++) {
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
  return record.score(length - WINDOWS[0]);
}
