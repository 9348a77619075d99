/**
 * The whole assessment against NIST's ea_non_iid on inputs it was run on (test/fixtures/sp800-90b/nist-ea-non-iid.ts
 * says how): every estimate, on each track, and the assessed entropy equal the tool's to 1e-6, the tolerance of the
 * tool's own self-test. The inputs exercise the binary code paths (the bitstring of 6-bit samples, 1-bit samples)
 * and the general ones.
 */
import { createHash } from 'node:crypto';
import { assessNonIid, isEstimate, prepareSamples } from '../../../domain/sp800-90b';
import { NIST_EA_NON_IID, type NistReference } from '../../fixtures/sp800-90b/nist-ea-non-iid';
import { randomBytes } from './random-bytes';

const TOLERANCE = 1e-6;

const inputs: [string, Uint8Array, NistReference][] = [
  [
    '150,000 biased 6-bit samples',
    randomBytes(150_000, 'nist reference 6-bit').map((b, i) => (b < 200 ? b & 0x3f : i & 0x3f)),
    NIST_EA_NON_IID.sixBit,
  ],
  ['300,000 biased bits', randomBytes(300_000, 'nist reference 1-bit').map((b) => (b < 150 ? 1 : 0)), NIST_EA_NON_IID.oneBit],
];

describe('agreement with NIST ea_non_iid', () => {
  it.each(inputs)('%s: every estimate as the tool reports it', (_name, data, reference) => {
    expect(createHash('sha256').update(data).digest('hex')).toBe(reference.sha256);
    const assessment = assessNonIid(prepareSamples(data, reference.bitsPerSample));
    const ours = assessment.results
      .filter(({ outcome }) => isEstimate(outcome))
      .map(({ estimator, track, outcome }) => ({ estimator, track, minEntropy: isEstimate(outcome) ? outcome.minEntropy : NaN }));
    expect(ours.map(({ estimator, track }) => `${estimator} ${track}`).sort()).toEqual(
      reference.estimates.map(({ estimator, track }) => `${estimator} ${track}`).sort(),
    );
    for (const expected of reference.estimates) {
      const actual = ours.find(({ estimator, track }) => estimator === expected.estimator && track === expected.track)!;
      expect({ ...actual, off: Math.abs(actual.minEntropy - expected.minEntropy) <= TOLERANCE }).toEqual({ ...actual, off: true });
    }
    expect(Math.abs(assessment.assessed - reference.assessed)).toBeLessThanOrEqual(TOLERANCE);
  });
});
