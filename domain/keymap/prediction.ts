import type { Prediction, SourceKey } from './types';

/**
 * The map's prediction block of a key: the latest risk evaluation's prediction; before the first evaluation, the
 * maxAge date.
 */
export function predictionOf(key: Pick<SourceKey, 'nextRotationAt' | 'prediction'>): Prediction {
  if (key.prediction) return { ...key.prediction };
  return { predictedRotationAt: key.nextRotationAt, predictedTrigger: key.nextRotationAt ? 'age' : null, nextEvaluationAt: null, lastRiskScore: null };
}
