import { ContextTable, extendContextHash as importedExtendContextHash, symbolRadix } from './context-table';
import type { EstimatorOutcome } from './estimate';
import { contextWindows as importedContextWindows } from './packed-bits';
import { predictorEstimate, PredictorRecord, type PredictorScore } from './prediction';

// Loaded as CommonJS (tsx, jest), a call of an imported function reads it through the export's getter, which V8 does
// not inline into a hot loop; the loops here call a module-level binding instead.
const extendContextHash = importedExtendContextHash;
const contextWindows = importedContextWindows;

const MAX_CONTEXT = 16;
/** Section 6.3.10 caps the dictionary at this many contexts (all lengths together). */
const MAX_DICTIONARY_SIZE = 65_536;

/**
 * Section 6.3.10: an LZ78-like dictionary of the contexts of length 1 to 16 before each symbol; the context whose
 * best follower was seen most often predicts, a longer context winning a tie.
 */
export function lz78yEstimate(symbols: Uint8Array, alphabetSize: number): EstimatorOutcome {
  return predictorEstimate(
    { minimumLength: MAX_CONTEXT + 2, scoreBits: (bits) => lz78yBinaryScore(bits), scoreSymbols: score256 },
    symbols,
    alphabetSize,
  );
}

function score256(data: Uint8Array): PredictorScore {
  const length = data.length;
  const radix = symbolRadix(data);
  const tables = Array.from({ length: MAX_CONTEXT }, (_, j) => new ContextTable(data, j + 1, 4096, radix));
  const hashes = new Int32Array(MAX_CONTEXT + 1);
  let dictionarySize = 0;
  let hash = 0;
  for (let width = 1; width <= MAX_CONTEXT; width++) {
    const at = MAX_CONTEXT - width;
    hash = extendContextHash(hash, data[at]!, width - 1);
    const table = tables[width - 1]!;
    table.countFollower(table.findOrAdd(at, hash), data[MAX_CONTEXT]!, true);
    dictionarySize++;
  }

  const record = new PredictorRecord();
  let i = MAX_CONTEXT + 1;
  for (; i < length && dictionarySize < MAX_DICTIONARY_SIZE; i++) {
    const next = data[i]!;
    hash = 0;
    for (let width = 1; width <= MAX_CONTEXT; width++) {
      hash = extendContextHash(hash, data[i - width]!, width - 1);
      hashes[width] = hash;
    }
    let havePrediction = false;
    let prediction = 0;
    let maxCount = 0;
    for (let width = MAX_CONTEXT; width > 0; width--) {
      const table = tables[width - 1]!;
      const at = i - width;
      const id = table.find(at, hashes[width]!);
      if (id >= 0) {
        const count = table.bestCount(id);
        if (count > maxCount) {
          maxCount = count;
          prediction = table.predictedSymbol(id);
          havePrediction = true;
        }
        table.countFollower(id, next, true);
      } else if (dictionarySize < MAX_DICTIONARY_SIZE) {
        table.countFollower(table.findOrAdd(at, hashes[width]!), next, true);
        dictionarySize++;
      }
    }
    record.check(havePrediction && prediction === next);
  }

  // The dictionary is full: from here on it only counts. A context whose last width - 1 symbols are in the
  // dictionary too is found only where they are found, so the lengths are tried from 1 up until one is missing.
  // The others ("orphans") were added as the dictionary filled, after their suffix had been refused; past a missing
  // length, the shortest orphan length that matches resumes the climb.
  const orphanWidths: number[] = [];
  for (let width = 2; width <= MAX_CONTEXT; width++) {
    const table = tables[width - 1]!;
    const suffixes = tables[width - 2]!;
    for (let id = 0; id < table.size; id++) {
      const at = table.contextStart(id) + 1;
      let suffixHash = 0;
      for (let j = width - 2; j >= 0; j--) suffixHash = extendContextHash(suffixHash, data[at + j]!, width - 2 - j);
      if (suffixes.find(at, suffixHash) < 0) {
        orphanWidths.push(width);
        break;
      }
    }
  }
  for (; i < length; i++) {
    const next = data[i]!;
    let havePrediction = false;
    let prediction = 0;
    let maxCount = 0;
    let width = 1;
    let hash = extendContextHash(0, data[i - 1]!, 0);
    let orphan = 0;
    for (;;) {
      const table = tables[width - 1]!;
      const id = table.find(i - width, hash);
      if (id >= 0) {
        // Lengths rise, so >= lets a longer context win a tie, as the definition's falling order with > does.
        const count = table.bestCount(id);
        if (count >= maxCount) {
          maxCount = count;
          prediction = table.predictedSymbol(id);
          havePrediction = true;
        }
        table.countFollower(id, next, true);
        if (++width > MAX_CONTEXT) break;
      } else {
        while (orphan < orphanWidths.length && orphanWidths[orphan]! <= width) orphan++;
        if (orphan === orphanWidths.length) break;
        const target = orphanWidths[orphan]!;
        while (width < target - 1) {
          width++;
          hash = extendContextHash(hash, data[i - width]!, width - 1);
        }
        width++;
      }
      hash = extendContextHash(hash, data[i - width]!, width - 1);
    }
    record.check(havePrediction && prediction === next);
  }
  return record.score(length - MAX_CONTEXT - 1);
}

/** Positions scored per pass of each context length over the bits, so that a pass's windows and bests stay in a core's cache. */
const CHUNK = 1 << 14;

/** How lazyRemainder works and when it gives up; tests force its rare paths with other values. */
export interface LazyCounting {
  /** The context lengths whose counts are kept up to date at every position (at least 1); longer ones are counted on demand. */
  eagerWidths: number;
  /** Counts on demand allowed per position scored (and 1024 more) before giving up. */
  queriesPerPosition: number;
  /** Context lengths FollowerPositions may index (4 bytes per position each) before giving up. */
  indexedWidths: number;
}

const LAZY_COUNTING: LazyCounting = { eagerWidths: 2, queriesPerPosition: 1 / 16, indexedWidths: 2 };

/**
 * The binary case with dense tables: two counters per context of each length, the most recent bit lowest. A context
 * is in the dictionary when one of its counters is not zero.
 *
 * Until the dictionary is full, the order in which contexts are added matters and the lengths are tried in turn at
 * each position. From then on the dictionary is fixed, and the remainder is scored by lazyRemainder, or by
 * eagerRemainder when lazyRemainder gives up.
 */
export function lz78yBinaryScore(bits: Uint8Array, lazyCounting: LazyCounting = LAZY_COUNTING): PredictorScore {
  const length = bits.length;
  const offsets = new Int32Array(MAX_CONTEXT + 1);
  let total = 0;
  for (let width = 1; width <= MAX_CONTEXT; width++) {
    offsets[width] = total;
    total += 1 << (width + 1);
  }
  const counts = new Int32Array(total);
  let dictionarySize = 0;
  let pattern = 0;
  for (let width = 1; width <= MAX_CONTEXT; width++) {
    pattern |= bits[MAX_CONTEXT - width]! << (width - 1);
    counts[offsets[width]! + 2 * pattern + bits[MAX_CONTEXT]!] = 1;
    dictionarySize++;
  }

  const record = new PredictorRecord();
  let window = 0;
  for (let j = 0; j < MAX_CONTEXT; j++) window = (window << 1) | bits[j]!;
  let i = MAX_CONTEXT + 1;
  for (; i < length && dictionarySize < MAX_DICTIONARY_SIZE; i++) {
    const next = bits[i]!;
    window = ((window << 1) | bits[i - 1]!) & 0xffff;
    let havePrediction = false;
    let prediction = 0;
    let maxCount = 0;
    for (let width = MAX_CONTEXT; width > 0; width--) {
      const at = offsets[width]! + 2 * (window & ((1 << width) - 1));
      const zeros = counts[at]!;
      const ones = counts[at + 1]!;
      const count = zeros > ones ? zeros : ones;
      if (count !== 0) {
        if (count > maxCount) {
          maxCount = count;
          prediction = zeros > ones ? 0 : 1;
          havePrediction = true;
        }
        counts[at + next]!++;
      } else if (dictionarySize < MAX_DICTIONARY_SIZE) {
        counts[at + next] = 1;
        dictionarySize++;
      }
    }
    record.check(havePrediction && prediction === next);
  }

  const eager = counts.slice(0, offsets[lazyCounting.eagerWidths]! + (2 << lazyCounting.eagerWidths));
  const lazy = lazyRemainder(bits, counts, offsets, i, record.copy(), lazyCounting);
  if (lazy) return lazy.score(length - MAX_CONTEXT - 1);
  counts.set(eager);
  eagerRemainder(bits, counts, offsets, i, record);
  return record.score(length - MAX_CONTEXT - 1);
}

/**
 * Scores positions from `from` on, once the dictionary is full, reading the counts of most contexts only when needed.
 *
 * The contexts before a position are nested (each one the last bits of the next longer one), and a context in the
 * dictionary was added where it first occurred: no later than any longer one that is in it too, whose every
 * occurrence since is one of its own. So each follower's count, and the best count, never grow with the length
 * among the lengths in the dictionary. The definition's prediction, the longest length with the largest best count
 * (longer winning ties), is therefore found by climbing from the shortest length while the best count stays equal to
 * the first; on varied bits the climb stops at the second length. Only lengths up to `eagerWidths` count their
 * followers as they go; a longer one's count is its count when the dictionary filled plus its occurrences since,
 * found in FollowerPositions. Gives up (undefined) when the climb is often long, which takes bits that turned regular
 * after filling the dictionary.
 */
function lazyRemainder(
  bits: Uint8Array,
  counts: Int32Array,
  offsets: Int32Array,
  from: number,
  record: PredictorRecord,
  { eagerWidths, queriesPerPosition, indexedWidths }: LazyCounting,
): PredictorRecord | undefined {
  const length = bits.length;
  const since = new FollowerPositions(bits, from, indexedWidths);
  let budget = Math.floor((length - from) * queriesPerPosition) + 1024;
  let window = 0;
  for (let p = from - MAX_CONTEXT; p < from; p++) window = ((window << 1) | bits[p]!) & 0xffff;
  for (let i = from; i < length; i++) {
    const next = bits[i]!;
    let best = 0;
    let prediction = 0;
    for (let width = 1; width <= MAX_CONTEXT; width++) {
      const context = window & ((1 << width) - 1);
      const at = offsets[width]! + 2 * context;
      let zeros = counts[at]!;
      let ones = counts[at + 1]!;
      // Not in the dictionary, which no longer changes.
      if ((zeros | ones) === 0) continue;
      if (width > eagerWidths) {
        if (--budget < 0 || !since.ready(width)) return undefined;
        zeros += since.count(width, context, 0, i);
        ones += since.count(width, context, 1, i);
      }
      const count = zeros > ones ? zeros : ones;
      if (best !== 0 && count !== best) break;
      best = count;
      prediction = zeros > ones ? 0 : 1;
    }
    record.check(best !== 0 && prediction === next);
    for (let width = 1; width <= eagerWidths; width++) {
      const at = offsets[width]! + 2 * (window & ((1 << width) - 1));
      if ((counts[at]! | counts[at + 1]!) !== 0) counts[at + next]!++;
    }
    window = ((window << 1) | next) & 0xffff;
  }
  return record;
}

/**
 * The positions from `from` on, grouped by the context of one length before them and the bit at them, in
 * increasing order within a group: how often a context was followed by a bit before a position is then one binary
 * search. Each length's index is built the first time it is asked for.
 */
class FollowerPositions {
  private readonly starts: (Int32Array | undefined)[] = [];
  private readonly positions: (Int32Array | undefined)[] = [];
  private built = 0;

  constructor(
    private readonly bits: Uint8Array,
    private readonly from: number,
    private readonly maxBuilt: number,
  ) {}

  /** Whether the index of `width` is there or could be built within the limit. */
  ready(width: number): boolean {
    if (this.starts[width]) return true;
    if (this.built === this.maxBuilt) return false;
    this.build(width);
    return true;
  }

  /** How often `context` (of `width` bits, the most recent lowest) was followed by `bit` from `from` to before `before`. */
  count(width: number, context: number, bit: number, before: number): number {
    const starts = this.starts[width]!;
    const positions = this.positions[width]!;
    const key = 2 * context + bit;
    const first = starts[key]!;
    let low = first;
    let high = starts[key + 1]!;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (positions[middle]! < before) low = middle + 1;
      else high = middle;
    }
    return low - first;
  }

  private build(width: number): void {
    const { bits, from } = this;
    const length = bits.length;
    const mask = (1 << width) - 1;
    const starts = new Int32Array((2 << width) + 1);
    let window = 0;
    for (let p = from - width; p < from; p++) window = ((window << 1) | bits[p]!) & mask;
    const keys = new Int32Array(length - from);
    for (let p = from; p < length; p++) {
      const key = 2 * window + bits[p]!;
      keys[p - from] = key;
      starts[key + 1]!++;
      window = ((window << 1) | bits[p]!) & mask;
    }
    for (let key = 1; key < starts.length; key++) starts[key]! += starts[key - 1]!;
    const fill = starts.slice(0, -1);
    const positions = new Int32Array(length - from);
    for (let p = from; p < length; p++) positions[fill[keys[p - from]!]!++] = p;
    this.starts[width] = starts;
    this.positions[width] = positions;
    this.built++;
  }
}

/**
 * Scores positions from `from` on, once the dictionary is full, counting every length's followers: the lengths do
 * not depend on each other then, so each runs alone over a chunk of positions, in a loop without branches on the
 * data, keeping per position the largest best count so far and its prediction (from the longest length down, a
 * shorter one replacing it only with a larger count, as the definition's falling order does).
 */
function eagerRemainder(bits: Uint8Array, counts: Int32Array, offsets: Int32Array, from: number, record: PredictorRecord): void {
  const length = bits.length;
  const windows = new Int32Array(CHUNK);
  // Per position: the largest best count of the lengths passed so far (0: no prediction), and its prediction.
  const bestCounts = new Int32Array(CHUNK);
  const predictions = new Int32Array(CHUNK);
  for (let start = from; start < length; start += CHUNK) {
    const size = Math.min(CHUNK, length - start);
    contextWindows(bits, start, windows);
    bestCounts.fill(0);
    for (let width = MAX_CONTEXT; width > 0; width--) {
      const base = offsets[width]!;
      const mask = (1 << width) - 1;
      for (let j = 0; j < size; j++) {
        const at = base + 2 * (windows[j]! & mask);
        const zeros = counts[at]!;
        const ones = counts[at + 1]!;
        // All ones when ones > zeros, else 0; then the larger count.
        const onesLead = (zeros - ones) >> 31;
        const count = zeros ^ ((zeros ^ ones) & onesLead);
        const best = bestCounts[j]!;
        const better = (best - count) >> 31;
        bestCounts[j] = best ^ ((best ^ count) & better);
        // A tie predicts 1, as zeros > ones ? 0 : 1 does.
        const bit = ((ones - zeros) >>> 31) ^ 1;
        predictions[j] = predictions[j]! ^ ((predictions[j]! ^ bit) & better);
        // Only a context in the dictionary (count > 0) counts its follower.
        counts[at + bits[start + j]!]! += -count >>> 31;
      }
    }
    for (let j = 0; j < size; j++) record.check(bestCounts[j]! !== 0 && predictions[j] === bits[start + j]);
  }
}
