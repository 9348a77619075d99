import { complexDft, realDftMagnitudes } from '../../../domain/sp800-22/fft';

/** X_k = Σ_j x_j e^{−2πijk/n}, term by term. */
function naiveDft(re: number[], im: number[]): { re: number[]; im: number[] } {
  const n = re.length;
  const cos = Array.from({ length: n }, (_, t) => Math.cos((-2 * Math.PI * t) / n));
  const sin = Array.from({ length: n }, (_, t) => Math.sin((-2 * Math.PI * t) / n));
  const outRe: number[] = [];
  const outIm: number[] = [];
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let j = 0; j < n; j++) {
      const t = (j * k) % n;
      sr += re[j]! * cos[t]! - im[j]! * sin[t]!;
      si += re[j]! * sin[t]! + im[j]! * cos[t]!;
    }
    outRe.push(sr);
    outIm.push(si);
  }
  return { re: outRe, im: outIm };
}

function signal(n: number, phase: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + phase) * 3 + ((i * 7919) % 13) - 6);
}

// Radix 2, 3, 4 and 5 passes, the generic pass (7, 11, 13, 61) and Bluestein (67, 97, 1009, 2·67 when halved).
const LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 25, 27, 60, 61, 64, 67, 97, 100, 122, 134, 210, 1000, 1001, 1009];

describe('FFT of any length', () => {
  it.each(LENGTHS)('complexDft matches the defining sum for n = %i', (n) => {
    const re = signal(n, 0.3);
    const im = signal(n, 1.1);
    const expected = naiveDft(re, im);
    const actual = complexDft(Float64Array.from(re), Float64Array.from(im));
    const scale = Math.max(1, ...expected.re.map(Math.abs), ...expected.im.map(Math.abs));
    for (let k = 0; k < n; k++) {
      expect(Math.abs(actual.re[k]! - expected.re[k]!) / scale).toBeLessThan(1e-12);
      expect(Math.abs(actual.im[k]! - expected.im[k]!) / scale).toBeLessThan(1e-12);
    }
  });

  it.each(LENGTHS)('realDftMagnitudes gives |X_0| … |X_⌊n/2⌋| for n = %i', (n) => {
    const x = signal(n, 2);
    const expected = naiveDft(x, new Array<number>(n).fill(0));
    const magnitudes = realDftMagnitudes(Float64Array.from(x));
    expect(magnitudes).toHaveLength(Math.floor(n / 2) + 1);
    const scale = Math.max(1, ...x.map(Math.abs)) * n;
    magnitudes.forEach((magnitude, k) => {
      expect(Math.abs(magnitude - Math.hypot(expected.re[k]!, expected.im[k]!)) / scale).toBeLessThan(1e-13);
    });
  });

  it('gives the moduli of the §2.6.4 example ε = 1001010011', () => {
    const x = Float64Array.from('1001010011', (c) => 2 * Number(c) - 1);
    const magnitudes = Array.from(realDftMagnitudes(x));
    expect(magnitudes.map((m) => Number(m.toFixed(6)))).toEqual([0, 2, 4.472136, 2, 4.472136, 2]);
  });
});
