/**
 * Figures published with NIST's reference tool (SP800-90B_EntropyAssessment, cpp/selftest/refdata/*.res, ea_non_iid
 * -v -v -v): for each estimator the tool prints the statistics it measured and the estimate it derived. Feeding the
 * same statistics to our final steps must give the same estimates; the tool's own self-test accepts 1e-6.
 */
import { collisionFromWaitingTimes } from '../../../domain/sp800-90b/collision';
import { compressionFromMeanBound } from '../../../domain/sp800-90b/compression';
import { isEstimate, type EstimatorOutcome } from '../../../domain/sp800-90b/estimate';
import { markovFromProbabilities } from '../../../domain/sp800-90b/markov';
import { mostCommonValueFromMode } from '../../../domain/sp800-90b/most-common-value';
import { predictionEstimate } from '../../../domain/sp800-90b/prediction';
import { proportionUpperBound } from '../../../domain/sp800-90b/statistics';

const TOLERANCE = 1e-9;

function entropyOf(outcome: EstimatorOutcome): number {
  if (!isEstimate(outcome)) throw new Error(outcome.notApplicable);
  return outcome.minEntropy;
}

function expectClose(actual: number, expected: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(TOLERANCE * Math.max(1, Math.abs(expected)));
}

describe('Most Common Value (6.3.1)', () => {
  it.each([
    ['biased-random-bytes, literal', 800234, 1_000_000, 0.80126387990272308, 0.31965065183818203],
    ['rand8_short, bitstring', 40099, 80_000, 0.50579098043220405, 0.98338678465915019],
    ['truerand_4bit, literal', 63134, 1_000_000, 0.063760451839418572, 3.9711943367296096],
  ])('%s: mode %d of %d', (_name, mode, length, pU, minEntropy) => {
    const estimate = mostCommonValueFromMode(mode, length);
    expectClose(estimate.detail.pU!, pU);
    expectClose(estimate.minEntropy, minEntropy);
  });
});

describe('Collision (6.3.2)', () => {
  // The tool prints v and the sum of the waiting times; on bits every wait is 2 or 3, which fixes both counts.
  const fromTool = (v: number, sum: number): EstimatorOutcome => collisionFromWaitingTimes(3 * v - sum, sum - 2 * v);

  it.each([
    ['rand8_short', 32005, 79999, 0.83205298221524882],
    ['data.pi', 477455, 1165666, 0.56953759345777466],
    ['biased-random-bytes', 3820717, 7999999, 0.072705888458523521],
    ['truerand_8bit', 3199626, 8000000, 0.95840629541836875],
  ])('%s: v = %d, sum = %d', (_name, v, sum, minEntropy) => {
    expectClose(entropyOf(fromTool(v, sum)), minEntropy);
  });

  it('gives full entropy when the bounded mean has no root (normal.bin: X-bar\' = 2.522)', () => {
    const outcome = fromTool(3170586, 7999999);
    expect(entropyOf(outcome)).toBe(1);
    expect(isEstimate(outcome) && outcome.detail.meanBound).toBeCloseTo(2.5224700384317478, 12);
  });
});

describe('Markov (6.3.3)', () => {
  it.each([
    ['biased-random-bytes', 0.89983625, 0.93878927121313338, 0.54989704359111957, 0.091604387916422433],
    ['data.pi', 0.43125046110978615, 0.48045928537042415, 0.39393879973633839, 0.72318078199004532],
    ['rand8_short', 0.5012375, 0.50078555574951988, 0.5016791979949875, 0.99772497672796534],
  ])('%s', (_name, p0, p00, p10, minEntropy) => {
    expectClose(entropyOf(markovFromProbabilities(p0, p00, p10)), minEntropy);
  });
});

describe('Compression (6.3.4): the solver for p', () => {
  it.each([
    ['rand8_short', 13333, 5.1887036615688391, 0.047508507395589983, 0.73261171806065617],
    ['biased-random-bytes', 1333333, 1.8863089398618362, 0.76907011660379809, 0.063135493215718444],
    ['normal', 1333333, 5.0283495184921581, 0.11866185634166618, 0.51251197288878858],
    ['truerand_8bit', 1333333, 5.2154460395011881, 0.023269820763614391, 0.90423268189731187],
    ['data.pi', 194277, 5.1219016843117551, 0.081936203422937059, 0.60155919063219654],
  ])('%s: %d blocks, X-bar\' = %d', (_name, blocks, meanBound, p, minEntropy) => {
    const result = compressionFromMeanBound(meanBound, blocks);
    expectClose(result.p, p);
    expectClose(result.minEntropy, minEntropy);
  });

  it('assigns full entropy when even the uniform distribution expects less than the bounded mean', () => {
    expect(compressionFromMeanBound(6.5, 13333)).toEqual({ p: 1 / 64, minEntropy: 1 });
  });
});

describe('t-Tuple and LRS (6.3.5, 6.3.6): the bound on p-hat', () => {
  it.each([
    ['biased-random-bytes bitstring t-Tuple', 0.97778172881816927, 8_000_000, 0.032217608875810141],
    ['biased-random-bytes literal LRS', 0.69653504227706609, 1_000_000, 0.51928137137655883],
    ['normal bitstring t-Tuple', 0.58478886944022623, 8_000_000, 0.77290558077529137],
  ])('%s', (_name, pHat, n, minEntropy) => {
    expectClose(-Math.log2(proportionUpperBound(pHat, n)), minEntropy);
  });
});

describe('prediction estimators (6.3.7 to 6.3.10): global and local bounds', () => {
  // [label, C, N, r as printed (longest run + 1), alphabet, P_local or undefined, min-entropy]
  it.each([
    ['rand8_short literal Lag', 52, 9999, 3, 256, 0.010051528493923144, 6.6364412870839109],
    ['biased bytes bitstring MultiMCW', 7198538, 7999937, 583, 2, 0.9713579012997926, 0.041925133646315872],
    ['biased bytes literal Lag', 639881, 999999, 53, 256, 0.72383949597417785, 0.46625826502784795],
    ['biased bytes bitstring LZ78Y', 7198670, 7999983, 583, 2, 0.97135789112696946, 0.04192514875535195],
    ['truerand_4bit literal MultiMCW', 62209, 999937, 6, 16, undefined, 3.9922852807215925],
    ['truerand_8bit literal MultiMMC', 3948, 999998, 3, 256, undefined, 7.9268088197517388],
    ['normal bitstring MultiMCW (below a uniform guess)', 3996310, 7999937, 10, 2, undefined, 1],
  ])('%s', (_name, correct, predictions, r, k, pLocal, minEntropy) => {
    const estimate = predictionEstimate({ correct, predictions, longestRun: r - 1 }, k);
    if (pLocal === undefined) expect(estimate.detail.pLocal).toBeUndefined();
    else expectClose(estimate.detail.pLocal!, pLocal);
    expectClose(estimate.minEntropy, minEntropy);
  });
});
