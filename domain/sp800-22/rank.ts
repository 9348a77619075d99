import { packedBits, reverse32 } from './packed';
import { computed, formatCount, notApplicable, requireIntegerParameter, SINGLE, type TestResult } from './result';

export const DEFAULT_MATRIX_SIZE = 32;

function bit(row: number, column: number): number {
  return (row >>> column) & 1;
}

/**
 * Rank over GF(2) of a square matrix whose rows are bit masks (column j = bit j), by the elimination NIST STS uses
 * (matrix.c): forward elimination pivoting only on the diagonal, then backward elimination, then a count of the rows
 * left non-zero. Kept step for step so that every input gets the rank the reference reports. Mutates `rows`.
 */
export function referenceRank(rows: Int32Array): number {
  const size = rows.length;
  const swap = (i: number, j: number): void => {
    const row = rows[i]!;
    rows[i] = rows[j]!;
    rows[j] = row;
  };
  for (let i = 0; i < size - 1; i++) {
    let pivot = bit(rows[i]!, i) === 1;
    if (!pivot) {
      let below = i + 1;
      while (below < size && bit(rows[below]!, i) === 0) below++;
      if (below < size) {
        swap(i, below);
        pivot = true;
      }
    }
    if (pivot) {
      // Rows below i are zero left of column i at this point, so XOR-ing whole words equals the reference's k ≥ i.
      // The mask −bit is all ones or all zeros: no branch on random data.
      const pivotRow = rows[i]!;
      for (let j = i + 1; j < size; j++) rows[j]! ^= pivotRow & -bit(rows[j]!, i);
    }
  }
  for (let i = size - 1; i > 0; i--) {
    let pivot = bit(rows[i]!, i) === 1;
    if (!pivot) {
      let above = i - 1;
      while (above >= 0 && bit(rows[above]!, i) === 0) above--;
      if (above >= 0) {
        swap(i, above);
        pivot = true;
      }
    }
    if (pivot) {
      const pivotRow = rows[i]!;
      for (let j = i - 1; j >= 0; j--) rows[j]! ^= pivotRow & -bit(rows[j]!, i);
    }
  }
  let rank = size;
  for (const row of rows) if (row === 0) rank--;
  return rank;
}

/**
 * Probability that a random 32×32 matrix over GF(2) has rank r (SP 800-22 §3.5), evaluated as NIST STS evaluates it.
 */
function rankProbability(r: number): number {
  const m = DEFAULT_MATRIX_SIZE;
  let product = 1;
  for (let i = 0; i <= r - 1; i++) product *= ((1 - 2 ** (i - m)) * (1 - 2 ** (i - m))) / (1 - 2 ** (i - r));
  return 2 ** (r * (m + m - r) - m * m) * product;
}

/** The class probabilities of full rank, one less, and lower: the 0.2888, 0.5776 and 0.1336 of §2.5.4 step 4. */
const P_FULL = rankProbability(DEFAULT_MATRIX_SIZE);
const P_FULL_MINUS_ONE = rankProbability(DEFAULT_MATRIX_SIZE - 1);
const P_LOWER = 1 - (P_FULL + P_FULL_MINUS_ONE);

/**
 * SP 800-22 §2.5, the binary matrix rank test on disjoint m×m matrices filled row by row. Statistic: χ²(obs) over the
 * classes rank m, m−1 and lower. The class probabilities are always those of 32×32 matrices, as in the χ² of
 * §2.5.4 step 4: NIST STS fixes m = 32, and another m only replays the §2.5.4 example, which uses 3×3 matrices.
 */
export function rankTest(bits: Uint8Array, matrixSize = DEFAULT_MATRIX_SIZE): TestResult {
  requireIntegerParameter('Rank matrix size', matrixSize, 2, 32);
  const n = bits.length;
  const cells = matrixSize * matrixSize;
  const matrices = Math.floor(n / cells);
  if (matrices < 1) {
    return notApplicable('Rank', SINGLE, `needs one ${matrixSize}×${matrixSize} matrix (${formatCount(cells)} bits); the sequence has ${formatCount(n)}`);
  }
  let full = 0;
  let fullMinusOne = 0;
  const rows = new Int32Array(matrixSize);
  // 32×32 rows are whole words of the packed sequence, bit j of a row (column j) being its bit 31 − j.
  const words = matrixSize === 32 ? packedBits(bits).words : null;
  for (let k = 0; k < matrices; k++) {
    const base = k * cells;
    for (let i = 0; i < matrixSize; i++) {
      if (words !== null) {
        rows[i] = reverse32(words[k * 32 + i]!);
        continue;
      }
      let row = 0;
      const start = base + i * matrixSize;
      for (let j = 0; j < matrixSize; j++) row |= bits[start + j]! << j;
      rows[i] = row;
    }
    const rank = referenceRank(rows);
    if (rank === matrixSize) full++;
    else if (rank === matrixSize - 1) fullMinusOne++;
  }
  const lower = matrices - (full + fullMinusOne);
  const chiSquared =
    (full - matrices * P_FULL) ** 2 / (matrices * P_FULL) +
    (fullMinusOne - matrices * P_FULL_MINUS_ONE) ** 2 / (matrices * P_FULL_MINUS_ONE) +
    (lower - matrices * P_LOWER) ** 2 / (matrices * P_LOWER);
  return computed('Rank', SINGLE, Math.exp(-chiSquared / 2), chiSquared);
}
