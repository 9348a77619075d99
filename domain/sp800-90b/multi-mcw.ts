import type { EstimatorOutcome } from './estimate';
import { predictionEstimate, type PredictorScore } from './prediction';

const WINDOWS = [63, 255, 1023, 4095] as const;
const LARGEST_WINDOW = 4095;

/**
 * Section 6.3.7: four most-common-in-window predictors, the one with the best record so far making the prediction.
 * Ties for the most common symbol go to the one seen last, as in the reference tool.
 */
export function multiMcwEstimate(symbols: Uint8Array, alphabetSize: number): EstimatorOutcome {
  const length = symbols.length;
  if (length < LARGEST_WINDOW + 1) return { notApplicable: `needs at least ${LARGEST_WINDOW + 1} symbols` };
  if (alphabetSize === 2) return predictionEstimate(binaryScore(symbols), 2);
  const k = alphabetSize;
  const counts = new Int32Array(WINDOWS.length * k);
  const lastPosition = new Int32Array(WINDOWS.length * k);
  const maxCount = new Int32Array(WINDOWS.length);
  const frequent = new Int32Array(WINDOWS.length);
  const scoreboard = new Float64Array(WINDOWS.length);

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

  let winner = 0;
  let correct = 0;
  let run = 0;
  let longestRun = 0;
  for (let i = WINDOWS[0]; i < length; i++) {
    const s = symbols[i]!;
    if (frequent[winner] === s) {
      correct++;
      if (++run > longestRun) longestRun = run;
    } else {
      run = 0;
    }
    for (let j = 0; j < WINDOWS.length; j++) {
      if (i >= WINDOWS[j]! && frequent[j] === s && ++scoreboard[j]! >= scoreboard[winner]!) winner = j;
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
  return predictionEstimate({ correct, predictions: length - WINDOWS[0], longestRun }, alphabetSize);
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
  const scoreboard = new Int32Array(WINDOWS.length);
  let winner = 0;
  let correct = 0;
  let run = 0;
  let longestRun = 0;
  for (let i = WINDOWS[0]; i < length; i++) {
    const bit = bits[i]!;
    if ((2 * ones[winner]! > WINDOWS[winner]! ? 1 : 0) === bit) {
      correct++;
      if (++run > longestRun) longestRun = run;
    } else {
      run = 0;
    }
    for (let j = 0; j < WINDOWS.length; j++) {
      const w = WINDOWS[j]!;
      if (i < w) break;
      if ((2 * ones[j]! > w ? 1 : 0) === bit && ++scoreboard[j]! >= scoreboard[winner]!) winner = j;
    }
    for (let j = 0; j < WINDOWS.length; j++) {
      const w = WINDOWS[j]!;
      if (i < w) break;
      ones[j]! += bit - bits[i - w]!;
    }
  }
  return { correct, predictions: length - WINDOWS[0], longestRun };
}
