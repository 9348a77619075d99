import type { KeyLifecycleState } from '../keys/lifecycle-state';
import type { Prediction } from './types';

/**
 * The map's prediction block of a key: the one place that decides where it comes from. Until the lifecycle records
 * risk evaluations, the predicted rotation is the maxAge date and nothing has been evaluated yet.
 */
export function predictionOf(state: Pick<KeyLifecycleState, 'nextRotationAt'>): Prediction {
  return { predictedRotationAt: state.nextRotationAt, nextEvaluationAt: null, lastRiskScore: null };
}
