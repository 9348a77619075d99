import { erfc, igamc, logGamma, standardNormalCdf } from '../../../domain/sp800-22/special-functions';

describe('special functions', () => {
  it('igamc gives the P-values printed in SP 800-22 for their χ²', () => {
    expect(igamc(3 / 2, 1 / 2)).toBeCloseTo(0.801252, 6); // §2.2.4
    expect(igamc(1, 2.133333 / 2)).toBeCloseTo(0.344154, 6); // §2.7.4
    expect(igamc(5 / 2, 4.333033 / 2)).toBeCloseTo(0.502529, 6); // §2.14.4
    expect(igamc(3 / 2, 4.882605 / 2)).toBeCloseTo(0.180598, 6); // §2.4.4
  });

  it('igamc stays accurate where a ≈ x is large, against the igamc(a, a) values published with SP 800-22', () => {
    expect(igamc(600, 600)).toBeCloseTo(0.4945710333, 9);
    expect(igamc(1000, 1000)).toBeCloseTo(0.4957947559, 9);
    expect(igamc(10000, 10000)).toBeCloseTo(0.4986701918, 9);
    expect(igamc(1e6, 1e6)).toBeCloseTo(0.4998670192, 8);
  });

  it('igamc agrees with the closed forms: e^{-x} Σ x^k/k! for integer a, erfc(√x) for a = 1/2', () => {
    for (const a of [1, 2, 3, 8, 30]) {
      for (const x of [0.1, 0.9, 2.5, 7, 31, 60]) {
        let term = Math.exp(-x);
        let sum = term;
        for (let k = 1; k < a; k++) {
          term *= x / k;
          sum += term;
        }
        expect(Math.abs(igamc(a, x) - sum)).toBeLessThan(1e-14 + 1e-12 * sum);
      }
    }
    expect(igamc(0.5, 1)).toBeCloseTo(0.157299207050285, 13);
  });

  it('igamc follows Cephes at the edges: 1 for x ≤ 0, 0 on underflow', () => {
    expect(igamc(4, 0)).toBe(1);
    expect(igamc(2.5, -3)).toBe(1);
    expect(igamc(1, 1000)).toBe(0);
  });

  it('erfc matches tabulated values to double precision, including far tails and negative arguments', () => {
    expect(erfc(0)).toBe(1);
    expect(erfc(0.5)).toBeCloseTo(0.4795001221869535, 15);
    expect(erfc(1)).toBeCloseTo(0.157299207050285, 15);
    expect(Math.abs(erfc(3) / 2.209049699858544e-5 - 1)).toBeLessThan(1e-13);
    expect(Math.abs(erfc(10) / 2.088487583762545e-45 - 1)).toBeLessThan(1e-13);
    expect(erfc(-1)).toBeCloseTo(1.842700792949715, 15);
    expect(erfc(Number.POSITIVE_INFINITY)).toBe(0);
  });

  it('standardNormalCdf is Φ', () => {
    expect(standardNormalCdf(0)).toBe(0.5);
    expect(standardNormalCdf(1.959963984540054)).toBeCloseTo(0.975, 15);
    expect(standardNormalCdf(-1)).toBeCloseTo(0.15865525393145707, 15);
  });

  it('logGamma is ln Γ: ln √π at 1/2, ln (n−1)! at integers, Stirling far out', () => {
    expect(logGamma(0.5)).toBeCloseTo(0.5723649429247001, 14);
    let logFactorial = 0;
    for (let n = 2; n <= 40; n++) {
      expect(logGamma(n)).toBeCloseTo(logFactorial, 12);
      logFactorial += Math.log(n);
    }
    expect(() => logGamma(0)).toThrow(RangeError);
  });
});
