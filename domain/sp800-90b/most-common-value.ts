import type { Estimate } from './estimate';
import { proportionUpperBound } from './statistics';

/** Section 6.3.1: the most common value's proportion, bounded above at 99% confidence. */
export function mostCommonValueEstimate(symbols: Uint8Array, alphabetSize: number): Estimate {
  const counts = new Float64Array(alphabetSize);
  for (let i = 0; i < symbols.length; i++) counts[symbols[i]!]!++;
  let mode = 0;
  for (let s = 0; s < alphabetSize; s++) if (counts[s]! > mode) mode = counts[s]!;
  return mostCommonValueFromMode(mode, symbols.length);
}

export function mostCommonValueFromMode(mode: number, length: number): Estimate {
  const pHat = mode / length;
  const pU = proportionUpperBound(pHat, length);
  return { minEntropy: -Math.log2(pU), detail: { mode, pHat, pU } };
}
