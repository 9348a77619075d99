import { ContextTable, extendContextHash as importedExtendContextHash, symbolRadix } from './context-table';
import type { EstimatorOutcome } from './estimate';
import { contextWindows as importedContextWindows, popcount as importedPopcount } from './packed-bits';
import { predictorEstimate, PredictorRecord, type PredictorScore, Scoreboard } from './prediction';

// Loaded as CommonJS (tsx, jest), a call of an imported function reads it through the export's getter, which V8 does
// not inline into a hot loop; the loops here call a module-level binding instead.
const extendContextHash = importedExtendContextHash;
const contextWindows = importedContextWindows;
const popcount = importedPopcount;

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

/** Positions scored per pass of the models over the bits, so that a pass's windows and words stay in a core's cache. */
const CHUNK = 1 << 14;
const CHUNK_WORDS = CHUNK >> 5;

/** What a pass of the models over a chunk of positions reads and writes (see binaryScore). */
interface Pass {
  bits: Uint8Array;
  /** The 16 bits before each position of the chunk, the most recent lowest. */
  windows: Int32Array;
  /** Two counters per context of each model, model d's from offsets[d]. */
  counts: Int32Array;
  offsets: Int32Array;
  /** Word w of model d, bit 31 - j: position 32w + j of the chunk was right (rights) or had a prediction (seen). */
  rights: Int32Array;
  seen: Int32Array;
  /** The chunk: `size` positions from `from`. */
  from: number;
  size: number;
}

/**
 * Model d over words [fromWord, toWord) of the chunk, skipping the positions it does not consult yet. The last model
 * stops adding (context, follower) pairs once `capped` reaches the cap; answers the count after.
 */
function scoreAlone(pass: Pass, d: number, fromWord: number, toWord: number, capped: number): number {
  const { bits, windows, counts, rights, seen, from, size } = pass;
  const first = Math.max(0, d + 2 - from);
  const base = pass.offsets[d]!;
  const mask = (2 << d) - 1;
  const limited = d === ORDERS - 1;
  let entries = capped;
  for (let w = fromWord; w < toWord; w++) {
    const start = w << 5;
    const end = Math.min(start + 32, size);
    let right = 0;
    let had = 0;
    for (let j = Math.max(start, first); j < end; j++) {
      const at = base + 2 * (windows[j]! & mask);
      const zeros = counts[at]!;
      const ones = counts[at + 1]!;
      const next = bits[from + j]!;
      const known = -(zeros | ones) >>> 31;
      had = (had << 1) | known;
      right = (right << 1) | (known & (((ones - zeros) >>> 31) ^ next));
      if (!limited || counts[at + next] !== 0) {
        counts[at + next]!++;
      } else if (entries < MAX_ENTRIES) {
        counts[at + next] = 1;
        entries++;
      }
    }
    // Positions past the end of a last, short word stay clear.
    const align = 32 - (end - start);
    rights[d * CHUNK_WORDS + w] = right << align;
    seen[d * CHUNK_WORDS + w] = had << align;
  }
  return entries;
}

/** Models d, d + 1 and d + 2 (never capped) over words [fromWord, toWord), each position's window and bit read once. */
function scoreThree(pass: Pass, d: number, fromWord: number, toWord: number): void {
  const { bits, windows, counts, offsets, rights, seen, from, size } = pass;
  const b0 = offsets[d]!;
  const b1 = offsets[d + 1]!;
  const b2 = offsets[d + 2]!;
  const m0 = (2 << d) - 1;
  const m1 = (4 << d) - 1;
  const m2 = (8 << d) - 1;
  for (let w = fromWord; w < toWord; w++) {
    const start = w << 5;
    const end = Math.min(start + 32, size);
    let r0 = 0;
    let r1 = 0;
    let r2 = 0;
    let h0 = 0;
    let h1 = 0;
    let h2 = 0;
    for (let j = start; j < end; j++) {
      const window = windows[j]!;
      const next = bits[from + j]!;
      const a0 = b0 + 2 * (window & m0);
      const a1 = b1 + 2 * (window & m1);
      const a2 = b2 + 2 * (window & m2);
      const z0 = counts[a0]!;
      const o0 = counts[a0 + 1]!;
      const z1 = counts[a1]!;
      const o1 = counts[a1 + 1]!;
      const z2 = counts[a2]!;
      const o2 = counts[a2 + 1]!;
      const k0 = -(z0 | o0) >>> 31;
      const k1 = -(z1 | o1) >>> 31;
      const k2 = -(z2 | o2) >>> 31;
      h0 = (h0 << 1) | k0;
      h1 = (h1 << 1) | k1;
      h2 = (h2 << 1) | k2;
      r0 = (r0 << 1) | (k0 & (((o0 - z0) >>> 31) ^ next));
      r1 = (r1 << 1) | (k1 & (((o1 - z1) >>> 31) ^ next));
      r2 = (r2 << 1) | (k2 & (((o2 - z2) >>> 31) ^ next));
      counts[a0 + next]!++;
      counts[a1 + next]!++;
      counts[a2 + next]!++;
    }
    const align = 32 - (end - start);
    rights[d * CHUNK_WORDS + w] = r0 << align;
    rights[(d + 1) * CHUNK_WORDS + w] = r1 << align;
    rights[(d + 2) * CHUNK_WORDS + w] = r2 << align;
    seen[d * CHUNK_WORDS + w] = h0 << align;
    seen[(d + 1) * CHUNK_WORDS + w] = h1 << align;
    seen[(d + 2) * CHUNK_WORDS + w] = h2 << align;
  }
}

/**
 * The binary case with dense tables: the order-(d+1) model keeps two counters per (d+1)-bit context, the most
 * recent bit in the context's lowest position.
 *
 * With bits the models do not depend on each other: a context of order d + 1 seen before implies that its last d
 * bits were seen before by order d (they were counted at the same position, and order d, with at most 2^16 pairs,
 * is never capped), so the rule that longer contexts are consulted only after a shorter one was found changes no
 * prediction. The models therefore run over a chunk of positions three to a loop without branches (the capped last
 * one alone), and keep, 32 positions to a word, where each had a prediction and where it was right. The scoreboard then goes over the words as
 * Lag's does: a model more than a word's steps behind the high score can neither speak nor take the lead within the
 * word, so one popcount scores it; only the models within reach are scored step by step, in the definition's order.
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
  const rights = new Int32Array(ORDERS * CHUNK_WORDS);
  const seen = new Int32Array(ORDERS * CHUNK_WORDS);
  const scores = new Int32Array(ORDERS);
  let winner = 0;
  let high = 0;
  const record = new PredictorRecord();
  for (let from = 2; from < length; from += CHUNK) {
    const size = Math.min(CHUNK, length - from);
    const words = (size + 31) >> 5;
    contextWindows(bits, from, windows);
    const pass = { bits, windows, counts, offsets, rights, seen, from, size };
    // Order d consults positions i >= d + 2, all within the first chunk's first word: that word goes model by model.
    const grouped = from === 2 ? 1 : 0;
    for (let d = 0; d < ORDERS - 1; d++) if (grouped === 1) scoreAlone(pass, d, 0, 1, 0);
    for (let d = 0; d < ORDERS - 1; d += 3) scoreThree(pass, d, grouped, words);
    capped = scoreAlone(pass, ORDERS - 1, 0, words, capped);
    for (let w = 0; w < words; w++) {
      const steps = Math.min(32, size - (w << 5));
      const full = steps === 32 ? -1 : ~(-1 >>> steps);
      let near = 0;
      for (let d = 0; d < ORDERS; d++) if (scores[d]! + steps >= high) near |= 1 << d;
      if (near === 1 << winner && seen[winner * CHUNK_WORDS + w] === full) {
        // Only the winner is within reach, and it predicts at every step: it speaks for the whole word.
        record.checkWord(rights[winner * CHUNK_WORDS + w]!, steps);
        for (let d = 0; d < ORDERS; d++) scores[d]! += popcount(rights[d * CHUNK_WORDS + w]!);
        high = scores[winner]!;
        continue;
      }
      for (let k = 0; k < steps; k++) {
        const shift = 31 - k;
        // The model that speaks for this position is the winner before any of its scores.
        if ((seen[winner * CHUNK_WORDS + w]! >>> shift) & 1) record.check(((rights[winner * CHUNK_WORDS + w]! >>> shift) & 1) === 1);
        for (let m = near; m !== 0; m &= m - 1) {
          const d = 31 - Math.clz32(m & -m);
          if ((rights[d * CHUNK_WORDS + w]! >>> shift) & 1) {
            const score = ++scores[d]!;
            if (score >= high) {
              high = score;
              winner = d;
            }
          }
        }
      }
      for (let d = 0; d < ORDERS; d++) if (((near >>> d) & 1) === 0) scores[d]! += popcount(rights[d * CHUNK_WORDS + w]!);
    }
  }
  return record.score(length - 2);
}
