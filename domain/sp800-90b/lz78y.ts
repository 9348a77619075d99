import { ContextTable, extendContextHash as importedExtendContextHash, symbolRadix } from './context-table';
import type { EstimatorOutcome } from './estimate';
import { predictorEstimate, PredictorRecord, type PredictorScore } from './prediction';

// Loaded as CommonJS (tsx, jest), a call of an imported function reads it through the export's getter, which V8 does
// not inline into a hot loop; the loops here call a module-level binding instead.
const extendContextHash = importedExtendContextHash;

const MAX_CONTEXT = 16;
/** Section 6.3.10 caps the dictionary at this many contexts (all lengths together). */
const MAX_DICTIONARY_SIZE = 65_536;

/**
 * Section 6.3.10: an LZ78-like dictionary of the contexts of length 1 to 16 before each symbol; the context whose
 * best follower was seen most often predicts, a longer context winning a tie.
 */
export function lz78yEstimate(symbols: Uint8Array, alphabetSize: number): EstimatorOutcome {
  return predictorEstimate({ minimumLength: MAX_CONTEXT + 2, scoreBits: binaryScore, scoreSymbols: score256 }, symbols, alphabetSize);
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

/** The binary case with dense tables: two counters per context of each length, the most recent bit lowest. */
function binaryScore(bits: Uint8Array): PredictorScore {
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
  for (let i = MAX_CONTEXT + 1; i < length; i++) {
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
  return record.score(length - MAX_CONTEXT - 1);
}
