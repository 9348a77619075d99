import type { EstimatorOutcome } from './estimate';
import { proportionUpperBound } from './statistics';
import { binarySuffixArray, longestCommonPrefixes, suffixArray } from './suffix-array';

/** A tuple must occur this often to count towards the t-Tuple estimate (section 6.3.5); longer ones go to LRS. */
export const TUPLE_OCCURRENCE_THRESHOLD = 35;

export interface TupleEstimates {
  tTuple: EstimatorOutcome;
  longestRepeatedSubstring: EstimatorOutcome;
}

/**
 * Sections 6.3.5 (t-Tuple) and 6.3.6 (LRS) from one suffix array. Every group of suffixes sharing a prefix of length
 * t is a node of the LCP-interval tree whose depth range (parent depth, own depth] contains t, so one pass over the
 * LCP array yields, for every t, the largest tuple count Q[t] and the number of colliding pairs S[t]: the same
 * quantities as Kaufer's algorithm in the reference tool.
 */
export function tupleEstimates(symbols: Uint8Array, alphabetSize: number): TupleEstimates {
  const n = symbols.length;
  const none = (why: string): TupleEstimates => ({ tTuple: { notApplicable: why }, longestRepeatedSubstring: { notApplicable: why } });
  if (n < 2) return none('fewer than two symbols');
  let lcp: Int32Array;
  if (alphabetSize === 2) {
    lcp = binarySuffixArray(symbols).lcp;
  } else {
    lcp = longestCommonPrefixes(symbols, suffixArray(symbols, Math.max(alphabetSize - 1, 1)));
  }

  let v = 0;
  for (let i = 1; i < n; i++) if (lcp[i]! > v) v = lcp[i]!;
  if (v === 0) return none('no symbol sequence repeats');

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
