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
 * One unit of the assessment: an estimator on one track (t-Tuple and LRS share their suffix array and run as one).
 * `weight` is its rough cost in nanoseconds, so that a caller spreading the jobs over threads can start the longest
 * first and leave an input too light for a helper thread's start-up on one thread.
 */
export interface AssessmentJob {
  estimator: EstimatorName;
  track: Track;
  weight: number;
}

/**
 * Rough costs in nanoseconds per symbol, on bits and on wider samples, measured alone on 1e6 random 8-bit samples
 * (bench/ea.ts's input, its bitstring for the bits), two threads at work: MultiMMC and t-Tuple dominate.
 */
const COSTS: Record<EstimatorName, { bits: number; wide: number }> = {
  MostCommonValue: { bits: 2, wide: 4 },
  Collision: { bits: 3, wide: 0 },
  Markov: { bits: 6, wide: 0 },
  Compression: { bits: 10, wide: 0 },
  TTuple: { bits: 75, wide: 180 },
  LRS: { bits: 0, wide: 0 },
  MultiMCW: { bits: 20, wide: 120 },
  Lag: { bits: 27, wide: 20 },
  MultiMMC: { bits: 75, wide: 480 },
  LZ78Y: { bits: 28, wide: 140 },
};

/**
 * The jobs of the non-IID track of SP 800-90B section 6.3, in NIST ea_non_iid's order: all ten estimators on the
 * samples and, when the alphabet has more than two symbols, on the bitstring. Collision, Markov and Compression apply
 * to binary data only, so on wider samples they run on the bitstring alone.
 */
export function assessmentJobs(samples: SampleSet): AssessmentJob[] {
  const jobs: AssessmentJob[] = [];
  const tracks: { track: Track; k: number; length: number }[] = [];
  if (samples.alphabetSize > 1) tracks.push({ track: 'original', k: samples.alphabetSize, length: samples.symbols.length });
  if (samples.bitstring) tracks.push({ track: 'bitstring', k: 2, length: samples.bitstring.length });
  for (const { track, k, length } of tracks) {
    for (const estimator of ESTIMATORS) {
      if (estimator === 'LRS') continue;
      if (k !== 2 && (estimator === 'Collision' || estimator === 'Markov' || estimator === 'Compression')) continue;
      jobs.push({ estimator, track, weight: COSTS[estimator][k === 2 ? 'bits' : 'wide'] * length });
    }
  }
  return jobs;
}

/** Runs one job: one result, or two for t-Tuple (t-Tuple and LRS). */
export function runAssessmentJob(samples: SampleSet, job: Pick<AssessmentJob, 'estimator' | 'track'>): EstimatorResult[] {
  const { estimator, track } = job;
  const data = track === 'original' ? samples.symbols : samples.bitstring;
  if (!data) throw new Error('the samples have no bitstring');
  const k = track === 'original' ? samples.alphabetSize : 2;
  const one = (outcome: EstimatorOutcome): EstimatorResult[] => [{ estimator, track, outcome }];
  switch (estimator) {
    case 'MostCommonValue':
      return one(mostCommonValueEstimate(data, k));
    case 'Collision':
      return one(collisionEstimate(data));
    case 'Markov':
      return one(markovEstimate(data));
    case 'Compression':
      return one(compressionEstimate(data));
    case 'TTuple':
    case 'LRS': {
      const tuples = tupleEstimates(data, k);
      return [
        { estimator: 'TTuple', track, outcome: tuples.tTuple },
        { estimator: 'LRS', track, outcome: tuples.longestRepeatedSubstring },
      ];
    }
    case 'MultiMCW':
      return one(multiMcwEstimate(data, k));
    case 'Lag':
      return one(lagEstimate(data, k));
    case 'MultiMMC':
      return one(multiMmcEstimate(data, k));
    case 'LZ78Y':
      return one(lz78yEstimate(data, k));
  }
}

/**
 * The non-IID track of SP 800-90B section 6.3, as NIST's ea_non_iid runs it: every job of assessmentJobs, one after
 * the other.
 */
export function assessNonIid(samples: SampleSet, onProgress: ProgressListener = () => undefined): NonIidAssessment {
  const results: EstimatorResult[] = [];
  for (const job of assessmentJobs(samples)) {
    onProgress(job);
    results.push(...runAssessmentJob(samples, job));
  }
  return combineResults(samples, results);
}

/**
 * The assessment from the results of every job, in any order: the results in ea_non_iid's order (track, then
 * estimator), the minimum per track and the initial entropy estimate.
 */
export function combineResults(samples: SampleSet, unordered: EstimatorResult[]): NonIidAssessment {
  const { symbols, alphabetSize, bitstring, bitsPerSample } = samples;
  const trackOrder = (track: Track): number => (track === 'original' ? 0 : 1);
  const results = [...unordered].sort(
    (a, b) => trackOrder(a.track) - trackOrder(b.track) || ESTIMATORS.indexOf(a.estimator) - ESTIMATORS.indexOf(b.estimator),
  );
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
