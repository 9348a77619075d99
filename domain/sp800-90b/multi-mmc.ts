import { ContextTable, extendContextHash as importedExtendContextHash } from './context-table';
import type { EstimatorOutcome } from './estimate';
import { predictorEstimate, PredictorRecord, type PredictorScore, Scoreboard } from './prediction';

// Loaded as CommonJS (tsx, jest), a call of an imported function reads it through the export's getter, which V8 does
// not inline into a hot loop; the loops here call a module-level binding instead.
const extendContextHash = importedExtendContextHash;

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
  const predictions = length - 2;
  // A model cannot hold more contexts than there are positions; the tables grow on demand up to the cap.
  const expected = Math.min(MAX_ENTRIES, length);
  const tables = Array.from({ length: ORDERS }, (_, d) => new ContextTable(data, d + 1, expected));
  const entries = new Int32Array(ORDERS);
  for (let d = 0; d < ORDERS && d < predictions; d++) {
    // The initial contexts are prefixes data[0..d], so each hash is built from its right end.
    let h = 0;
    for (let j = d; j >= 0; j--) h = extendContextHash(h, data[j]!, d - j);
    const id = tables[d]!.findOrAdd(0, h);
    tables[d]!.countFollower(id, data[d + 1]!, true);
    entries[d] = 1;
  }

  const board = new Scoreboard(ORDERS);
  const record = new PredictorRecord();
  for (let i = 2; i < length; i++) {
    const next = data[i]!;
    const speaker = board.winner;
    let found = false;
    let hash = 0;
    for (let d = 0; d < ORDERS && d <= i - 2; d++) {
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
        if (table.countFollower(id, next, entries[d]! < MAX_ENTRIES)) entries[d]!++;
      } else if (entries[d]! < MAX_ENTRIES) {
        table.countFollower(table.findOrAdd(at, hash), next, true);
        entries[d]!++;
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

/**
 * The binary case with dense tables: the order-(d+1) model keeps two counters per (d+1)-bit context, the most
 * recent bit in the context's lowest position.
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
  const entries = new Int32Array(ORDERS);
  let pattern = 0;
  for (let d = 0; d < ORDERS && d < length - 2; d++) {
    pattern = (pattern << 1) | bits[d]!;
    counts[offsets[d]! + 2 * pattern + bits[d + 1]!] = 1;
    entries[d] = 1;
  }

  const board = new Scoreboard(ORDERS);
  const record = new PredictorRecord();
  // The last ORDERS bits before position i, the most recent lowest: order d's context is its low d + 1 bits.
  let window = bits[0]!;
  for (let i = 2; i < length; i++) {
    const next = bits[i]!;
    const speaker = board.winner;
    let found = false;
    window = ((window << 1) | bits[i - 1]!) & 0xffff;
    const orders = i - 1 < ORDERS ? i - 1 : ORDERS;
    for (let d = 0; d < orders; d++) {
      const at = offsets[d]! + 2 * (window & ((2 << d) - 1));
      let prediction = 0;
      if (d === 0 || found) {
        const zeros = counts[at]!;
        const ones = counts[at + 1]!;
        prediction = zeros > ones ? 0 : 1;
        found = (zeros > ones ? zeros : ones) !== 0;
      }
      if (found) {
        scorePrediction(board, record, d, speaker, prediction === next);
        if (counts[at + next] !== 0) {
          counts[at + next]!++;
        } else if (entries[d]! < MAX_ENTRIES) {
          counts[at + next] = 1;
          entries[d]!++;
        }
      } else if (entries[d]! < MAX_ENTRIES) {
        counts[at + next] = 1;
        entries[d]!++;
      }
    }
  }
  return record.score(length - 2);
}
