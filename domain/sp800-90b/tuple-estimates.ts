import type { EstimatorOutcome } from './estimate';
import { packBits, window32 as importedWindow32 } from './packed-bits';
import { proportionUpperBound } from './statistics';
import { binarySuffixArray, longestCommonPrefixes, suffixArray } from './suffix-array';

// Loaded as CommonJS (tsx, jest), a call of an imported function reads it through the export's getter, which V8 does
// not inline into a hot loop; the loops here call a module-level binding instead.
const window32 = importedWindow32;

/** A tuple must occur this often to count towards the t-Tuple estimate (section 6.3.5); longer ones go to LRS. */
export const TUPLE_OCCURRENCE_THRESHOLD = 35;

export interface TupleEstimates {
  tTuple: EstimatorOutcome;
  longestRepeatedSubstring: EstimatorOutcome;
}

/**
 * What both estimators need: v, the length of the longest repeated substring; for every t from 1 to v, q[t], the
 * count of the most common t-tuple (needed only while it is at least the threshold), and pairs[t], the number of pairs
 * of positions whose t-tuples are equal.
 */
export interface TupleCounts {
  v: number;
  q: Float64Array;
  pairs: Float64Array;
}

/**
 * Sections 6.3.5 (t-Tuple) and 6.3.6 (LRS). On bits, from direct counts of tuples (binaryTupleCounts); on other
 * symbols, from positions sorted by their first 8 symbols (sortedTupleCounts); when the symbols repeat too much for
 * either, from one suffix array. One pass over the longest common prefixes of neighbours in that order yields, for
 * every t, the largest tuple count Q[t] and the number of colliding pairs S[t]: the same quantities as Kaufer's
 * algorithm in the reference tool.
 */
export function tupleEstimates(symbols: Uint8Array, alphabetSize: number): TupleEstimates {
  const n = symbols.length;
  const none = (why: string): TupleEstimates => ({ tTuple: { notApplicable: why }, longestRepeatedSubstring: { notApplicable: why } });
  if (n < 2) return none('fewer than two symbols');
  const counts = (alphabetSize === 2 ? binaryTupleCounts(symbols) : alphabetSize <= 256 ? sortedTupleCounts(symbols) : undefined) ?? suffixTupleCounts(symbols, alphabetSize);
  if (counts.v === 0) return none('no symbol sequence repeats');
  return estimatesFrom(n, counts);
}

/** The tuple counts from a suffix array and its LCP array, for any alphabet. */
export function suffixTupleCounts(symbols: Uint8Array, alphabetSize: number): TupleCounts {
  if (alphabetSize === 2) return countsFromLcp(binarySuffixArray(symbols).lcp);
  return countsFromLcp(longestCommonPrefixes(symbols, suffixArray(symbols, Math.max(alphabetSize - 1, 1))));
}

/** The prefix that sortedTupleCounts sorts positions by, in symbols. */
const SORTED_PREFIX = 8;

/**
 * The tuple counts of symbols (up to 256 values) without a suffix array, when no two positions share SORTED_PREFIX
 * symbols, as on varied bytes (v is 5 or 6 on a million random bytes). The positions sorted by their first 8 symbols,
 * in 8 passes of a counting sort whose digit is the symbol plus one, 0 past the end so that a shorter suffix sorts
 * first, are in suffix array order as far as any prefix shorter than 8 tells; that is all the LCP pass needs.
 * Undefined when two positions share 8 symbols: the suffix array takes over.
 */
export function sortedTupleCounts(symbols: Uint8Array): TupleCounts | undefined {
  const n = symbols.length;
  let order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let sorted = new Int32Array(n);
  const starts = new Int32Array(258);
  for (let k = SORTED_PREFIX - 1; k >= 0; k--) {
    starts.fill(0);
    const last = n - k;
    for (let i = 0; i < n; i++) {
      const p = order[i]!;
      starts[(p < last ? symbols[p + k]! + 1 : 0) + 1]!++;
    }
    for (let digit = 1; digit < starts.length; digit++) starts[digit]! += starts[digit - 1]!;
    for (let i = 0; i < n; i++) {
      const p = order[i]!;
      sorted[starts[p < last ? symbols[p + k]! + 1 : 0]!++] = p;
    }
    [order, sorted] = [sorted, order];
  }
  const lcp = sorted;
  lcp[0] = 0;
  for (let i = 1; i < n; i++) {
    const a = order[i - 1]!;
    const b = order[i]!;
    const limit = Math.min(SORTED_PREFIX, n - a, n - b);
    let h = 0;
    while (h < limit && symbols[a + h] === symbols[b + h]) h++;
    if (h === SORTED_PREFIX) return undefined;
    lcp[i] = h;
  }
  return countsFromLcp(lcp);
}

/**
 * The tuple counts from the longest common prefixes of neighbours in suffix order (lcp[i]: of the suffixes i - 1 and
 * i; lcp[0] unused). Every group of suffixes sharing a prefix of length t is a node of the LCP-interval tree whose
 * depth range (parent depth, own depth] contains t.
 */
function countsFromLcp(lcp: Int32Array): TupleCounts {
  const n = lcp.length;
  let v = 0;
  for (let i = 1; i < n; i++) if (lcp[i]! > v) v = lcp[i]!;
  if (v === 0) return { v, q: new Float64Array(2), pairs: new Float64Array(1) };

  const largestAtDepth = new Float64Array(v + 2);
  const pairsDelta = new Float64Array(v + 2);
  const stackDepth = new Int32Array(v + 2);
  const stackStart = new Int32Array(v + 2);
  let top = 0;
  for (let i = 1; i <= n; i++) {
    const h = i < n ? lcp[i]! : 0;
    let start = i - 1;
    while (h < stackDepth[top]!) {
      const depth = stackDepth[top]!;
      const size = i - stackStart[top]!;
      start = stackStart[top]!;
      top--;
      const parentDepth = Math.max(h, stackDepth[top]!);
      if (size > largestAtDepth[depth]!) largestAtDepth[depth] = size;
      const pairs = (size * (size - 1)) / 2;
      pairsDelta[parentDepth + 1]! += pairs;
      pairsDelta[depth + 1]! -= pairs;
    }
    if (h > stackDepth[top]!) {
      top++;
      stackDepth[top] = h;
      stackStart[top] = start;
    }
  }

  // Q[t] is the largest group at depth t or deeper; S[t] the pairs of all groups whose depth range contains t.
  const q = new Float64Array(v + 2);
  for (let t = v; t >= 1; t--) q[t] = Math.max(largestAtDepth[t]!, q[t + 1]!);
  const pairs = new Float64Array(v + 1);
  for (let t = 1, running = 0; t <= v; t++) {
    running += pairsDelta[t]!;
    pairs[t] = running;
  }
  return { v, q, pairs };
}

/** Both estimates from the tuple counts of `n` symbols. */
function estimatesFrom(n: number, { v, q, pairs }: TupleCounts): TupleEstimates {
  let u = 1;
  while (u <= v && q[u]! >= TUPLE_OCCURRENCE_THRESHOLD) u++;

  let tTuple: EstimatorOutcome = { notApplicable: `no tuple occurs ${TUPLE_OCCURRENCE_THRESHOLD} times` };
  if (u > 1) {
    let pMax = -1;
    for (let t = 1; t < u; t++) pMax = Math.max(pMax, (q[t]! / (n - t + 1)) ** (1 / t));
    const pU = proportionUpperBound(pMax, n);
    tTuple = { minEntropy: -Math.log2(pU), detail: { t: u - 1, pHat: pMax, pU } };
  }

  let longestRepeatedSubstring: EstimatorOutcome = { notApplicable: 'the longest repeated substring is shorter than u' };
  if (v >= u) {
    let pMax = 0;
    for (let t = u; t <= v; t++) {
      const choices = ((n - t) * (n - t + 1)) / 2;
      pMax = Math.max(pMax, (pairs[t]! / choices) ** (1 / t));
    }
    const pU = proportionUpperBound(pMax, n);
    longestRepeatedSubstring = { minEntropy: -Math.log2(pU), detail: { u, v, pHat: pMax, pU } };
  }
  return { tTuple, longestRepeatedSubstring };
}

/** The longest tuples binaryTupleCounts counts directly: 2^23 counters, 32 MB. */
const MAX_KEY_BITS = 23;

/**
 * The tuple counts of a bitstring without a suffix array. Every K-tuple (K about log2 of the length, so that a tuple
 * occurs about once) is counted in a table of 2^K counters, its first bit highest; the table of (t-1)-tuples is that
 * of t-tuples with the last bit summed out (plus the one (t-1)-tuple that starts too late to have a t-tuple), which
 * gives q[t] and pairs[t] for every t up to K. Repeats longer than K are found among the positions that share a
 * K-tuple, each pair compared word by word: on varied bits a few million pairs. The positions are grouped by K-tuple
 * in two counting sorts (by its first half, then each group by its second half), so that no pass scatters over more
 * memory than a core's cache holds. Undefined when a tuple longer than K still occurs 35 times, or the bits repeat so
 * much that the pairs would take long: the suffix array takes over.
 */
export function binaryTupleCounts(bits: Uint8Array, keyBits = Math.min(MAX_KEY_BITS, Math.max(8, Math.ceil(Math.log2(bits.length))))): TupleCounts | undefined {
  const n = bits.length;
  const k = keyBits;
  if (n < 2 * k) return undefined;
  const words = packBits(bits);
  const down = 32 - k;
  const tuples = n - k + 1;
  const lowBits = k >> 1;
  const lowMask = (1 << lowBits) - 1;

  // Each position's k-tuple, read once in order; the first sort carries each one's low half along.
  const keys = new Int32Array(tuples);
  for (let p = 0; p < tuples; p++) keys[p] = window32(words, p) >>> down;
  const highStarts = new Int32Array((1 << (k - lowBits)) + 1);
  for (let p = 0; p < tuples; p++) highStarts[(keys[p]! >>> lowBits) + 1]!++;
  for (let high = 1; high < highStarts.length; high++) highStarts[high]! += highStarts[high - 1]!;
  const fill = highStarts.slice(0, -1);
  const byHigh = new Int32Array(tuples);
  const lowsByHigh = new Int32Array(tuples);
  for (let p = 0; p < tuples; p++) {
    const key = keys[p]!;
    const at = fill[key >>> lowBits]!++;
    byHigh[at] = p;
    lowsByHigh[at] = key & lowMask;
  }

  const table = new Int32Array(1 << k);
  // The keys are not read again: their array takes the positions sorted by key.
  const positions = keys;
  const lowStarts = new Int32Array(lowMask + 2);
  for (let high = 0; high + 1 < highStarts.length; high++) {
    const start = highStarts[high]!;
    const end = highStarts[high + 1]!;
    lowStarts.fill(0);
    for (let i = start; i < end; i++) lowStarts[lowsByHigh[i]! + 1]!++;
    const base = high << lowBits;
    for (let low = 0; low <= lowMask; low++) {
      table[base + low] = lowStarts[low + 1]!;
      lowStarts[low + 1]! += lowStarts[low]!;
    }
    for (let i = start; i < end; i++) positions[start + lowStarts[lowsByHigh[i]!]!++] = byHigh[i]!;
  }

  let largest = 0;
  let pairsAtK = 0;
  for (let key = 0; key < table.length; key++) {
    const c = table[key]!;
    if (c > largest) largest = c;
    pairsAtK += (c * (c - 1)) / 2;
  }
  if (largest >= TUPLE_OCCURRENCE_THRESHOLD) return undefined;

  // Pairs whose common prefix is longer than k: `longer[h]` counts those whose longest common prefix is h.
  let longer = new Float64Array(64);
  let v = 0;
  // Pairs and words compared past k: a few per position on varied bits.
  let budget = 2 * n - pairsAtK;
  if (budget < 0) return undefined;
  // The positions of each k-tuple are together, as many as the table counts.
  for (let key = 0, i = 0; key < table.length; key++) {
    const end = i + table[key]!;
    for (; i < end; i++) {
      const a = positions[i]!;
      for (let j = i + 1; j < end; j++) {
        const b = positions[j]!;
        // b > a: the suffix at b is the shorter.
        const limit = n - b;
        let h = k;
        while (h < limit) {
          const x = window32(words, a + h) ^ window32(words, b + h);
          if (x !== 0) {
            h += Math.clz32(x);
            break;
          }
          h += 32;
          if (--budget < 0) return undefined;
        }
        if (h > limit) h = limit;
        if (h > v) v = h;
        if (h >= longer.length) {
          const grown = new Float64Array(2 * h);
          grown.set(longer);
          longer = grown;
        }
        longer[h]!++;
      }
    }
  }

  const q = new Float64Array(Math.max(v, k) + 2);
  const pairs = new Float64Array(Math.max(v, k) + 1);
  // pairs[t] for t > k: the pairs whose common prefix is t or longer. q[t] there is below the threshold (q[k] is)
  // and is not needed.
  for (let t = v, running = 0; t > k; t--) {
    running += longer[t]!;
    pairs[t] = running;
  }
  q[k] = largest;
  pairs[k] = pairsAtK;

  // Down from k: the (t-1)-tuple table in place, and the tuple at n - t, which has no (t+1)-tuple.
  for (let t = k - 1; t >= 1; t--) {
    const size = 1 << t;
    for (let x = 0; x < size; x++) table[x] = table[2 * x]! + table[2 * x + 1]!;
    table[window32(words, n - t) >>> (32 - t)]!++;
    let top = 0;
    let collisions = 0;
    for (let x = 0; x < size; x++) {
      const c = table[x]!;
      if (c > top) top = c;
      collisions += (c * (c - 1)) / 2;
    }
    q[t] = top;
    pairs[t] = collisions;
  }
  if (v === 0) {
    v = k;
    while (v > 0 && q[v]! < 2) v--;
  }
  return { v, q: q.subarray(0, v + 2), pairs: pairs.subarray(0, v + 1) };
}
