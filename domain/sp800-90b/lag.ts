import type { EstimatorOutcome } from './estimate';
import { predictionEstimate, type PredictorScore } from './prediction';

const LAGS = 128;

/**
 * Index of the lowest set bit of each 16-bit value. A table rather than Math.clz32, which some embeddings (Jest's
 * module sandbox among them) do not inline, making the hot loop a hundred times slower.
 */
const LOWEST_BIT = (() => {
  const table = new Uint8Array(1 << 16);
  for (let v = 1; v < table.length; v++) table[v] = v & 1 ? 0 : table[v >> 1]! + 1;
  return table;
})();

/**
 * Section 6.3.8: 128 lag predictors ("the symbol d+1 back comes again"); the best so far predicts. Among lags that
 * reach the top score on the same symbol, the largest lag wins, matching the reference tool's scan order.
 */
export function lagEstimate(symbols: Uint8Array, alphabetSize: number): EstimatorOutcome {
  if (symbols.length < 3) return { notApplicable: 'needs at least 3 symbols' };
  const score = alphabetSize === 2 ? binaryLagScore(symbols) : lagScore(symbols);
  return predictionEstimate(score, alphabetSize);
}

function lagScore(symbols: Uint8Array): PredictorScore {
  const length = symbols.length;
  const scoreboard = new Float64Array(LAGS);
  let winner = 0;
  let highScore = 0;
  let correct = 0;
  let run = 0;
  let longestRun = 0;
  for (let i = 1; i < length; i++) {
    const s = symbols[i]!;
    if (s === symbols[i - winner - 1]) {
      correct++;
      if (++run > longestRun) longestRun = run;
    } else {
      run = 0;
    }
    const lags = i < LAGS ? i : LAGS;
    for (let d = 0; d < lags; d++) {
      if (symbols[i - d - 1] !== s) continue;
      const value = ++scoreboard[d]!;
      if (value >= highScore) {
        winner = d;
        highScore = value;
      }
    }
  }
  return { correct, predictions: length - 1, longestRun };
}

/**
 * The same predictors on bits, 32 lags at a time: word w holds the bits d = 32w..32w+31 back, so the lags that
 * agree with the new bit are the set bits of the word or of its complement, visited in increasing d.
 */
function binaryLagScore(bits: Uint8Array): PredictorScore {
  const length = bits.length;
  const scoreboard = new Float64Array(LAGS);
  const history = new Int32Array(LAGS / 32);
  let winner = 0;
  let highScore = 0;
  let correct = 0;
  let run = 0;
  let longestRun = 0;
  history[0] = bits[0]!;
  for (let i = 1; i < length; i++) {
    const bit = bits[i]!;
    if (bit === bits[i - winner - 1]) {
      correct++;
      if (++run > longestRun) longestRun = run;
    } else {
      run = 0;
    }
    for (let w = 0; w < history.length; w++) {
      let agree = bit === 1 ? history[w]! : ~history[w]!;
      const valid = i - 32 * w;
      if (valid <= 0) break;
      if (valid < 32) agree &= (1 << valid) - 1;
      while (agree !== 0) {
        const low = agree & 0xffff;
        const d = 32 * w + (low !== 0 ? LOWEST_BIT[low]! : 16 + LOWEST_BIT[(agree >>> 16) & 0xffff]!);
        agree &= agree - 1;
        const value = ++scoreboard[d]!;
        if (value >= highScore) {
          winner = d;
          highScore = value;
        }
      }
    }
    for (let w = history.length - 1; w > 0; w--) history[w] = (history[w]! << 1) | (history[w - 1]! >>> 31);
    history[0] = (history[0] << 1) | bit;
  }
  return { correct, predictions: length - 1, longestRun };
}
