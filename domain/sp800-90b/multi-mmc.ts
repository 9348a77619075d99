import { ContextTable, extendContextHash as importedExtendContextHash, symbolRadix } from './context-table';
import type { EstimatorOutcome } from './estimate';
import { contextWindows as importedContextWindows } from './packed-bits';
import { predictorEstimate, PredictorRecord, type PredictorScore, Scoreboard } from './prediction';

// Loaded as CommonJS (tsx, jest), a call of an imported function reads it through the export's getter, which V8 does
// not inline into a hot loop; the loops here call a module-level binding instead.
const extendContextHash = importedExtendContextHash;
const contextWindows = importedContextWindows;

const ORDERS = 16;
/** Each Markov model keeps at most this many (context, follower) pairs, as in section 6.3.9. */
const MAX_ENTRIES = 100_000;

/**
 * Section 6.3.9: Markov models of orders 1 to 16 predict the next symbol; the one with the best record so far
 * speaks. Updates are interleaved with predictions as in the reference tool, which the cap on entries makes
 * observable: entries are added shortest context first.
 */
export function multiMmcEstimate(symbols: Uint8Array, alphabetSize: number): EstimatorOutcome {
  return predictorEstimate({ minimumLength: 3, scoreBits: binaryScore, scoreSymbols: score256 }, symbols, alphabetSize);
}

function score256(data: Uint8Array): PredictorScore {
  const length = data.length;
  const radix = symbolRadix(data);
  const predictions = length - 2;
  // A model cannot hold more contexts than there are positions; the tables grow on demand up to the cap.
  const expected = Math.min(MAX_ENTRIES, length);
  const tables = Array.from({ length: ORDERS }, (_, d) => new ContextTable(data, d + 1, expected, radix));
  const entries = new Int32Array(ORDERS);
  for (let d = 0; d < ORDERS && d < predictions; d++) {
    // The initial contexts are prefixes data[0..d], so each hash is built from its right end.
    let h = 0;
    for (let j = d; j >= 0; j--) h = extendContextHash(h, data[j]!, d - j);
    const id = tables[d]!.findOrAdd(0, h);
    tables[d]!.countFollower(id, data[d + 1]!, true);
    entries[d] = 1;
  }

  // Every model from this order up is full: past a missing context, nothing is left to do at a position.
  let fullFrom = ORDERS;
  const added = (d: number): void => {
    if (++entries[d]! < MAX_ENTRIES) return;
    while (fullFrom > 0 && entries[fullFrom - 1]! >= MAX_ENTRIES) fullFrom--;
  };
  const board = new Scoreboard(ORDERS);
  const record = new PredictorRecord();
  for (let i = 2; i < length; i++) {
    const next = data[i]!;
    const speaker = board.winner;
    let found = false;
    let hash = 0;
    for (let d = 0; d < ORDERS && d <= i - 2; d++) {
      if (!found && d >= fullFrom && d > 0) break;
      const at = i - d - 1;
      hash = extendContextHash(hash, data[at]!, d);
      const table = tables[d]!;
      let id = -1;
      if (d === 0 || found) {
        id = table.find(at, hash);
        found = id >= 0;
      }
      if (found) {
        scorePrediction(board, record, d, speaker, table.predictedSymbol(id) === next);
        if (table.countFollower(id, next, entries[d]! < MAX_ENTRIES)) added(d);
      } else if (entries[d]! < MAX_ENTRIES) {
        table.countFollower(table.findOrAdd(at, hash), next, true);
        added(d);
      }
    }
  }
  return record.score(predictions);
}

/**
 * The order-(d+1) model had a prediction: it scores when right, and when it is the model that spoke for this position
 * (the winner before any of this position's scores), the record counts it.
 */
function scorePrediction(board: Scoreboard, record: PredictorRecord, d: number, speaker: number, right: boolean): void {
  if (right) board.credit(d);
  if (d === speaker) record.check(right);
}

/** Positions scored per pass of each model over the bits, so that a pass's windows and marks stay in a core's cache. */
const CHUNK = 1 << 14;

/**
 * The binary case with dense tables: the order-(d+1) model keeps two counters per (d+1)-bit context, the most
 * recent bit in the context's lowest position.
 *
 * With bits the models do not depend on each other: a context of order d + 1 seen before implies that its last d
 * bits were seen before by order d (they were counted at the same position, and order d, with at most 2^16 pairs,
 * is never capped), so the rule that longer contexts are consulted only after a shorter one was found changes no
 * prediction. Each model therefore runs alone over a chunk of positions, in a loop without branches, and marks
 * where it had a prediction and where it was right; one pass over the marks then keeps the scoreboard.
 */
function binaryScore(bits: Uint8Array): PredictorScore {
  const length = bits.length;
  const offsets = new Int32Array(ORDERS);
  let total = 0;
  for (let d = 0; d < ORDERS; d++) {
    offsets[d] = total;
    total += 1 << (d + 2);
  }
  const counts = new Int32Array(total);
  let capped = 0;
  let pattern = 0;
  for (let d = 0; d < ORDERS && d < length - 2; d++) {
    pattern = (pattern << 1) | bits[d]!;
    counts[offsets[d]! + 2 * pattern + bits[d + 1]!] = 1;
    if (d === ORDERS - 1) capped = 1;
  }

  const windows = new Int32Array(CHUNK);
  // Bit d: order d was right; bit 16 + d: order d had a prediction.
  const marks = new Int32Array(CHUNK);
  const scores = new Int32Array(ORDERS);
  let winner = 0;
  let high = 0;
  let correct = 0;
  let run = 0;
  let longestRun = 0;
  for (let from = 2; from < length; from += CHUNK) {
    const size = Math.min(CHUNK, length - from);
    contextWindows(bits, from, windows);
    marks.fill(0);
    for (let d = 0; d < ORDERS; d++) {
      // Order d consults positions i >= d + 2.
      const first = Math.max(0, d + 2 - from);
      const base = offsets[d]!;
      const mask = (2 << d) - 1;
      if (d < ORDERS - 1) {
        for (let j = first; j < size; j++) {
          const at = base + 2 * (windows[j]! & mask);
          const zeros = counts[at]!;
          const ones = counts[at + 1]!;
          const next = bits[from + j]!;
          const seen = -(zeros | ones) >>> 31;
          const prediction = ((ones - zeros) >>> 31) ^ 1;
          marks[j]! |= ((seen << 16) | (seen & (prediction ^ next ^ 1))) << d;
          counts[at + next]!++;
        }
      } else {
        for (let j = first; j < size; j++) {
          const at = base + 2 * (windows[j]! & mask);
          const zeros = counts[at]!;
          const ones = counts[at + 1]!;
          const next = bits[from + j]!;
          const seen = -(zeros | ones) >>> 31;
          const prediction = ((ones - zeros) >>> 31) ^ 1;
          marks[j]! |= ((seen << 16) | (seen & (prediction ^ next ^ 1))) << d;
          if (counts[at + next] !== 0) {
            counts[at + next]!++;
          } else if (capped < MAX_ENTRIES) {
            counts[at + next] = 1;
            capped++;
          }
        }
      }
    }
    for (let j = 0; j < size; j++) {
      const right = marks[j]! & 0xffff;
      // The model that speaks for this position is the winner before any of its scores.
      if ((marks[j]! >>> (16 + winner)) & 1) {
        if ((right >>> winner) & 1) {
          correct++;
          if (++run > longestRun) longestRun = run;
        } else {
          run = 0;
        }
      }
      for (let m = right; m !== 0; m &= m - 1) {
        const d = 31 - Math.clz32(m & -m);
        const score = ++scores[d]!;
        if (score >= high) {
          high = score;
          winner = d;
        }
      }
    }
  }
  return { correct, predictions: length - 2, longestRun };
}
