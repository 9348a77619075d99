import { createHash } from 'node:crypto';
import { UserError } from '../errors';

export interface ConditioningParameters {
  /** n_in: bits entering the conditioning function per output. */
  nIn: number;
  /** n_out: bits per output. */
  nOut: number;
  /** nw: the narrowest internal width of the function. */
  nw: number;
  /** h_in: min-entropy entering per output, at most n_in. */
  hIn: number;
}

/** SHA-256 as a vetted conditioning component: 256-bit output, 256-bit narrowest width (its chaining state). */
export const SHA256_CONDITIONING = { nOut: 256, nw: 256 } as const;

/**
 * Output_Entropy of section 3.1.5.1.2, the credit a vetted conditioning function earns:
 *   P_high = 2^-h_in, P_low = (1 - P_high) / (2^n_in - 1), n = min(n_out, nw),
 *   ψ = 2^(n_in-n) P_low + P_high, U = 2^(n_in-n) + sqrt(2 n 2^(n_in-n) ln 2), ω = U P_low,
 *   h_out = -log2(max(ψ, ω)).
 * Computed relative to 2^-n (ψ 2^n and ω 2^n stay near 1 however large n_in is) and through log1p, so inputs of
 * thousands of bits neither overflow nor round the credit up.
 */
export function vettedOutputEntropy(parameters: ConditioningParameters): number {
  const { nIn, nOut, nw, hIn } = checkParameters(parameters);
  const n = Math.min(nOut, nw);
  const pHigh = 2 ** -hIn;
  const inputSpace = -Math.expm1(-nIn * Math.LN2); // 1 - 2^-n_in
  const psiExcess = (2 ** -nIn - pHigh) / inputSpace + 2 ** (n - hIn);
  const spread = Math.sqrt(2 * n * Math.LN2) * 2 ** ((n - nIn) / 2);
  const omegaExcess = (spread * (1 - pHigh) + 2 ** -nIn - pHigh) / inputSpace;
  const hOut = n - Math.log1p(Math.max(psiExcess, omegaExcess)) / Math.LN2;
  return Math.max(0, Math.min(hOut, hIn, nOut));
}

/**
 * Section 3.1.5.2 for a non-vetted function: also capped at 0.999 n_out and at h' n_out, with h' the per-bit
 * entropy measured on the conditioned outputs.
 */
export function nonVettedOutputEntropy(parameters: ConditioningParameters & { hPrime: number }): number {
  const { hPrime } = parameters;
  if (!(hPrime >= 0 && hPrime <= 1)) throw new UserError('invalid_conditioning', `h' is entropy per bit, from 0 to 1, not ${hPrime}`);
  return Math.min(vettedOutputEntropy(parameters), 0.999 * parameters.nOut, hPrime * parameters.nOut);
}

function checkParameters(parameters: ConditioningParameters): ConditioningParameters {
  const { nIn, nOut, nw, hIn } = parameters;
  for (const [name, value] of Object.entries({ nIn, nOut, nw })) {
    if (!Number.isInteger(value) || value < 1) throw new UserError('invalid_conditioning', `${name} must be a positive integer, not ${value}`);
  }
  if (!(hIn >= 0 && hIn <= nIn)) throw new UserError('invalid_conditioning', `h_in must lie between 0 and n_in (${nIn}), not ${hIn}`);
  return parameters;
}

/** Raw samples from one noise source, with the min-entropy per sample its assessment gave. */
export interface RawEntropy {
  samples: Uint8Array;
  bitsPerSample: number;
  minEntropyPerSample: number;
}

export interface ConditionedBlock {
  output: Uint8Array;
  /** Entropy credited to `output` by the vetted formula. */
  credit: number;
}

/**
 * Bits of assessed entropy fed into each SHA-256 output: twice the output size, so that each output is credited
 * at (numerically) its full 256 bits while little harvested entropy is thrown away.
 */
const ENTROPY_PER_BLOCK = 2 * SHA256_CONDITIONING.nOut;

/**
 * Conditions raw samples with SHA-256 into 32-byte blocks, crediting each by section 3.1.5.1.2. n_in counts the
 * bits that carry the samples (bitsPerSample each), not the bytes they travel in: the larger figure would earn a
 * credit the source does not support.
 */
export function conditionSha256(raw: RawEntropy): ConditionedBlock[] {
  const { samples, bitsPerSample, minEntropyPerSample } = raw;
  if (!Number.isInteger(bitsPerSample) || bitsPerSample < 1 || bitsPerSample > 8) {
    throw new UserError('invalid_bits_per_sample', `bits per sample must be an integer from 1 to 8, not ${bitsPerSample}`);
  }
  if (!(minEntropyPerSample >= 0 && minEntropyPerSample <= bitsPerSample)) {
    throw new UserError('invalid_min_entropy', `min-entropy per sample must lie between 0 and ${bitsPerSample}, not ${minEntropyPerSample}`);
  }
  const perBlock = minEntropyPerSample > 0 ? Math.ceil(ENTROPY_PER_BLOCK / minEntropyPerSample) : samples.length;
  const blocks: ConditionedBlock[] = [];
  for (let start = 0; start < samples.length; start += perBlock) {
    const chunk = samples.subarray(start, Math.min(samples.length, start + perBlock));
    const credit = vettedOutputEntropy({
      nIn: chunk.length * bitsPerSample,
      ...SHA256_CONDITIONING,
      hIn: chunk.length * minEntropyPerSample,
    });
    blocks.push({ output: new Uint8Array(createHash('sha256').update(chunk).digest()), credit });
  }
  return blocks;
}

/**
 * Conditioned entropy waiting to seed or reseed a DRBG. Blocks are handed out whole and in order, each once, until
 * their credits cover the request.
 */
export class ConditionedEntropyPool {
  private blocks: ConditionedBlock[] = [];

  get creditedBits(): number {
    return this.blocks.reduce((sum, block) => sum + block.credit, 0);
  }

  absorb(raw: RawEntropy): void {
    for (const block of conditionSha256(raw)) if (block.credit > 0) this.blocks.push(block);
  }

  /** Entropy input carrying at least `minEntropyBits` of credited entropy; throws if the pool holds less. */
  drain(minEntropyBits: number): Uint8Array {
    let credit = 0;
    let taken = 0;
    while (taken < this.blocks.length && credit < minEntropyBits) credit += this.blocks[taken++]!.credit;
    if (credit < minEntropyBits) {
      throw new UserError(
        'insufficient_entropy',
        `the entropy pool holds ${this.creditedBits.toFixed(1)} credited bits, ${minEntropyBits} are needed: harvest more samples first`,
      );
    }
    const parts = this.blocks.splice(0, taken);
    const input = new Uint8Array(parts.length * SHA256_CONDITIONING.nOut / 8);
    parts.forEach((part, i) => input.set(part.output, (i * SHA256_CONDITIONING.nOut) / 8));
    return input;
  }
}
