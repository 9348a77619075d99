import { collisionEstimate } from './collision';
import { compressionEstimate } from './compression';
import { type EstimatorOutcome, isEstimate } from './estimate';
import { lagEstimate } from './lag';
import { lz78yEstimate } from './lz78y';
import { markovEstimate } from './markov';
import { mostCommonValueEstimate } from './most-common-value';
import { multiMcwEstimate } from './multi-mcw';
import { multiMmcEstimate } from './multi-mmc';
import type { SampleSet } from './samples';
import { tupleEstimates } from './tuple-estimates';

export const ESTIMATORS = [
  'MostCommonValue',
  'Collision',
  'Markov',
  'Compression',
  'TTuple',
  'LRS',
  'MultiMCW',
  'Lag',
  'MultiMMC',
  'LZ78Y',
] as const;
export type EstimatorName = (typeof ESTIMATORS)[number];

/** `original`: the samples as given; `bitstring`: their bits, estimates per bit (section 3.1.3). */
export type Track = 'original' | 'bitstring';

export interface EstimatorResult {
  estimator: EstimatorName;
  track: Track;
  outcome: EstimatorOutcome;
}

export interface NonIidAssessment {
  bitsPerSample: number;
  sampleCount: number;
  alphabetSize: number;
  bitstringLength: number | undefined;
  results: EstimatorResult[];
  /** Min-entropy per sample of the samples as given: at most bitsPerSample. */
  hOriginal: number;
  /** Min-entropy per bit of the bitstring, when there is one: at most 1. */
  hBitstring: number | undefined;
  /** min(hOriginal, bitsPerSample × hBitstring): the initial entropy estimate H_I before any submitter's claim. */
  assessed: number;
}

/** Called before each estimator runs, so a caller can show progress or time the steps. */
export type ProgressListener = (step: { estimator: EstimatorName; track: Track }) => void;

/**
 * The non-IID track of SP 800-90B section 6.3, as NIST's ea_non_iid runs it: all ten estimators on the samples and,
 * when the alphabet has more than two symbols, on the bitstring. Collision, Markov and Compression apply to binary
 * data only, so on wider samples they run on the bitstring alone.
 */
export function assessNonIid(samples: SampleSet, onProgress: ProgressListener = () => undefined): NonIidAssessment {
  const { symbols, alphabetSize, bitstring, bitsPerSample } = samples;
  const results: EstimatorResult[] = [];
  const run = (estimator: EstimatorName, track: Track, estimate: () => EstimatorOutcome): void => {
    onProgress({ estimator, track });
    results.push({ estimator, track, outcome: estimate() });
  };
  const tracks: { track: Track; data: Uint8Array; k: number }[] = [];
  if (alphabetSize > 1) tracks.push({ track: 'original', data: symbols, k: alphabetSize });
  if (bitstring) tracks.push({ track: 'bitstring', data: bitstring, k: 2 });

  for (const { track, data, k } of tracks) {
    run('MostCommonValue', track, () => mostCommonValueEstimate(data, k));
    if (k === 2) {
      run('Collision', track, () => collisionEstimate(data));
      run('Markov', track, () => markovEstimate(data));
      run('Compression', track, () => compressionEstimate(data));
    }
    onProgress({ estimator: 'TTuple', track });
    const tuples = tupleEstimates(data, k);
    results.push({ estimator: 'TTuple', track, outcome: tuples.tTuple });
    results.push({ estimator: 'LRS', track, outcome: tuples.longestRepeatedSubstring });
    run('MultiMCW', track, () => multiMcwEstimate(data, k));
    run('Lag', track, () => lagEstimate(data, k));
    run('MultiMMC', track, () => multiMmcEstimate(data, k));
    run('LZ78Y', track, () => lz78yEstimate(data, k));
  }

  const minimum = (track: Track, ceiling: number): number =>
    results
      .filter((result) => result.track === track)
      .reduce((low, { outcome }) => (isEstimate(outcome) ? Math.min(low, outcome.minEntropy) : low), ceiling);
  // A single-valued source has no entropy; the reference tool refuses to award any.
  const hOriginal = alphabetSize > 1 ? minimum('original', bitsPerSample) : 0;
  const hBitstring = bitstring ? minimum('bitstring', 1) : undefined;
  const assessed = Math.min(bitsPerSample, hOriginal, hBitstring === undefined ? Infinity : bitsPerSample * hBitstring);
  return {
    bitsPerSample,
    sampleCount: symbols.length,
    alphabetSize,
    bitstringLength: bitstring?.length,
    results,
    hOriginal,
    hBitstring,
    assessed,
  };
}
