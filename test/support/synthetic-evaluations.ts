import type { Database } from '../../adapters/postgres/database';
import { storeEvaluation } from '../../adapters/postgres/prediction-repository';
import { DEFAULT_RISK_WEIGHTS, evaluateKey, HOUR_MS } from '../../domain/prediction';

const DAY_MS = 86_400_000;

/**
 * Records risk evaluations of a key as its workflow's evaluateKeyRisk activity would, through the same repository call,
 * at the given times: for views, routes and benches that need a risk history without waiting hours for workflows to
 * evaluate. Each evaluation is what evaluateKey computes for an unused key at that time, with its score then set to the
 * one asked for (so the score does not follow from the stored components: the shapes are real, the numbers chosen).
 * Evaluation ids are `<key>/s<atMs>`, so recording the same point twice stores it once.
 */
export async function recordSyntheticEvaluations(
  db: Database,
  input: { key: string; version?: number; threshold?: number; points: ReadonlyArray<{ atMs: number; score: number }> },
): Promise<void> {
  const threshold = input.threshold ?? 0.8;
  for (const point of input.points) {
    const evaluation = evaluateKey({
      nowMs: point.atMs,
      key: { name: input.key, sensitivity: 'internal', appIds: [] },
      version: { createdAtMs: point.atMs - DAY_MS, usedCount: 0 },
      policy: { riskThreshold: threshold, capacityLimit: null, maxAgeMs: 90 * DAY_MS, minRotationIntervalMs: DAY_MS, evaluationIntervalMs: HOUR_MS },
      usage: { startMs: point.atMs - (point.atMs % HOUR_MS), counts: [0] },
      eventSensitivities: [],
      threats: [],
      model: null,
      risk: {},
      anomalyWindowHours: 24,
    });
    await storeEvaluation(db, {
      evaluationId: `${input.key}/s${point.atMs}`,
      key: input.key,
      version: input.version ?? 1,
      usedCount: 0,
      threshold,
      weights: { ...DEFAULT_RISK_WEIGHTS },
      evaluation: { ...evaluation, risk: { ...evaluation.risk, score: point.score } },
    });
  }
}
