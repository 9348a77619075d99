import { predictionOf } from '../keys/prediction';
import type { Prediction, SourceKey } from './types';

/** The map's prediction block of a key: the key's prediction, from the rounded copy of its latest evaluation. */
export function mapPredictionOf(key: Pick<SourceKey, 'nextRotationAt' | 'prediction'>): Prediction {
  const stored = key.prediction;
  const latest = stored && { ...stored, riskScore: stored.lastRiskScore, evaluatedAt: null, reason: null };
  const { predictedRotationAt, predictedTrigger, nextEvaluationAt, riskScore } = predictionOf(key, latest);
  return { predictedRotationAt, predictedTrigger, nextEvaluationAt, lastRiskScore: riskScore };
}
