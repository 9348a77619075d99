import { packBits, popcount as importedPopcount, window32 as importedWindow32 } from './packed-bits';
import type { EstimatorOutcome } from './estimate';
import { predictorEstimate, PredictorRecord, type PredictorScore, Scoreboard } from './prediction';

// Loaded as CommonJS (tsx, jest), a call of an imported function reads it through the export's getter, which V8 does
// not inline into a hot loop; the loops here call a module-level binding instead.
const popcount = importedPopcount;
const window32 = importedWindow32;

const LAGS = 128;

/**
 * Section 6.3.8: 128 lag predictors ("the symbol d+1 back comes again"); the best so far predicts. Among lags that
 * reach the top score on the same symbol, the largest lag wins, matching the reference tool's scan order.
 */
export function lagEstimate(symbols: Uint8Array, alphabetSize: number): EstimatorOutcome {
  return predictorEstimate({ minimumLength: 3, scoreBits: binaryLagScore, scoreSymbols: lagScore }, symbols, alphabetSize);
}

/**
 * Lag d scores at position i when the symbol d + 1 back is the same, so only the earlier positions of the same symbol
 * within LAGS need a look: each position links to the previous one of its symbol, and the chain from the most recent
 * one visits the lags in increasing order, the definition's order. On a wide alphabet that is a few lags per position
 * instead of 128.
 */
function lagScore(symbols: Uint8Array, alphabetSize: number): PredictorScore {
  const length = symbols.length;
  const board = new Scoreboard(LAGS);
  const record = new PredictorRecord();
  const previous = new Int32Array(length);
  const latest = new Int32Array(alphabetSize).fill(-1);
  latest[symbols[0]!] = 0;
  previous[0] = -1;
  for (let i = 1; i < length; i++) {
    const s = symbols[i]!;
    record.check(s === symbols[i - board.winner - 1]);
    const first = latest[s]!;
    for (let j = first; j >= 0 && i - j <= LAGS; j = previous[j]!) board.credit(i - j - 1);
    previous[i] = first;
    latest[s] = i;
  }
  return record.score(length - 1);
}

/** The definition's loop over positions `from` to `to` (exclusive): the winner predicts, then every lag is scored. */
function stepByStep(symbols: Uint8Array, from: number, to: number, board: Scoreboard, record: PredictorRecord): void {
  for (let i = from; i < to; i++) {
    const s = symbols[i]!;
    record.check(s === symbols[i - board.winner - 1]);
    const lags = i < LAGS ? i : LAGS;
    for (let d = 0; d < lags; d++) if (symbols[i - d - 1] === s) board.credit(d);
  }
}

/**
 * The same predictors on bits, 32 steps at a time. Only a lag that could reach the high score within the block can
 * become the winner or raise the high score; the others (few, unless the bits repeat) are updated step by step in the
 * same order as the definition's loop. A lag g points behind the high score cannot come within reach for the next
 * ⌊(g − 1) / 32⌋ blocks, since it gains at most 32 a block and the high score never falls: its score is left behind
 * until then and caught up in one run of popcounts over the blocks it skipped, which is all they leave of it.
 */
function binaryLagScore(bits: Uint8Array): PredictorScore {
  const length = bits.length;
  const board = new Scoreboard(LAGS);
  const { scores } = board;
  const record = new PredictorRecord();
  // Until there are LAGS bits of history, step by step.
  const head = length < LAGS ? length : LAGS;
  stepByStep(bits, 1, head, board, record);

  const words = packBits(bits, 32);
  const agree = new Int32Array(LAGS);
  const candidates = new Int32Array(LAGS);
  // Lag d's score counts the blocks before countedTo[d]; it needs a look again at block dueAt[d].
  const countedTo = new Int32Array(LAGS).fill(head >> 5);
  const dueAt = new Int32Array(LAGS).fill(head >> 5);
  // head is LAGS, a multiple of 32, so each block starts on a word and lag d reads the pair of words d + 1 back.
  for (let start = head; start < length; start += 32) {
    const steps = length - start < 32 ? length - start : 32;
    const inBlock = steps === 32 ? -1 : ~(-1 >>> steps);
    const k = start >> 5;
    const current = words[k]!;
    const highScore = board.highScore;
    let candidateCount = 0;
    for (let d = 0; d < LAGS; d++) {
      if (dueAt[d]! > k) continue;
      const w = d >> 5;
      const offset = 31 - (d & 31);
      if (countedTo[d]! < k) scores[d]! += agreementsOver(words, countedTo[d]!, k, w, offset);
      const past = window32(words, start - d - 1);
      const gap = highScore - scores[d]!;
      if (gap <= steps) {
        // Bit 31 - j is set when step start + j agrees with the bit d + 1 before it.
        agree[d] = ~(current ^ past) & inBlock;
        candidates[candidateCount++] = d;
        countedTo[d] = k + 1;
        dueAt[d] = k + 1;
      } else {
        countedTo[d] = k;
        dueAt[d] = k + ((gap - 1) >> 5);
      }
    }
    if (candidateCount === 1) {
      // Only the winner is within reach: it speaks for the whole block and keeps the lead.
      const right = agree[board.winner]!;
      record.checkWord(right, steps);
      scores[board.winner]! += popcount(right);
      continue;
    }
    for (let j = 0; j < steps; j++) {
      const shift = 31 - j;
      record.check(((agree[board.winner]! >>> shift) & 1) === 1);
      for (let c = 0; c < candidateCount; c++) {
        const d = candidates[c]!;
        if ((agree[d]! >>> shift) & 1) board.credit(d);
      }
    }
  }
  return record.score(length - 1);
}

/** Lag d's agreements over the whole blocks from `from` to `to` (exclusive), d = 32 w + 31 - offset. */
function agreementsOver(words: Int32Array, from: number, to: number, w: number, offset: number): number {
  let disagreements = 0;
  if (offset === 0) {
    for (let k = from; k < to; k++) disagreements += popcount(words[k]! ^ words[k - w - 1]!);
  } else {
    const back = 32 - offset;
    let before = words[from - w - 1]!;
    for (let k = from; k < to; k++) {
      const after = words[k - w]!;
      disagreements += popcount(words[k]! ^ ((before << offset) | (after >>> back)));
      before = after;
    }
  }
  return 32 * (to - from) - disagreements;
}
