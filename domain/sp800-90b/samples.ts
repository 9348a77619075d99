import { UserError } from '../errors';

/** The bitstring is truncated to this many bits on request, as ea_non_iid -t does (SP 800-90B section 3.1.3). */
export const TRUNCATED_BITSTRING_LENGTH = 1_000_000;

/** Samples ready for the estimators: the symbols as the estimators see them and, for wider samples, the bitstring. */
export interface SampleSet {
  bitsPerSample: number;
  /** Each sample translated to its rank among the distinct values present, so the alphabet is 0..alphabetSize-1. */
  symbols: Uint8Array;
  alphabetSize: number;
  /**
   * The samples' bits, most significant first, one bit per byte. Present only when the alphabet has more than two
   * symbols: a two-symbol source is binary already and the reference tool assesses it on the original track alone.
   */
  bitstring: Uint8Array | undefined;
}

export interface SampleOptions {
  /** Assess only the first 1,000,000 bits of the bitstring (ea_non_iid -t); by default every bit is used (-a). */
  truncateBitstring?: boolean;
}

/**
 * Reads one sample per byte from its low `bitsPerSample` bits and builds the two views section 3.1.3 prescribes.
 * Translating the values to ranks changes no estimate (they depend on equality and on the alphabet size only) and
 * lets every estimator index small arrays.
 */
export function prepareSamples(data: Uint8Array, bitsPerSample: number, options: SampleOptions = {}): SampleSet {
  if (!Number.isInteger(bitsPerSample) || bitsPerSample < 1 || bitsPerSample > 8) {
    throw new UserError('invalid_bits_per_sample', `bits per sample must be an integer from 1 to 8, not ${bitsPerSample}`);
  }
  if (data.length === 0) throw new UserError('no_samples', 'there are no samples to assess');
  const mask = (1 << bitsPerSample) - 1;
  const present = new Uint8Array(256);
  for (let i = 0; i < data.length; i++) present[data[i]! & mask] = 1;
  const rank = new Uint8Array(256);
  let alphabetSize = 0;
  for (let value = 0; value <= mask; value++) if (present[value]) rank[value] = alphabetSize++;

  const symbols = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) symbols[i] = rank[data[i]! & mask]!;

  let bitstring: Uint8Array | undefined;
  if (alphabetSize > 2) {
    const fullLength = data.length * bitsPerSample;
    const length = options.truncateBitstring ? Math.min(fullLength, TRUNCATED_BITSTRING_LENGTH) : fullLength;
    bitstring = new Uint8Array(length);
    let bit = 0;
    for (let i = 0; bit < length; i++) {
      const value = data[i]!;
      for (let shift = bitsPerSample - 1; shift >= 0 && bit < length; shift--) bitstring[bit++] = (value >> shift) & 1;
    }
  }
  return { bitsPerSample, symbols, alphabetSize, bitstring };
}
