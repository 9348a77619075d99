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
