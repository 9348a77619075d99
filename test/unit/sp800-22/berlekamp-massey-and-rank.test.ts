import { createHash } from 'node:crypto';
import { BerlekampMasseyScratch, linearComplexity } from '../../../domain/sp800-22/linear-complexity';
import { referenceRank } from '../../../domain/sp800-22/rank';

function pseudoRandomBits(count: number, seed: string): Uint8Array {
  const bits = new Uint8Array(count);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % 256 === 0) block = createHash('sha256').update(block).digest();
    bits[i] = (block[(i % 256) >>> 3]! >>> (7 - (i & 7))) & 1;
  }
  return bits;
}

/** Berlekamp–Massey as textbooks write it, one coefficient per array element. */
function textbookLinearComplexity(s: Uint8Array): number {
  const n = s.length;
  const c = new Uint8Array(n + 1);
  let b = new Uint8Array(n + 1);
  c[0] = 1;
  b[0] = 1;
  let l = 0;
  let m = -1;
  for (let i = 0; i < n; i++) {
    let d = s[i]!;
    for (let j = 1; j <= l; j++) d ^= c[j]! & s[i - j]!;
    if (d === 0) continue;
    const t = c.slice();
    for (let j = 0; j + i - m <= n; j++) c[j + i - m]! ^= b[j]!;
    if (2 * l <= i) {
      l = i + 1 - l;
      m = i;
      b = t;
    }
  }
  return l;
}

/** Rank over GF(2) by Gaussian elimination with row pivoting. */
function textbookRank(rows: number[], size: number): number {
  const r = rows.slice();
  let rank = 0;
  for (let column = 0; column < size && rank < size; column++) {
    const pivot = r.findIndex((row, i) => i >= rank && ((row >>> column) & 1) === 1);
    if (pivot < 0) continue;
    [r[rank], r[pivot]] = [r[pivot]!, r[rank]!];
    for (let i = 0; i < size; i++) if (i !== rank && ((r[i]! >>> column) & 1) === 1) r[i]! ^= r[rank]!;
    rank++;
  }
  return rank;
}

describe('linear complexity (Berlekamp–Massey on words)', () => {
  it('agrees with the textbook algorithm on blocks of every length from 1 to 200 and on 500- and 1000-bit blocks', () => {
    const bits = pseudoRandomBits(60_000, 'berlekamp-massey');
    const scratch = new BerlekampMasseyScratch(1000);
    let start = 0;
    for (const length of [...Array.from({ length: 200 }, (_, i) => i + 1), 500, 500, 1000, 1000]) {
      const block = bits.subarray(start, start + length);
      expect(linearComplexity(bits, start, length, scratch)).toBe(textbookLinearComplexity(block));
      start += length;
    }
  });

  it('gives the extreme complexities: 0 for zeros, n for n−1 zeros then a one, 2 for 0101…', () => {
    const scratch = new BerlekampMasseyScratch(500);
    const zeros = new Uint8Array(500);
    expect(linearComplexity(zeros, 0, 500, scratch)).toBe(0);
    const lateOne = new Uint8Array(500);
    lateOne[499] = 1;
    expect(linearComplexity(lateOne, 0, 500, scratch)).toBe(500);
    const alternating = Uint8Array.from({ length: 500 }, (_, i) => i % 2);
    expect(linearComplexity(alternating, 0, 500, scratch)).toBe(2);
  });
});

describe('matrix rank over GF(2) as NIST STS computes it', () => {
  it('equals the rank by Gaussian elimination for random and deliberately deficient matrices of sizes 2 … 32', () => {
    const bits = pseudoRandomBits(2_000 * 32 * 32, 'rank');
    let offset = 0;
    for (let trial = 0; trial < 2_000; trial++) {
      const size = 2 + (trial % 31);
      const rows: number[] = [];
      for (let i = 0; i < size; i++) {
        let row = 0;
        for (let j = 0; j < size; j++) row |= bits[offset++]! << j;
        rows.push(row);
      }
      // Every third matrix gets a repeated row and a row that is the sum of two others.
      if (trial % 3 === 0 && size > 3) {
        rows[1] = rows[0]!;
        rows[size - 1] = rows[2]! ^ rows[3]!;
      }
      expect(referenceRank(Int32Array.from(rows))).toBe(textbookRank(rows, size));
    }
  });
});
