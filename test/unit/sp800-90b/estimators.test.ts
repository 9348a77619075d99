import { collisionEstimate } from '../../../domain/sp800-90b/collision';
import { compressionEstimate } from '../../../domain/sp800-90b/compression';
import { type Estimate, type EstimatorOutcome, isEstimate } from '../../../domain/sp800-90b/estimate';
import { lagEstimate } from '../../../domain/sp800-90b/lag';
import { lz78yBinaryScore, lz78yEstimate } from '../../../domain/sp800-90b/lz78y';
import { markovEstimate } from '../../../domain/sp800-90b/markov';
import { mostCommonValueEstimate } from '../../../domain/sp800-90b/most-common-value';
import { multiMcwEstimate } from '../../../domain/sp800-90b/multi-mcw';
import { multiMmcEstimate } from '../../../domain/sp800-90b/multi-mmc';
import { Z_ALPHA } from '../../../domain/sp800-90b/statistics';
import { binarySuffixArray, longestCommonPrefixes, suffixArray } from '../../../domain/sp800-90b/suffix-array';
import { binaryTupleCounts, sortedTupleCounts, suffixTupleCounts, tupleEstimates } from '../../../domain/sp800-90b/tuple-estimates';
import { randomSymbols } from './random-bytes';

function estimate(outcome: EstimatorOutcome): Estimate {
  if (!isEstimate(outcome)) throw new Error(`not applicable: ${outcome.notApplicable}`);
  return outcome;
}

describe('Most Common Value', () => {
  it('bounds the mode proportion of a known distribution above at 99%', () => {
    // 600 zeros, 300 ones, 100 twos: p-hat = 0.6.
    const symbols = Uint8Array.from({ length: 1000 }, (_, i) => (i < 600 ? 0 : i < 900 ? 1 : 2));
    const pU = 0.6 + Z_ALPHA * Math.sqrt((0.6 * 0.4) / 999);
    expect(estimate(mostCommonValueEstimate(symbols, 3)).minEntropy).toBeCloseTo(-Math.log2(pU), 12);
  });

  it('gives zero entropy to a constant sequence', () => {
    expect(estimate(mostCommonValueEstimate(new Uint8Array(500), 1)).minEntropy).toBe(-0);
  });
});

describe('Collision and Markov on crafted bitstrings', () => {
  it('find a strictly alternating bitstring fully predictable for Markov', () => {
    const bits = Uint8Array.from({ length: 10_000 }, (_, i) => i % 2);
    // P(0)=1/2 and P(1|0) = P(0|1) = 1: the most likely 128-bit sequence has probability 1/2.
    expect(estimate(markovEstimate(bits)).minEntropy).toBeCloseTo(1 / 128, 12);
  });

  it('the collision estimate sees every wait as 3 bits on an alternating bitstring: full entropy', () => {
    const bits = Uint8Array.from({ length: 10_000 }, (_, i) => i % 2);
    expect(estimate(collisionEstimate(bits)).minEntropy).toBe(1);
  });

  it('the collision estimate sees every wait as 2 bits on a constant bitstring: no entropy', () => {
    const outcome = estimate(collisionEstimate(new Uint8Array(10_000)));
    expect(outcome.detail.p).toBe(1);
    expect(outcome.minEntropy).toBe(-0);
  });
});

describe('Compression', () => {
  it('needs more than 1000 six-bit blocks', () => {
    expect(isEstimate(compressionEstimate(new Uint8Array(6000)))).toBe(false);
    expect(isEstimate(compressionEstimate(randomSymbols(6006, 2)))).toBe(true);
  });

  it('rates a period-6 bitstring at zero and random bits high (the estimator is biased low on short inputs)', () => {
    const periodic = Uint8Array.from({ length: 60_000 }, (_, i) => (i % 6 < 3 ? 1 : 0));
    expect(estimate(compressionEstimate(periodic)).minEntropy).toBeCloseTo(0, 12);
    expect(estimate(compressionEstimate(randomSymbols(600_000, 2))).minEntropy).toBeGreaterThan(0.75);
  });
});

describe('suffix array and LCP', () => {
  it.each([
    ['random bits', randomSymbols(3000, 2), 1],
    ['random bytes', randomSymbols(3000, 256, 'bytes'), 255],
    ['a long run', new Uint8Array(500), 1],
    ['a period-3 string', Uint8Array.from({ length: 900 }, (_, i) => i % 3), 2],
  ])('sorts the suffixes of %s', (_name, text, upper) => {
    const sa = suffixArray(text, upper);
    const naive = Array.from(text.keys()).sort((a, b) => compareSuffixes(text, a, b));
    expect(Array.from(sa)).toEqual(naive);
    const lcp = longestCommonPrefixes(text, sa);
    for (let i = 1; i < text.length; i++) expect(lcp[i]).toBe(commonPrefix(text, sa[i - 1]!, sa[i]!));
  });
  // The packed sort's paths: no shared keys, runs of suffixes sharing their first 40 bits (and ones shorter than
  // that), and texts so repetitive that it hands over to the general algorithms.
  it.each([
    ['random bits', randomSymbols(20_000, 2, 'packed')],
    ['biased bits', randomSymbols(20_000, 9, 'packed biased').map((s) => (s === 0 ? 1 : 0))],
    ['random bits with a repeated block of 300', withRepeatedBlock(randomSymbols(20_000, 2, 'repeat'), 3_000, 10_000, 300)],
    ['a long run', new Uint8Array(5000)],
    ['a period-37 string', Uint8Array.from({ length: 5000 }, (_, i) => ((i % 37) * 7) % 5 === 0 ? 1 : 0)],
    ...[1, 2, 3, 31, 32, 33, 39, 40, 41, 63, 64, 65, 100].map((n): [string, Uint8Array] => [`${n} random bits`, randomSymbols(n, 2, `short ${n}`)]),
  ])('packs and sorts the suffixes of %s as the general algorithms do', (_name, bits) => {
    const sa = suffixArray(bits, 1);
    const packed = binarySuffixArray(bits);
    expect(Array.from(packed.sa)).toEqual(Array.from(sa));
    expect(Array.from(packed.lcp)).toEqual(Array.from(longestCommonPrefixes(bits, sa)));
  });
});

function withRepeatedBlock(bits: Uint8Array, from: number, to: number, length: number): Uint8Array {
  bits.copyWithin(to, from, from + length);
  return bits;
}

function compareSuffixes(text: Uint8Array, a: number, b: number): number {
  while (a < text.length && b < text.length) {
    if (text[a] !== text[b]) return text[a]! - text[b]!;
    a++;
    b++;
  }
  return a === text.length ? -1 : 1;
}

function commonPrefix(text: Uint8Array, a: number, b: number): number {
  let h = 0;
  while (a + h < text.length && b + h < text.length && text[a + h] === text[b + h]) h++;
  return h;
}

describe('t-Tuple and LRS', () => {
  /** Sections 6.3.5 and 6.3.6 computed literally, with a map of every tuple. */
  function bruteForce(symbols: Uint8Array): { tTuple: number; lrs: number } {
    const n = symbols.length;
    const counts = (t: number): Map<string, number> => {
      const map = new Map<string, number>();
      for (let i = 0; i + t <= n; i++) {
        const key = symbols.subarray(i, i + t).join(',');
        map.set(key, (map.get(key) ?? 0) + 1);
      }
      return map;
    };
    const bound = (p: number): number => -Math.log2(Math.min(1, p + Z_ALPHA * Math.sqrt((p * (1 - p)) / (n - 1))));
    let t = 1;
    let pMax = 0;
    for (; ; t++) {
      const q = Math.max(...counts(t).values());
      if (q < 35) break;
      pMax = Math.max(pMax, (q / (n - t + 1)) ** (1 / t));
    }
    const u = t;
    let lrsMax = 0;
    for (let w = u; ; w++) {
      const map = counts(w);
      if (Math.max(...map.values()) < 2) break;
      let pairs = 0;
      for (const c of map.values()) pairs += (c * (c - 1)) / 2;
      lrsMax = Math.max(lrsMax, (pairs / (((n - w + 1) * (n - w)) / 2)) ** (1 / w));
    }
    return { tTuple: bound(pMax), lrs: bound(lrsMax) };
  }

  it.each([
    ['random bits', randomSymbols(4000, 2), 2],
    ['random symbols of 4', randomSymbols(4000, 4, 'four'), 4],
    ['random symbols of 64 (positions sorted by 8 symbols)', randomSymbols(4000, 64, 'sixty-four'), 64],
    ['biased bits', randomSymbols(4000, 7, 'biased').map((s) => (s === 0 ? 1 : 0)), 2],
  ])('match the definitions on %s', (_name, symbols, k) => {
    const expected = bruteForce(symbols);
    const { tTuple, longestRepeatedSubstring } = tupleEstimates(symbols, k);
    expect(estimate(tTuple).minEntropy).toBeCloseTo(expected.tTuple, 10);
    expect(estimate(longestRepeatedSubstring).minEntropy).toBeCloseTo(expected.lrs, 10);
  });

  // On bits, the counts come from tables of tuples and pairwise comparisons past them; relabelling the bits as {0, 2}
  // in an alphabet of 3 sends the same sequence through the suffix array.
  const randomBits = randomSymbols(50_000, 2, 'tuples');
  const withRepeat = Uint8Array.from(randomBits, (b, i) => (i >= 30_000 && i < 30_150 ? randomBits[i - 20_000]! : b));
  // The repeated bits are followed by zeros at their first place, as the packed bits are past the end at the second.
  const tailRepeat = Uint8Array.from(randomBits, (b, i) => (i >= 49_900 ? randomBits[i - 40_000]! : i >= 10_000 && i < 10_004 ? 0 : b));
  it.each([
    ['random bits', randomBits, undefined, true],
    ['random bits with a repeat of 150 bits', withRepeat, undefined, true],
    ['random bits ending with a repeat', tailRepeat, undefined, true],
    ['random bits, tables of 15-bit tuples', withRepeat, 15, true],
    ['random bits, tables of 8-bit tuples (too many pairs past them)', withRepeat, 8, false],
    ['biased bits (a tuple longer than the tables occurs 35 times)', randomSymbols(50_000, 7, 'tuples biased').map((s) => (s === 0 ? 1 : 0)), undefined, false],
  ])('on %s, match the suffix array', (_name, bits, keyBits, direct) => {
    expect(binaryTupleCounts(bits, keyBits) !== undefined).toBe(direct);
    const general = tupleEstimates(bits.map((b) => 2 * b), 3);
    expect(tupleEstimates(bits, 2)).toEqual(general);
    const counts = binaryTupleCounts(bits, keyBits);
    if (counts) {
      // Every count, including those the estimates happen not to depend on here: q only up to the tables' length.
      const expected = suffixTupleCounts(bits, 2);
      const tables = keyBits ?? 16;
      expect(counts.v).toBe(expected.v);
      expect(Array.from(counts.pairs)).toEqual(Array.from(expected.pairs));
      expect(Array.from(counts.q.subarray(0, tables + 1))).toEqual(Array.from(expected.q.subarray(0, tables + 1)));
    }
  });

  // On other symbols, the counts come from positions sorted by their first 8 symbols, unless two positions share 8.
  const randomBytes = randomSymbols(60_000, 256, 'sorted tuples');
  const symbols200 = randomSymbols(60_000, 200, 'sorted 200');
  const withShortSuffix = randomBytes.slice();
  withShortSuffix.set([7, 0, 0, 0, 0, 0, 0, 0, 5], 100);
  withShortSuffix.set([7, 0, 0, 9], 200);
  withShortSuffix.set([7, 0, 0, 9], 300);
  withShortSuffix.set([7, 0], withShortSuffix.length - 2);
  const periodicTail = Uint8Array.from(randomBytes, (b, i) => (i >= 59_990 ? randomBytes[i - 1_000]! : b));
  it.each([
    ['random bytes', randomBytes, 256, true],
    ['random bytes ending with 7 symbols seen before', Uint8Array.from(randomBytes, (b, i) => (i >= 59_993 ? randomBytes[i - 30_000]! : b)), 256, true],
    ['random symbols of 200 with a repeat of 7', symbols200.map((s, i) => (i >= 500 && i < 507 ? symbols200[i + 20_000]! : s)), 200, true],
    // The suffix 7 0 at the end sorts before 7 0 0 0 0 0 0 0 and 7 0 0 9, which share 3 symbols with each other.
    ['random bytes ending with a suffix shorter than tuples it prefixes', withShortSuffix, 256, true],
    ['random bytes ending with a repeat of 10 (longer than the sort)', periodicTail, 256, false],
    ['random symbols of 4 (tuples of 8 repeat)', randomSymbols(60_000, 4, 'sorted four'), 4, false],
  ])('on %s, sorted positions match the suffix array', (_name, symbols, k, sorted) => {
    const counts = sortedTupleCounts(symbols);
    expect(counts !== undefined).toBe(sorted);
    const expected = suffixTupleCounts(symbols, k);
    if (counts) {
      expect(counts.v).toBe(expected.v);
      expect(Array.from(counts.pairs)).toEqual(Array.from(expected.pairs));
      expect(Array.from(counts.q)).toEqual(Array.from(expected.q));
    }
  });

  it('cannot run t-Tuple when no symbol occurs 35 times', () => {
    const symbols = Uint8Array.from({ length: 200 }, (_, i) => i);
    expect(isEstimate(tupleEstimates(symbols, 200).tTuple)).toBe(false);
  });
});

describe('prediction estimators', () => {
  /** MultiMCW as section 6.3.7 states it: each window's mode, ties to the value seen most recently. */
  function multiMcwBruteForce(symbols: Uint8Array, k: number): { correct: number; run: number } {
    const windows = [63, 255, 1023, 4095];
    const scores = [0, 0, 0, 0];
    let winner = 0;
    let correct = 0;
    let run = 0;
    let longest = 0;
    const mode = (end: number, w: number): number => {
      const counts = new Array<number>(k).fill(0);
      const last = new Array<number>(k).fill(-1);
      for (let i = Math.max(0, end - w); i < end; i++) {
        counts[symbols[i]!]!++;
        last[symbols[i]!] = i;
      }
      let best = 0;
      for (let s = 1; s < k; s++) {
        if (counts[s]! > counts[best]! || (counts[s] === counts[best] && last[s]! > last[best]!)) best = s;
      }
      return best;
    };
    for (let i = 63; i < symbols.length; i++) {
      const predictions = windows.map((w) => mode(i, w));
      if (predictions[winner] === symbols[i]) {
        correct++;
        longest = Math.max(longest, ++run);
      } else {
        run = 0;
      }
      windows.forEach((w, j) => {
        if (i >= w && predictions[j] === symbols[i] && ++scores[j]! >= scores[winner]!) winner = j;
      });
    }
    return { correct, run: longest };
  }

  it('MultiMCW keeps each window\'s most common value as the definition does', () => {
    const symbols = randomSymbols(6000, 3, 'mcw').map((s, i) => (i % 700 < 350 ? s : s === 2 ? 0 : s));
    const expected = multiMcwBruteForce(symbols, 3);
    const { detail } = estimate(multiMcwEstimate(symbols, 3));
    expect(detail.correct).toBe(expected.correct);
    expect(detail.r).toBe(expected.run + 1);
  });

  // The binary cases run on dense tables or bit-parallel code; relabelling the bits as {0, 2} in an alphabet of 3
  // sends the same sequence through the general code, which must make the same predictions.
  const bits = randomSymbols(40_000, 5, 'pred').map((s) => (s < 2 ? 1 : 0));
  const relabelled = bits.map((b) => b * 2);
  it.each([
    ['MultiMCW', multiMcwEstimate],
    ['Lag', lagEstimate],
    ['MultiMMC', multiMmcEstimate],
    ['LZ78Y', lz78yEstimate],
  ])('%s: the binary code predicts as the general code does', (_name, estimator) => {
    const binary = estimate(estimator(bits, 2)).detail;
    const general = estimate(estimator(relabelled, 3)).detail;
    expect(binary.correct).toBe(general.correct);
    expect(binary.predictions).toBe(general.predictions);
    expect(binary.r).toBe(general.r);
    expect(binary.correct! / binary.predictions!).toBeGreaterThan(0.5);
  });

  // Once its dictionary is full, the binary LZ78Y code counts only the shortest contexts as it goes and the others on
  // demand, or, when that takes too many counts, starts over counting every length. Varied bits almost never need
  // a count on demand, so the limits are lowered here to take every path: on demand for lengths 2 and up, giving up
  // for lack of a query budget, and for lack of indexed lengths.
  const periodic = [1, 0, 0, 1, 1, 0, 1];
  it.each([
    ['random bits', bits],
    ['random bits turning periodic', Uint8Array.from(randomSymbols(60_000, 2, 'lz periodic'), (s, i) => (i < 20_000 ? s : periodic[i % 7]!))],
    ['random bits with a run of zeros', Uint8Array.from(randomSymbols(60_000, 2, 'lz zeros'), (s, i) => (i < 20_000 || i > 30_000 ? s : 0))],
  ])('LZ78Y: the binary code predicts as the general code does on %s, however it counts', (_name, input) => {
    const general = estimate(lz78yEstimate(input.map((b) => b * 2), 3)).detail;
    const expected = { correct: general.correct, predictions: general.predictions, longestRun: general.r! - 1 };
    for (const lazyCounting of [
      { eagerWidths: 2, queriesPerPosition: 1 / 16, indexedWidths: 2 },
      { eagerWidths: 1, queriesPerPosition: Infinity, indexedWidths: 16 },
      { eagerWidths: 1, queriesPerPosition: 0.01, indexedWidths: 16 },
      { eagerWidths: 1, queriesPerPosition: Infinity, indexedWidths: 1 },
      { eagerWidths: 16, queriesPerPosition: 0, indexedWidths: 0 },
    ]) {
      expect({ lazyCounting, ...lz78yBinaryScore(input, lazyCounting) }).toEqual({ lazyCounting, ...expected });
    }
  });

  // The binary Lag code skips, block by block, the lags too far behind to win: inputs where many or few are close.
  it.each([
    ['uniform random bits', randomSymbols(50_007, 2, 'lag uniform')],
    ['bits shorter than the lags', randomSymbols(100, 2, 'lag short')],
    ['a period of 100 with noise', Uint8Array.from(randomSymbols(30_000, 2, 'lag period'), (s, i) => (i % 7 === 0 ? s : (i % 100) % 3 === 0 ? 1 : 0))],
  ])('Lag: the binary code predicts as the general code does on %s', (_name, input) => {
    const binary = estimate(lagEstimate(input, 2)).detail;
    const general = estimate(lagEstimate(input.map((b) => b * 2), 3)).detail;
    expect([binary.correct, binary.predictions, binary.r]).toEqual([general.correct, general.predictions, general.r]);
  });

  // The lags far behind are left uncounted for as many blocks as they need to come within reach, and caught up then:
  // sequences whose period changes from segment to segment, so that a lag far behind climbs by nearly 32 a block
  // while the leader falls behind, and a lag counted a block late takes the lead late.
  it('Lag: the binary code predicts as the general code does on 100 sequences whose period changes', () => {
    const differences: string[] = [];
    for (let source = 0; source < 100; source++) {
      const noise = randomSymbols(6_000 + source * 13, 256, `lag periods ${source}`);
      const input = new Uint8Array(noise.length);
      let period = 1 + (noise[0]! % 128);
      for (let i = 0; i < input.length; i++) {
        if (i % 1_500 === 0) period = 1 + (noise[i]! % 128);
        const fresh = i < period || noise[i]! < 1 + (source % 8);
        input[i] = fresh ? noise[(i * 7) % noise.length]! & 1 : input[i - period]!;
      }
      const binary = estimate(lagEstimate(input, 2)).detail;
      const general = estimate(lagEstimate(input.map((b) => b * 2), 3)).detail;
      if (binary.correct !== general.correct || binary.r !== general.r) differences.push(`source ${source}: ${binary.correct}/${binary.r} against ${general.correct}/${general.r}`);
    }
    expect(differences).toEqual([]);
  });

  // The binary MultiMMC code scores a word of 32 positions at once while one model alone can lead in it, and step by
  // step otherwise: inputs where the lead changes often or never, runs of right predictions that cross words, lengths
  // that end inside a word, and enough positions for the last model to reach its cap of 100,000 pairs.
  it.each([
    ['uniform random bits', randomSymbols(50_007, 2, 'mmc uniform')],
    ['a few bits', randomSymbols(45, 2, 'mmc short')],
    ['bits shorter than a word of the first chunk', randomSymbols(20, 2, 'mmc shorter')],
    ['a period of 100 with noise', Uint8Array.from(randomSymbols(30_000, 2, 'mmc period'), (s, i) => (i % 7 === 0 ? s : (i % 100) % 3 === 0 ? 1 : 0))],
    ['random bits with long runs of zeros', Uint8Array.from(randomSymbols(40_000, 2, 'mmc runs'), (s, i) => ((i >> 10) % 3 === 1 ? 0 : s))],
    ['enough random bits to cap the last model', randomSymbols(160_003, 2, 'mmc cap')],
  ])('MultiMMC: the binary code predicts as the general code does on %s', (_name, input) => {
    const binary = estimate(multiMmcEstimate(input, 2)).detail;
    const general = estimate(multiMmcEstimate(input.map((b) => b * 2), 3)).detail;
    expect([binary.correct, binary.predictions, binary.r]).toEqual([general.correct, general.predictions, general.r]);
  });

  // Sources with memory of 1 to 6 bits, some nearly deterministic: the models' scores drift apart, so one model often
  // leads alone for whole words, and its runs of right predictions start and end anywhere in a word.
  it('MultiMMC: the binary code predicts as the general code does on 120 sources with memory', () => {
    const differences: string[] = [];
    for (let source = 0; source < 120; source++) {
      const memory = 1 + (source % 6);
      const noise = randomSymbols(2_500 + source * 7 + (1 << memory), 256, `mmc memory ${source}`);
      const ones = noise.subarray(0, 1 << memory).map((b) => (b < 32 ? 2 : b > 224 ? 253 : b));
      const input = new Uint8Array(noise.length - (1 << memory));
      let context = 0;
      for (let i = 0; i < input.length; i++) {
        input[i] = noise[(1 << memory) + i]! < ones[context]! ? 1 : 0;
        context = ((context << 1) | input[i]!) & ((1 << memory) - 1);
      }
      const binary = estimate(multiMmcEstimate(input, 2)).detail;
      const general = estimate(multiMmcEstimate(input.map((b) => b * 2), 3)).detail;
      if (binary.correct !== general.correct || binary.r !== general.r) differences.push(`source ${source}: ${binary.correct}/${binary.r} against ${general.correct}/${general.r}`);
    }
    expect(differences).toEqual([]);
  });

  it.each([
    ['Lag', lagEstimate],
    ['MultiMMC', multiMmcEstimate],
    ['LZ78Y', lz78yEstimate],
  ])('%s predicts a sequence whose every symbol fixes the next almost perfectly', (_name, estimator) => {
    const periodic = Uint8Array.from({ length: 20_000 }, (_, i) => [0, 2, 1, 3, 5, 4][i % 6]!);
    expect(estimate(estimator(periodic, 6)).minEntropy).toBeLessThan(0.01);
  });

  it('MultiMCW predicts the value that dominates its windows', () => {
    const dominated = randomSymbols(20_000, 8, 'dominated').map((s) => (s < 6 ? 7 : s));
    const { detail } = estimate(multiMcwEstimate(dominated, 8));
    expect(detail.pGlobal).toBeCloseTo(0.75 + 0.25 / 2, 1);
  });

  /** Sections 6.3.9 and 6.3.10 as the reference tool runs them, with a Map per context length. */
  function contextPredictorBruteForce(data: Uint8Array, kind: 'MultiMMC' | 'LZ78Y'): { correct: number; run: number } {
    const tables = Array.from({ length: 16 }, () => new Map<string, Map<number, number>>());
    const best = (followers: Map<number, number>): [number, number] => {
      let symbol = -1;
      let count = 0;
      for (const [s, c] of followers) if (c > count || (c === count && s > symbol)) [symbol, count] = [s, c];
      return [symbol, count];
    };
    const pairs = (d: number): number => [...tables[d]!.values()].reduce((sum, m) => sum + m.size, 0);
    const add = (d: number, key: string, y: number, mayAdd: boolean): void => {
      let followers = tables[d]!.get(key);
      if (!followers) {
        if (!mayAdd) return;
        tables[d]!.set(key, (followers = new Map<number, number>()));
      }
      if (followers.has(y)) followers.set(y, followers.get(y)! + 1);
      else if (mayAdd) followers.set(y, 1);
    };
    let correct = 0;
    let run = 0;
    let longest = 0;
    const score = (right: boolean): void => {
      if (right) {
        correct++;
        longest = Math.max(longest, ++run);
      } else {
        run = 0;
      }
    };
    if (kind === 'LZ78Y') {
      let contexts = 0;
      for (let j = 1; j <= 16; j++, contexts++) add(j - 1, data.subarray(16 - j, 16).join(), data[16]!, true);
      for (let i = 17; i < data.length; i++) {
        let prediction = -1;
        let max = 0;
        for (let j = 16; j > 0; j--) {
          const key = data.subarray(i - j, i).join();
          const followers = tables[j - 1]!.get(key);
          if (followers) {
            const [symbol, count] = best(followers);
            if (count > max) [prediction, max] = [symbol, count];
            add(j - 1, key, data[i]!, true);
          } else if (contexts < 65_536) {
            add(j - 1, key, data[i]!, true);
            contexts++;
          }
        }
        score(prediction === data[i]);
      }
    } else {
      const scoreboard = new Array<number>(16).fill(0);
      let winner = 0;
      for (let d = 0; d < 16; d++) add(d, data.subarray(0, d + 1).join(), data[d + 1]!, true);
      for (let i = 2; i < data.length; i++) {
        const speaker = winner;
        let found = false;
        for (let d = 0; d < 16 && d <= i - 2; d++) {
          const key = data.subarray(i - d - 1, i).join();
          // Once a context is missing, longer ones are not consulted (they cannot have been seen) but still learn.
          const followers: Map<number, number> | undefined = d === 0 || found ? tables[d]!.get(key) : undefined;
          found = followers !== undefined;
          if (followers) {
            const right = best(followers)[0] === data[i];
            if (right && ++scoreboard[d]! >= scoreboard[winner]!) winner = d;
            if (d === speaker) score(right);
          }
          add(d, key, data[i]!, pairs(d) < 100_000);
        }
      }
    }
    return { correct, run: longest };
  }

  it.each([
    ['MultiMMC', multiMmcEstimate],
    ['LZ78Y', lz78yEstimate],
  ] as const)('%s matches a literal implementation on a source with memory', (name, estimator) => {
    const noise = randomSymbols(3000, 16, name);
    const data = new Uint8Array(noise.length);
    for (let i = 0; i < data.length; i++) data[i] = noise[i]! < 10 && i >= 3 ? data[i - 3]! : noise[i]! % 5;
    const expected = contextPredictorBruteForce(data, name);
    const { detail } = estimate(estimator(data, 5));
    expect(detail.correct).toBe(expected.correct);
    expect(detail.r).toBe(expected.run + 1);
  });

  it('a Lag predictor finds a period of 100 that shorter contexts miss', () => {
    const period = randomSymbols(100, 256, 'period');
    const symbols = Uint8Array.from({ length: 20_000 }, (_, i) => period[i % 100]!);
    const { detail, minEntropy } = estimate(lagEstimate(symbols, 256));
    expect(detail.correct).toBeGreaterThan(19_800);
    expect(minEntropy).toBeLessThan(0.01);
  });
});
