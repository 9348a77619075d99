import { packedBits } from './packed';
import { computed, formatCount, notApplicable, requireIntegerParameter, SINGLE, type TestResult } from './result';
import { erfc } from './special-functions';

/** expectedValue(L) and variance(L) of SP 800-22 §2.9.4, indexed by L (index 0 unused). */
const EXPECTED_VALUE = [
  0, 0.7326495, 1.5374383, 2.4016068, 3.3112247, 4.2534266, 5.2177052, 6.1962507, 7.1836656, 8.1764248, 9.1723243,
  10.170032, 11.168765, 12.16807, 13.167693, 14.167488, 15.167379,
];
const VARIANCE = [0, 0.69, 1.338, 1.901, 2.358, 2.705, 2.954, 3.125, 3.238, 3.311, 3.356, 3.384, 3.401, 3.41, 3.416, 3.419, 3.421];
const MAX_BLOCK_LENGTH = 16;

/** The smallest n for each L from 6 to 16: NIST STS 2.1.2 picks the largest L whose bound n reaches. */
const MINIMUM_LENGTHS: ReadonlyArray<readonly [number, number]> = [
  [387840, 6],
  [904960, 7],
  [2068480, 8],
  [4654080, 9],
  [10342400, 10],
  [22753280, 11],
  [49643520, 12],
  [107560960, 13],
  [231669760, 14],
  [496435200, 15],
  [1059061760, 16],
];

export interface UniversalOptions {
  /** L, the block length. Default: chosen from n as NIST STS 2.1.2 does, which needs n ≥ 387,840. */
  blockLength?: number;
  /** Q, the number of initialisation blocks; default 10·2^L. */
  initializationBlocks?: number;
}

/**
 * SP 800-22 §2.9, Maurer's "universal statistical" test, with Coron and Naccache's correction c(L, K) to σ.
 * Statistic: f_n, the mean log2 distance between matching blocks. Bits after the last whole block are discarded.
 */
export function universalTest(bits: Uint8Array, options: UniversalOptions = {}): TestResult {
  const n = bits.length;
  let L = 5;
  if (options.blockLength !== undefined) {
    L = requireIntegerParameter('Universal block length L', options.blockLength, 1, MAX_BLOCK_LENGTH);
  } else {
    for (const [minimum, length] of MINIMUM_LENGTHS) if (n >= minimum) L = length;
    if (L < 6) {
      return notApplicable('Universal', SINGLE, `needs at least ${formatCount(MINIMUM_LENGTHS[0]![0])} bits; the sequence has ${formatCount(n)}`);
    }
  }
  const Q = requireIntegerParameter('Universal initialisation blocks Q', options.initializationBlocks ?? 10 * 2 ** L, 1, 2 ** 31 - 1);
  const K = Math.floor(n / L) - Q;
  if (K < 1) {
    return notApplicable('Universal', SINGLE, `needs more than ${formatCount((Q + 1) * L)} bits for L = ${L}; the sequence has ${formatCount(n)}`);
  }
  const c = 0.7 - 0.8 / L + ((4 + 32 / L) * K ** (-3 / L)) / 15;
  const sigma = c * Math.sqrt(VARIANCE[L]! / K);
  // lastSeen[v]: the 1-based index of the last block with value v (read most significant bit first), 0 if none yet.
  const lastSeen = new Float64Array(2 ** L);
  let sum = 0;
  const log2 = Math.log(2);
  const words = packedBits(bits).words;
  const shift = 32 - L;
  for (let i = 1, start = 0; i <= Q + K; i++, start += L) {
    // The L ≤ 16 bits of the block: the top of the 32-bit window of the packed sequence that starts with it.
    const w = start >>> 5;
    const offset = start & 31;
    const value = (offset === 0 ? words[w]! : (words[w]! << offset) | (words[w + 1]! >>> (32 - offset))) >>> shift;
    if (i > Q) sum += Math.log(i - lastSeen[value]!) / log2;
    lastSeen[value] = i;
  }
  const fn = sum / K;
  const argument = Math.abs(fn - EXPECTED_VALUE[L]!) / (Math.SQRT2 * sigma);
  return computed('Universal', SINGLE, erfc(argument), fn);
}
