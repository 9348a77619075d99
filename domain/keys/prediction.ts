import type { AutomaticTrigger } from './key-model';

/** What a key's risk evaluations say of its next rotation: the block the API and the key map show. */
export interface KeyPrediction {
  riskScore: number | null;
  predictedRotationAt: string | null;
  predictedTrigger: AutomaticTrigger | null;
  nextEvaluationAt: string | null;
  evaluatedAt: string | null;
  reason: string | null;
}

/**
 * A key's prediction: what its latest risk evaluation predicted. Before the first evaluation only the policy speaks,
 * and the maxAge deadline of the active version is when the key rotates.
 */
export function predictionOf(key: { nextRotationAt: string | null }, latest: KeyPrediction | null): KeyPrediction {
  if (latest) return { ...latest };
  return {
    riskScore: null,
    predictedRotationAt: key.nextRotationAt,
    predictedTrigger: key.nextRotationAt ? 'age' : null,
    nextEvaluationAt: null,
    evaluatedAt: null,
    reason: null,
  };
}
