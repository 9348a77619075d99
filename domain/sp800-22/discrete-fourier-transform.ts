import { evenRealDftMagnitudes, realDftMagnitudes, smallPrimeFactors } from './fft';
import { packedBits } from './packed';
import { computed, notApplicable, SINGLE, type TestResult } from './result';
import { erfc } from './special-functions';

/** ln(1/0.05): the rev1a threshold T = √(ln(1/0.05)·n), with the constant NIST STS 2.1.2 uses. */
const THRESHOLD_FACTOR = 2.995732274;

function signs(bits: Uint8Array): Int8Array {
  const x = new Int8Array(bits.length);
  for (let i = 0; i < bits.length; i++) x[i] = 2 * bits[i]! - 1;
  return x;
}

/** The ±1 sequence straight from the packed words into the even/odd halves the real FFT transforms. */
function evenMagnitudes(bits: Uint8Array): Float64Array {
  const half = bits.length / 2;
  const re = new Float64Array(half);
  const im = new Float64Array(half);
  const words = packedBits(bits).words;
  for (let j = 0; j < half; j++) {
    const word = words[j >>> 4]!;
    const shift = 30 - 2 * (j & 15);
    re[j] = 2 * ((word >>> (shift + 1)) & 1) - 1;
    im[j] = 2 * ((word >>> shift) & 1) - 1;
  }
  return evenRealDftMagnitudes(re, im);
}

/**
 * SP 800-22 §2.6, the discrete Fourier transform (spectral) test, as NIST STS 2.1.2 counts it: the peaks below T
 * among |X_0| … |X_{⌊n/2⌋−1}|, the zero-frequency term included. Statistic: d.
 */
export function dftTest(bits: Uint8Array): TestResult {
  const n = bits.length;
  if (n < 2) return notApplicable('FFT', SINGLE, 'needs at least 2 bits');
  const magnitudes = n % 2 === 0 && n > 2 && smallPrimeFactors(n / 2) ? evenMagnitudes(bits) : realDftMagnitudes(signs(bits));
  const threshold = Math.sqrt(THRESHOLD_FACTOR * n);
  const half = Math.floor(n / 2);
  let below = 0;
  for (let k = 0; k < half; k++) if (magnitudes[k]! < threshold) below++;
  const expected = (0.95 * n) / 2;
  const d = (below - expected) / Math.sqrt((n / 4) * 0.95 * 0.05);
  return computed('FFT', SINGLE, erfc(Math.abs(d) / Math.SQRT2), d);
}
