import { UserError } from '../../../domain/errors';
import {
  ConditionedEntropyPool,
  conditionSha256,
  nonVettedOutputEntropy,
  vettedOutputEntropy,
} from '../../../domain/sp800-90b/conditioning';
import { randomBytes } from './random-bytes';

/** Section 3.1.5.1.2 written out literally; exact enough in doubles while 2^n_in stays below 2^1000. */
function literalOutputEntropy(nIn: number, nOut: number, nw: number, hIn: number): number {
  const pHigh = 2 ** -hIn;
  const pLow = (1 - pHigh) / (2 ** nIn - 1);
  const n = Math.min(nOut, nw);
  const psi = 2 ** (nIn - n) * pLow + pHigh;
  const u = 2 ** (nIn - n) + Math.sqrt(2 * n * 2 ** (nIn - n) * Math.LN2);
  const omega = u * pLow;
  return -Math.log2(Math.max(psi, omega));
}

describe('vetted conditioning credit (3.1.5.1.2)', () => {
  it.each([
    [64, 32, 32, 40],
    [64, 32, 32, 20],
    [512, 256, 256, 300],
    [300, 256, 128, 150],
    [256, 256, 256, 256],
    [16, 64, 64, 10],
  ])('matches the formula for n_in = %d, n_out = %d, nw = %d, h_in = %d', (nIn, nOut, nw, hIn) => {
    expect(vettedOutputEntropy({ nIn, nOut, nw, hIn })).toBeCloseTo(literalOutputEntropy(nIn, nOut, nw, hIn), 9);
  });

  it('loses about 4.3 bits when SHA-256 gets exactly 256 bits in (ω dominates)', () => {
    expect(vettedOutputEntropy({ nIn: 256, nOut: 256, nw: 256, hIn: 256 })).toBeCloseTo(256 - Math.log2(1 + Math.sqrt(512 * Math.LN2)), 9);
  });

  it('stays finite for inputs far beyond a double\'s range and credits no more than went in', () => {
    const credit = vettedOutputEntropy({ nIn: 80_000, nOut: 256, nw: 256, hIn: 10_000 });
    expect(credit).toBeLessThanOrEqual(256);
    expect(credit).toBeGreaterThan(255.999);
    expect(vettedOutputEntropy({ nIn: 80_000, nOut: 256, nw: 256, hIn: 100 })).toBeCloseTo(100, 9);
  });

  it('caps a non-vetted function at 0.999 n_out and at h\' n_out', () => {
    expect(nonVettedOutputEntropy({ nIn: 1024, nOut: 256, nw: 256, hIn: 1024, hPrime: 1 })).toBeCloseTo(0.999 * 256, 9);
    expect(nonVettedOutputEntropy({ nIn: 1024, nOut: 256, nw: 256, hIn: 1024, hPrime: 0.5 })).toBeCloseTo(128, 9);
  });

  it('refuses more entropy in than bits in', () => {
    expect(() => vettedOutputEntropy({ nIn: 64, nOut: 256, nw: 256, hIn: 65 })).toThrow(UserError);
  });
});

describe('SHA-256 conditioning and the pool', () => {
  it('credits each block by the formula, counting bits per sample rather than bytes', () => {
    const blocks = conditionSha256({ samples: randomBytes(1000), bitsPerSample: 4, minEntropyPerSample: 2 });
    // 512 bits of entropy per block: 256 samples, n_in = 1024.
    expect(blocks).toHaveLength(4);
    expect(blocks[0]!.credit).toBeCloseTo(vettedOutputEntropy({ nIn: 1024, nOut: 256, nw: 256, hIn: 512 }), 12);
    expect(blocks[3]!.credit).toBeCloseTo(vettedOutputEntropy({ nIn: 4 * 232, nOut: 256, nw: 256, hIn: 464 }), 12);
    expect(new Set(blocks.map((b) => Buffer.from(b.output).toString('hex'))).size).toBe(4);
  });

  it('hands out entropy input only while its credits cover the request', () => {
    const pool = new ConditionedEntropyPool();
    pool.absorb({ samples: randomBytes(100), bitsPerSample: 8, minEntropyPerSample: 6 });
    expect(pool.creditedBits).toBeGreaterThan(255);
    expect(pool.creditedBits).toBeLessThan(512);
    expect(() => pool.drain(512)).toThrow(/harvest more samples/);
    const input = pool.drain(256);
    expect(input.length).toBeGreaterThanOrEqual(32);
    expect(pool.creditedBits).toBeLessThan(256);
  });
});
