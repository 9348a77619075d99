import { packBits, window32 as importedWindow32 } from './packed-bits';

// Loaded as CommonJS (tsx, jest), a call of an imported function reads it through the export's getter, which V8 does
// not inline into a hot loop; the loops here call a module-level binding instead.
const window32 = importedWindow32;

/**
 * Suffix array by induced sorting (SA-IS, Nong, Zhang and Chan 2009): linear time, so the t-Tuple and LRS
 * estimators stay fast on the 8,000,000-bit bitstring of a million 8-bit samples.
 * `text` holds symbols 0..upper.
 */
export function suffixArray(text: Uint8Array | Int32Array, upper: number): Int32Array {
  const n = text.length;
  if (n === 0) return new Int32Array(0);
  if (n === 1) return Int32Array.of(0);
  if (n === 2) return text[0]! < text[1]! ? Int32Array.of(0, 1) : Int32Array.of(1, 0);

  const sa = new Int32Array(n);
  // 1 marks an S-type suffix (smaller than the one after it); the last suffix is L-type.
  const sType = new Uint8Array(n);
  for (let i = n - 2; i >= 0; i--) {
    const a = text[i]!;
    const b = text[i + 1]!;
    sType[i] = a === b ? sType[i + 1]! : a < b ? 1 : 0;
  }
  // Bucket starts: sumS[c] is where S-type suffixes starting with c begin, sumL[c] where L-type ones begin.
  const sumL = new Int32Array(upper + 2);
  const sumS = new Int32Array(upper + 2);
  for (let i = 0; i < n; i++) {
    if (sType[i] === 0) sumS[text[i]!]!++;
    else sumL[text[i]! + 1]!++;
  }
  for (let c = 0; c <= upper; c++) {
    sumS[c]! += sumL[c]!;
    if (c < upper) sumL[c + 1]! += sumS[c]!;
  }
  const bucket = new Int32Array(upper + 2);
  const induce = (lms: Int32Array): void => {
    sa.fill(-1);
    bucket.set(sumS);
    for (let k = 0; k < lms.length; k++) {
      const d = lms[k]!;
      if (d !== n) sa[bucket[text[d]!]!++] = d;
    }
    bucket.set(sumL);
    sa[bucket[text[n - 1]!]!++] = n - 1;
    for (let i = 0; i < n; i++) {
      const v = sa[i]!;
      if (v >= 1 && sType[v - 1] === 0) sa[bucket[text[v - 1]!]!++] = v - 1;
    }
    bucket.set(sumL);
    for (let i = n - 1; i >= 0; i--) {
      const v = sa[i]!;
      if (v >= 1 && sType[v - 1] === 1) sa[--bucket[text[v - 1]! + 1]!] = v - 1;
    }
  };

  const lmsIndex = new Int32Array(n + 1).fill(-1);
  let m = 0;
  for (let i = 1; i < n; i++) if (sType[i - 1] === 0 && sType[i] === 1) lmsIndex[i] = m++;
  const lms = new Int32Array(m);
  for (let i = 1, k = 0; i < n; i++) if (sType[i - 1] === 0 && sType[i] === 1) lms[k++] = i;
  induce(lms);
  if (m === 0) return sa;

  const sortedLms = new Int32Array(m);
  for (let i = 0, k = 0; i < n; i++) {
    const v = sa[i]!;
    if (lmsIndex[v] !== -1) sortedLms[k++] = v;
  }
  // Name the LMS substrings; equal substrings get equal names and the reduced string is sorted recursively.
  const reduced = new Int32Array(m);
  let names = 0;
  reduced[lmsIndex[sortedLms[0]!]!] = 0;
  for (let k = 1; k < m; k++) {
    let l = sortedLms[k - 1]!;
    let r = sortedLms[k]!;
    const endL = lmsIndex[l]! + 1 < m ? lms[lmsIndex[l]! + 1]! : n;
    const endR = lmsIndex[r]! + 1 < m ? lms[lmsIndex[r]! + 1]! : n;
    let same = true;
    if (endL - l !== endR - r) {
      same = false;
    } else {
      while (l < endL && text[l] === text[r]) {
        l++;
        r++;
      }
      if (l === n || r >= n || text[l] !== text[r]) same = false;
    }
    if (!same) names++;
    reduced[lmsIndex[sortedLms[k]!]!] = names;
  }
  const reducedSa = suffixArray(reduced, names);
  for (let k = 0; k < m; k++) sortedLms[k] = lms[reducedSa[k]!]!;
  induce(sortedLms);
  return sa;
}

/** Kasai et al.: lcp[i] is the length of the longest common prefix of suffixes sa[i-1] and sa[i]; lcp[0] is 0. */
export function longestCommonPrefixes(text: Uint8Array | Int32Array, sa: Int32Array): Int32Array {
  const n = text.length;
  const rank = new Int32Array(n);
  for (let i = 0; i < n; i++) rank[sa[i]!] = i;
  const lcp = new Int32Array(n);
  let h = 0;
  for (let i = 0; i < n; i++) {
    const r = rank[i]!;
    if (r === 0) {
      h = 0;
      continue;
    }
    const j = sa[r - 1]!;
    while (i + h < n && j + h < n && text[i + h] === text[j + h]) h++;
    lcp[r] = h;
    if (h > 0) h--;
  }
  return lcp;
}

/** Bits of each radix digit and of the whole key the binary suffix sort starts from. */
const DIGIT_BITS = 8;
const KEY_BITS = 40;

/** Thrown out of the binary sort when the input repeats too much for it; the general algorithms take over. */
class TooRepetitive extends Error {}

/**
 * The suffix array and LCP array of a bitstring (symbols 0 and 1), the same as suffixArray and
 * longestCommonPrefixes give. The bits are packed 32 to a word (8 million bits in 1 MB, which stays in cache): the
 * suffixes are radix-sorted on their first 40 bits, the few that share them are sorted by comparing words, and each
 * LCP is found by comparing words too. In a bitstring with long repeats (a run, a short period) these comparisons
 * would grow without bound; past a budget proportional to the length, the general linear-time algorithms run
 * instead.
 */
export function binarySuffixArray(bits: Uint8Array): { sa: Int32Array; lcp: Int32Array } {
  const n = bits.length;
  if (n >= 2) {
    try {
      const words = packBits(bits, KEY_BITS);
      const sa = radixSortSuffixes(words, n);
      sortSharedKeys(words, n, sa);
      return { sa, lcp: packedCommonPrefixes(words, n, sa) };
    } catch (error) {
      if (!(error instanceof TooRepetitive)) throw error;
    }
  }
  const sa = suffixArray(bits, 1);
  return { sa, lcp: longestCommonPrefixes(bits, sa) };
}

/**
 * LSD radix sort on the first KEY_BITS bits, zeros past the end. The initial order is by decreasing position and
 * the sort is stable, so among suffixes with equal keys the shorter comes first: right when it is a prefix of the
 * longer one, which equal keys imply for any suffix shorter than the key.
 */
function radixSortSuffixes(words: Int32Array, n: number): Int32Array {
  const passes = KEY_BITS / DIGIT_BITS;
  const buckets = 1 << DIGIT_BITS;
  const down = 32 - DIGIT_BITS;
  // Every pass's histogram, from one pass over the text in order.
  const counts = new Int32Array(passes * buckets);
  for (let p = 0; p < n; p++) {
    const high = window32(words, p);
    const low = window32(words, p + 32);
    for (let digit = 0; digit < passes; digit++) {
      const shift = digit * DIGIT_BITS;
      const value = shift < 32 ? high << shift : low << (shift - 32);
      counts[digit * buckets + (value >>> down)]!++;
    }
  }
  for (let digit = 0; digit < passes; digit++) {
    for (let d = 0, sum = 0; d < buckets; d++) {
      const c = counts[digit * buckets + d]!;
      counts[digit * buckets + d] = sum;
      sum += c;
    }
  }
  let order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = n - 1 - i;
  let next = new Int32Array(n);
  for (let digit = passes - 1; digit >= 0; digit--) {
    const shift = digit * DIGIT_BITS;
    const base = digit * buckets;
    for (let r = 0; r < n; r++) {
      const p = order[r]!;
      next[counts[base + (window32(words, p + shift) >>> down)]!++] = p;
    }
    [order, next] = [next, order];
  }
  return order;
}

/** Sorts, by comparing words past the key, each run of suffixes longer than the key that share it. */
function sortSharedKeys(words: Int32Array, n: number, sa: Int32Array): void {
  let budget = 2 * n;
  const compare = (a: number, b: number): number => {
    for (let h = KEY_BITS; ; h += 32) {
      if (--budget < 0) throw new TooRepetitive();
      const la = n - a - h;
      const lb = n - b - h;
      const shorter = la < lb ? la : lb;
      const wa = window32(words, a + h);
      const wb = window32(words, b + h);
      if (wa !== wb) {
        if (Math.clz32(wa ^ wb) < shorter) return wa >>> 0 < wb >>> 0 ? -1 : 1;
        return la - lb;
      }
      if (shorter <= 32) return la - lb;
    }
  };
  const sameKey = (a: number, b: number): boolean =>
    window32(words, a) === window32(words, b) && window32(words, a + 32) >>> (64 - KEY_BITS) === window32(words, b + 32) >>> (64 - KEY_BITS);
  for (let r = 1; r < n; ) {
    if (!sameKey(sa[r - 1]!, sa[r]!)) {
      r++;
      continue;
    }
    let start = r - 1;
    let end = r + 1;
    while (end < n && sameKey(sa[start]!, sa[end]!)) end++;
    // Suffixes shorter than the key come first in the run (by decreasing position) and are in place already.
    while (start < end && n - sa[start]! < KEY_BITS) start++;
    if (end - start > 1) sa.set(Array.from(sa.subarray(start, end)).sort(compare), start);
    r = end + 1;
  }
}

/** lcp[r] of sa[r-1] and sa[r], 32 bits at a time, for texts whose suffixes share short prefixes. */
function packedCommonPrefixes(words: Int32Array, n: number, sa: Int32Array): Int32Array {
  const lcp = new Int32Array(n);
  let budget = 4 * n;
  for (let r = 1; r < n; r++) {
    const a = sa[r - 1]!;
    const b = sa[r]!;
    const limit = n - (a > b ? a : b);
    let h = 0;
    for (;;) {
      const x = window32(words, a + h) ^ window32(words, b + h);
      if (x !== 0) {
        h += Math.clz32(x);
        break;
      }
      h += 32;
      if (h >= limit) break;
      if (--budget < 0) throw new TooRepetitive();
    }
    lcp[r] = h < limit ? h : limit;
  }
  return lcp;
}
