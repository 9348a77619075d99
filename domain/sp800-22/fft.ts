/**
 * Discrete Fourier transforms of any length, for the spectral test. NIST STS transforms the whole sequence at once
 * with FFTPACK's mixed-radix real FFT, so lengths are arbitrary (10^6 = 2^6·5^6 is the usual one). This is a
 * Stockham autosort FFT with radix 2, 3, 4 and 5 butterflies and a generic butterfly for other small primes; a length
 * with a prime factor above MAX_GENERIC_RADIX goes through Bluestein's chirp-z algorithm instead of an O(n·p) pass.
 */

const MAX_GENERIC_RADIX = 61;

interface UnitRoots {
  /** cos(2πk/n) and −sin(2πk/n): the forward kernel e^{−2πik/n}, for 0 ≤ k < n. */
  re: Float64Array;
  im: Float64Array;
}

/** e^{−2πik/n} for every k. Uses the conjugate and quarter-turn symmetries so only an eighth to a half of it is trig. */
function unitRoots(n: number): UnitRoots {
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const half = Math.floor(n / 2);
  const quarter = n % 4 === 0 ? n / 4 : -1;
  const direct = quarter >= 0 ? quarter : half;
  // e^{−2πik/n} = e^{−2πi·aB/n}·e^{−2πi·b/n} for k = aB + b: two tables of about √k trig values and one complex product
  // per root, instead of a cosine and a sine per root (which took a tenth of a cold battery run at n = 10^6).
  const step = Math.max(1, Math.ceil(Math.sqrt(direct + 1)));
  const fineRe = new Float64Array(step);
  const fineIm = new Float64Array(step);
  for (let b = 0; b < step; b++) {
    const angle = (2 * Math.PI * b) / n;
    fineRe[b] = Math.cos(angle);
    fineIm[b] = -Math.sin(angle);
  }
  for (let start = 0; start <= direct; start += step) {
    const angle = (2 * Math.PI * start) / n;
    const cr = Math.cos(angle);
    const ci = -Math.sin(angle);
    for (let b = 0, k = start; b < step && k <= direct; b++, k++) {
      const fr = fineRe[b]!, fi = fineIm[b]!;
      re[k] = cr * fr - ci * fi;
      im[k] = cr * fi + ci * fr;
    }
  }
  if (quarter >= 0) {
    // e^{−i(π/2 + φ)} = −i·e^{−iφ}
    for (let k = quarter + 1; k <= half; k++) {
      re[k] = im[k - quarter]!;
      im[k] = -re[k - quarter]!;
    }
  }
  for (let k = half + 1; k < n; k++) {
    re[k] = re[n - k]!;
    im[k] = -im[n - k]!;
  }
  return { re, im };
}

/** Factors n for the Stockham passes, radix 4 first; null when a prime factor is too large for a direct pass. */
function factorize(n: number): number[] | null {
  const factors: number[] = [];
  let rest = n;
  while (rest % 4 === 0) {
    factors.push(4);
    rest /= 4;
  }
  for (let p = 2; p * p <= rest; p++) {
    while (rest % p === 0) {
      if (p > MAX_GENERIC_RADIX) return null;
      factors.push(p);
      rest /= p;
    }
  }
  if (rest > 1) {
    if (rest > MAX_GENERIC_RADIX) return null;
    factors.push(rest);
  }
  return factors;
}

/** Radix-4 butterflies of a decimation-in-frequency Stockham pass (see `pass`). */
function pass4(
  length: number,
  stride: number,
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  roots: UnitRoots,
): void {
  const m = length / 4;
  const wr = roots.re;
  const wi = roots.im;
  for (let p = 0; p < m; p++) {
    const t1 = p * stride;
    const w1r = wr[t1]!, w1i = wi[t1]!, w2r = wr[2 * t1]!, w2i = wi[2 * t1]!, w3r = wr[3 * t1]!, w3i = wi[3 * t1]!;
    for (let q = 0; q < stride; q++) {
      const i0 = q + stride * p;
      const i1 = i0 + stride * m;
      const i2 = i1 + stride * m;
      const i3 = i2 + stride * m;
      const s0r = xr[i0]! + xr[i2]!, s0i = xi[i0]! + xi[i2]!;
      const d0r = xr[i0]! - xr[i2]!, d0i = xi[i0]! - xi[i2]!;
      const s1r = xr[i1]! + xr[i3]!, s1i = xi[i1]! + xi[i3]!;
      const d1r = xr[i1]! - xr[i3]!, d1i = xi[i1]! - xi[i3]!;
      const o = q + stride * 4 * p;
      yr[o] = s0r + s1r;
      yi[o] = s0i + s1i;
      const a1r = d0r + d1i, a1i = d0i - d1r;
      yr[o + stride] = a1r * w1r - a1i * w1i;
      yi[o + stride] = a1r * w1i + a1i * w1r;
      const a2r = s0r - s1r, a2i = s0i - s1i;
      yr[o + 2 * stride] = a2r * w2r - a2i * w2i;
      yi[o + 2 * stride] = a2r * w2i + a2i * w2r;
      const a3r = d0r - d1i, a3i = d0i + d1r;
      yr[o + 3 * stride] = a3r * w3r - a3i * w3i;
      yi[o + 3 * stride] = a3r * w3i + a3i * w3r;
    }
  }
}

/** Radix-2 butterflies (see `pass`). */
function pass2(
  length: number,
  stride: number,
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  roots: UnitRoots,
): void {
  const m = length / 2;
  const wr = roots.re;
  const wi = roots.im;
  for (let p = 0; p < m; p++) {
    const w1r = wr[p * stride]!, w1i = wi[p * stride]!;
    for (let q = 0; q < stride; q++) {
      const i0 = q + stride * p;
      const i1 = i0 + stride * m;
      const o = q + stride * 2 * p;
      const ar = xr[i0]!, ai = xi[i0]!, br = xr[i1]!, bi = xi[i1]!;
      yr[o] = ar + br;
      yi[o] = ai + bi;
      const dr = ar - br, di = ai - bi;
      yr[o + stride] = dr * w1r - di * w1i;
      yi[o + stride] = dr * w1i + di * w1r;
    }
  }
}

/** Radix-3 butterflies (see `pass`). */
function pass3(
  length: number,
  stride: number,
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  roots: UnitRoots,
): void {
  const m = length / 3;
  const wr = roots.re;
  const wi = roots.im;
  const c = Math.sqrt(3) / 2;
  for (let p = 0; p < m; p++) {
    const t1 = p * stride;
    const w1r = wr[t1]!, w1i = wi[t1]!, w2r = wr[2 * t1]!, w2i = wi[2 * t1]!;
    for (let q = 0; q < stride; q++) {
      const i0 = q + stride * p;
      const i1 = i0 + stride * m;
      const i2 = i1 + stride * m;
      const a0r = xr[i0]!, a0i = xi[i0]!;
      const tr = xr[i1]! + xr[i2]!, ti = xi[i1]! + xi[i2]!;
      const ur = xr[i1]! - xr[i2]!, ui = xi[i1]! - xi[i2]!;
      const o = q + stride * 3 * p;
      yr[o] = a0r + tr;
      yi[o] = a0i + ti;
      const br = a0r - tr / 2, bi = a0i - ti / 2;
      const y1r = br + c * ui, y1i = bi - c * ur;
      const y2r = br - c * ui, y2i = bi + c * ur;
      yr[o + stride] = y1r * w1r - y1i * w1i;
      yi[o + stride] = y1r * w1i + y1i * w1r;
      yr[o + 2 * stride] = y2r * w2r - y2i * w2i;
      yi[o + 2 * stride] = y2r * w2i + y2i * w2r;
    }
  }
}

/** Radix-5 butterflies (see `pass`). */
function pass5(
  length: number,
  stride: number,
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  roots: UnitRoots,
): void {
  const m = length / 5;
  const wr = roots.re;
  const wi = roots.im;
  const c1 = Math.cos((2 * Math.PI) / 5), c2 = Math.cos((4 * Math.PI) / 5);
  const s1 = Math.sin((2 * Math.PI) / 5), s2 = Math.sin((4 * Math.PI) / 5);
  for (let p = 0; p < m; p++) {
    const t1 = p * stride;
    const w1r = wr[t1]!, w1i = wi[t1]!, w2r = wr[2 * t1]!, w2i = wi[2 * t1]!;
    const w3r = wr[3 * t1]!, w3i = wi[3 * t1]!, w4r = wr[4 * t1]!, w4i = wi[4 * t1]!;
    for (let q = 0; q < stride; q++) {
      const i0 = q + stride * p;
      const i1 = i0 + stride * m;
      const i2 = i1 + stride * m;
      const i3 = i2 + stride * m;
      const i4 = i3 + stride * m;
      const a0r = xr[i0]!, a0i = xi[i0]!;
      const t1r = xr[i1]! + xr[i4]!, t1i = xi[i1]! + xi[i4]!;
      const t2r = xr[i2]! + xr[i3]!, t2i = xi[i2]! + xi[i3]!;
      const u1r = xr[i1]! - xr[i4]!, u1i = xi[i1]! - xi[i4]!;
      const u2r = xr[i2]! - xr[i3]!, u2i = xi[i2]! - xi[i3]!;
      const o = q + stride * 5 * p;
      yr[o] = a0r + t1r + t2r;
      yi[o] = a0i + t1i + t2i;
      const b1r = a0r + c1 * t1r + c2 * t2r, b1i = a0i + c1 * t1i + c2 * t2i;
      const b2r = a0r + c2 * t1r + c1 * t2r, b2i = a0i + c2 * t1i + c1 * t2i;
      const e1r = s1 * u1r + s2 * u2r, e1i = s1 * u1i + s2 * u2i;
      const e2r = s2 * u1r - s1 * u2r, e2i = s2 * u1i - s1 * u2i;
      // −i·e = e.im − i·e.re
      const y1r = b1r + e1i, y1i = b1i - e1r;
      const y4r = b1r - e1i, y4i = b1i + e1r;
      const y2r = b2r + e2i, y2i = b2i - e2r;
      const y3r = b2r - e2i, y3i = b2i + e2r;
      yr[o + stride] = y1r * w1r - y1i * w1i;
      yi[o + stride] = y1r * w1i + y1i * w1r;
      yr[o + 2 * stride] = y2r * w2r - y2i * w2i;
      yi[o + 2 * stride] = y2r * w2i + y2i * w2r;
      yr[o + 3 * stride] = y3r * w3r - y3i * w3i;
      yi[o + 3 * stride] = y3r * w3i + y3i * w3r;
      yr[o + 4 * stride] = y4r * w4r - y4i * w4i;
      yi[o + 4 * stride] = y4r * w4i + y4i * w4r;
    }
  }
}

/** Any other small prime radix: a direct DFT of `radix` points per butterfly (see `pass`). */
function passGeneric(
  radix: number,
  length: number,
  stride: number,
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  roots: UnitRoots,
): void {
  const m = length / radix;
  const wr = roots.re;
  const wi = roots.im;
  const n = length * stride;
  // Any other small prime: a direct DFT of `radix` points per butterfly. ω^{jk} = roots[(j·k mod radix)·(n/radix)].
  const rootStep = n / radix;
  const ar = new Float64Array(radix);
  const ai = new Float64Array(radix);
  for (let p = 0; p < m; p++) {
    for (let q = 0; q < stride; q++) {
      for (let k = 0; k < radix; k++) {
        const index = q + stride * (p + k * m);
        ar[k] = xr[index]!;
        ai[k] = xi[index]!;
      }
      const o = q + stride * radix * p;
      for (let j = 0; j < radix; j++) {
        let sr = 0;
        let si = 0;
        for (let k = 0; k < radix; k++) {
          const t = ((j * k) % radix) * rootStep;
          const cr = wr[t]!, ci = wi[t]!;
          sr += ar[k]! * cr - ai[k]! * ci;
          si += ar[k]! * ci + ai[k]! * cr;
        }
        const t = p * j * stride;
        yr[o + j * stride] = sr * wr[t]! - si * wi[t]!;
        yi[o + j * stride] = sr * wi[t]! + si * wr[t]!;
      }
    }
  }
}

/**
 * One decimation-in-frequency Stockham pass: for the current length `length` and stride `stride`, the butterflies of
 * radix `radix` read x[q + stride·(p + k·m)] and write y[q + stride·(radix·p + j)], twiddled by e^{−2πi·p·j/length}.
 * `roots` holds e^{−2πik/N} for the full length N = length·stride, so that twiddle is roots[p·j·stride].
 */
function pass(
  radix: number,
  length: number,
  stride: number,
  xr: Float64Array,
  xi: Float64Array,
  yr: Float64Array,
  yi: Float64Array,
  roots: UnitRoots,
): void {
  // One function per radix: each is small and monomorphic, so V8 optimises each loop on its own, early in a cold run.
  if (radix === 4) pass4(length, stride, xr, xi, yr, yi, roots);
  else if (radix === 2) pass2(length, stride, xr, xi, yr, yi, roots);
  else if (radix === 5) pass5(length, stride, xr, xi, yr, yi, roots);
  else if (radix === 3) pass3(length, stride, xr, xi, yr, yi, roots);
  else passGeneric(radix, length, stride, xr, xi, yr, yi, roots);
}

/** True when n factors into primes of at most MAX_GENERIC_RADIX, so that it needs no Bluestein transform. */
export function smallPrimeFactors(n: number): boolean {
  return factorize(n) !== null;
}

/** Runs the passes for `factors`; returns whichever buffer pair ends up holding the transform. */
function stockham(
  factors: number[],
  re: Float64Array,
  im: Float64Array,
  roots: UnitRoots,
): { re: Float64Array; im: Float64Array } {
  const n = re.length;
  let xr = re, xi = im;
  let yr: Float64Array = new Float64Array(n);
  let yi: Float64Array = new Float64Array(n);
  let length = n;
  let stride = 1;
  for (const radix of factors) {
    pass(radix, length, stride, xr, xi, yr, yi, roots);
    [xr, yr] = [yr, xr];
    [xi, yi] = [yi, xi];
    length /= radix;
    stride *= radix;
  }
  return { re: xr, im: xi };
}

/** Bluestein: X_k = b̄_k Σ_j (x_j b̄_j) b_{k−j} with b_j = e^{iπj²/n}, the convolution done by power-of-two FFTs. */
function bluestein(re: Float64Array, im: Float64Array): { re: Float64Array; im: Float64Array } {
  const n = re.length;
  let size = 1;
  while (size < 2 * n - 1) size *= 2;
  const chirpRe = new Float64Array(n);
  const chirpIm = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    // j² mod 2n keeps the angle small, so it stays exact for large j.
    const angle = (Math.PI * ((j * j) % (2 * n))) / n;
    chirpRe[j] = Math.cos(angle);
    chirpIm[j] = Math.sin(angle);
  }
  const ar = new Float64Array(size), ai = new Float64Array(size);
  const br = new Float64Array(size), bi = new Float64Array(size);
  for (let j = 0; j < n; j++) {
    const cr = chirpRe[j]!, ci = chirpIm[j]!;
    ar[j] = re[j]! * cr + im[j]! * ci;
    ai[j] = im[j]! * cr - re[j]! * ci;
    br[j] = cr;
    bi[j] = ci;
    if (j > 0) {
      br[size - j] = cr;
      bi[size - j] = ci;
    }
  }
  const factors = factorize(size) ?? [];
  const roots = unitRoots(size);
  const a = stockham(factors, ar, ai, roots);
  const b = stockham(factors, br, bi, roots);
  // Inverse transform of the product via conj(FFT(conj(·))).
  const pr = new Float64Array(size), pi = new Float64Array(size);
  for (let k = 0; k < size; k++) {
    const xr = a.re[k]!, xi = a.im[k]!, yr = b.re[k]!, yi = b.im[k]!;
    pr[k] = xr * yr - xi * yi;
    pi[k] = -(xr * yi + xi * yr);
  }
  const c = stockham(factors, pr, pi, roots);
  const outRe = new Float64Array(n), outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const vr = c.re[k]! / size, vi = -c.im[k]! / size;
    const cr = chirpRe[k]!, ci = chirpIm[k]!;
    outRe[k] = vr * cr + vi * ci;
    outIm[k] = vi * cr - vr * ci;
  }
  return { re: outRe, im: outIm };
}

/** The forward DFT X_k = Σ_j x_j e^{−2πijk/n} of a complex sequence of any length. The inputs are overwritten. */
export function complexDft(re: Float64Array, im: Float64Array): { re: Float64Array; im: Float64Array } {
  const n = re.length;
  if (n <= 1) return { re: Float64Array.from(re), im: Float64Array.from(im) };
  const factors = factorize(n);
  return factors === null ? bluestein(re, im) : stockham(factors, re, im, unitRoots(n));
}

/**
 * |X_k| for k = 0 … ⌊n/2⌋ of a real sequence. An even length is transformed as n/2 complex points (even samples as
 * real parts, odd as imaginary) and split apart afterwards, which halves the work.
 */
export function realDftMagnitudes(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const half = Math.floor(n / 2);
  const magnitudes = new Float64Array(half + 1);
  if (n === 0) return magnitudes;
  if (n % 2 === 1 || n === 2 || factorize(half) === null) {
    const spectrum = complexDft(Float64Array.from(x), new Float64Array(n));
    for (let k = 0; k <= half; k++) magnitudes[k] = Math.hypot(spectrum.re[k]!, spectrum.im[k]!);
    return magnitudes;
  }
  const packedRe = new Float64Array(half);
  const packedIm = new Float64Array(half);
  for (let j = 0; j < half; j++) {
    packedRe[j] = x[2 * j]!;
    packedIm[j] = x[2 * j + 1]!;
  }
  return evenRealDftMagnitudes(packedRe, packedIm);
}

/**
 * realDftMagnitudes of a real sequence of even length n = 2h, given as h complex points (the even samples as real
 * parts, the odd as imaginary), when h factors into small primes. The inputs are overwritten.
 */
export function evenRealDftMagnitudes(packedRe: Float64Array, packedIm: Float64Array): Float64Array {
  const half = packedRe.length;
  const magnitudes = new Float64Array(half + 1);
  const roots = unitRoots(half);
  const z = stockham(factorize(half) ?? [], packedRe, packedIm, roots);
  // The split needs e^{−2πik/n}: a root of length n/2 for even k, that root turned by e^{−2πi/n} for odd k.
  const stepRe = Math.cos(Math.PI / half);
  const stepIm = -Math.sin(Math.PI / half);
  for (let k = 0; k <= half; k++) {
    const a = k === half ? 0 : k;
    const b = k === 0 ? 0 : half - k;
    const zar = z.re[a]!, zai = z.im[a]!, zbr = z.re[b]!, zbi = z.im[b]!;
    // Even-sample spectrum E_k = (Z_k + conj Z_{h−k})/2, odd-sample spectrum O_k = (Z_k − conj Z_{h−k})/2i.
    const er = (zar + zbr) / 2, ei = (zai - zbi) / 2;
    const or = (zai + zbi) / 2, oi = (zbr - zar) / 2;
    const root = k >>> 1;
    let wr = k === half ? -1 : roots.re[root]!;
    let wi = k === half ? 0 : roots.im[root]!;
    if ((k & 1) === 1 && k !== half) {
      const turnedRe = wr * stepRe - wi * stepIm;
      wi = wr * stepIm + wi * stepRe;
      wr = turnedRe;
    }
    const fr = er + or * wr - oi * wi;
    const fi = ei + or * wi + oi * wr;
    magnitudes[k] = Math.sqrt(fr * fr + fi * fi);
  }
  return magnitudes;
}
