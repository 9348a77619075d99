import { randomInt } from 'node:crypto';
import type { Database } from '../adapters/postgres/database';
import {
  allUsageSeries,
  keyUsageSeries,
  loadModel,
  newestModelVersion,
  recentUsageFacts,
  storeEvaluation,
  storeModel,
  versionUsedCount,
} from '../adapters/postgres/prediction-repository';
import { threatsForKey } from '../adapters/postgres/threat-intel-repository';
import { observedAgainstReported } from '../adapters/postgres/usage-repository';
import type { KeyrotorConfig } from '../domain/config';
import { policyDurations, type KeyPolicy } from '../domain/keys/policy';
import { evaluateKey } from '../domain/prediction/evaluate';
import { capacityOperations } from '../domain/usage/events';
import { createSeededRandom, ForestModel, trainForest } from '../domain/prediction/forest-model';
import { HOUR_MS, HOURS_PER_WEEK } from '../domain/prediction/series';
import type { EvaluationResult } from '../domain/keys/lifecycle-records';
import { withTypedFailures } from './failures';
import { withHeartbeat } from './heartbeat';

export interface EvaluateKeyRiskInput {
  name: string;
  /** Unique per evaluation of the key (`<name>/e<seq>`): a retried activity stores its evaluation once. */
  evaluationId: string;
  version: number;
  /** When the version became active (its age and minRotationInterval count from then). */
  versionSince: string;
  keyCreatedAt: string;
  policy: KeyPolicy;
  /** What the capacity counts depends on it (capacityOperations); absent in evaluations asked before encryption keys. */
  keyType?: string;
}

/** What the workflow keeps: small, so that history stays small; the full evaluation is in PostgreSQL. */
export type EvaluateKeyRiskResult = EvaluationResult;

const DAY_MS = 86_400_000;

/** Activities of the prediction engine; they run on the control task queue (PostgreSQL and CPU, no HSM). */
export function createPredictionActivities(deps: { db: Database; config: KeyrotorConfig; now?: () => number }) {
  const { db, config } = deps;
  const now = deps.now ?? Date.now;
  let cached: { version: string; model: ForestModel } | null = null;

  async function currentModel(): Promise<ForestModel | null> {
    const version = await newestModelVersion(db);
    if (version === null) return null;
    if (cached?.version !== version) cached = { version, model: ForestModel.fromJSON(await loadModel(db, version)) };
    return cached.model;
  }

  return withTypedFailures({
    /**
     * Forecasts the key's use, looks for anomalies, scores its risk and decides whether to rotate, from the usage
     * reported so far; stores the evaluation with everything that went into it. It heartbeats: an evaluation whose
     * worker died is retried within seconds, not after its 2 minutes, so the key's due steps do not wait behind it.
     */
    evaluateKeyRisk: withHeartbeat(async (input: EvaluateKeyRiskInput): Promise<EvaluateKeyRiskResult> => {
      const nowMs = now();
      const durations = policyDurations(input.policy);
      const [usage, usedCount, facts, model] = await Promise.all([
        keyUsageSeries(db, { key: input.name, createdAt: input.keyCreatedAt, nowMs, operations: capacityOperations(input.keyType ?? '') }),
        versionUsedCount(db, input.name, input.version, capacityOperations(input.keyType ?? '')),
        recentUsageFacts(db, { key: input.name, appsSince: new Date(nowMs - 7 * DAY_MS), classesSince: new Date(nowMs - DAY_MS) }),
        currentModel(),
      ]);
      const threats = await threatsForKey(db, { key: input.name, apps: facts.apps, now: new Date(nowMs) });
      const observed = (await observedAgainstReported(db, { key: input.name, since: new Date(nowMs - config.prediction.anomalyWindowHours * HOUR_MS) })).map((use) => ({
        ...use,
        log: config.usage.accessLogs.find((source) => source.app === use.app && source.node === use.node)?.path ?? null,
      }));
      const evaluation = evaluateKey({
        nowMs,
        key: { name: input.name, sensitivity: input.policy.sensitivity, appIds: facts.apps },
        version: { createdAtMs: Date.parse(input.versionSince), usedCount },
        policy: {
          riskThreshold: input.policy.riskThreshold,
          capacityLimit: input.policy.capacityLimit,
          maxAgeMs: durations.maxAgeMs,
          minRotationIntervalMs: durations.minRotationIntervalMs,
          evaluationIntervalMs: durations.evaluationIntervalMs,
          capacitySafetyMarginMs: durations.capacityMarginMs,
        },
        usage,
        eventSensitivities: facts.sensitivities,
        threats: threats.live,
        observed,
        model,
        risk: {
          weights: config.prediction.riskWeights,
          sensitivityWeights: config.prediction.sensitivityWeights,
          classMismatchPenalty: config.prediction.classMismatchPenalty,
        },
        anomalyWindowHours: config.prediction.anomalyWindowHours,
      });
      await storeEvaluation(db, {
        evaluationId: input.evaluationId,
        key: input.name,
        version: input.version,
        usedCount,
        threshold: input.policy.riskThreshold,
        weights: config.prediction.riskWeights,
        evaluation,
      });
      const { risk, decision } = evaluation;
      return {
        evaluationId: input.evaluationId,
        evaluatedAt: risk.evaluatedAt,
        score: risk.score,
        threshold: input.policy.riskThreshold,
        rotate: decision.rotate,
        trigger: decision.trigger,
        predictedTrigger: decision.predictedTrigger,
        predictedRotationAt: decision.predictedRotationAt,
        nextEvaluationAt: decision.nextEvaluationAt,
        reason: decision.reason,
        unreported: observed.filter((use) => use.seen > use.reported),
        evidence: {
          evaluationId: input.evaluationId,
          score: risk.score,
          threshold: input.policy.riskThreshold,
          components: risk.components,
          modelVersion: risk.modelVersion,
          capacityExhaustedAt: decision.capacityExhaustedAt,
        },
      };
    }),

    /**
     * Retrains the global forest on every key's recent hourly use (a bounded random sample of rows, see trainForest)
     * and stores it as the newest model. Keys with a week of history or less offer no rows; with none at all there is
     * nothing to train, which is an answer, not a failure.
     */
    async retrainForecastModel(_input: Record<string, never>): Promise<{ trained: boolean; modelVersion: string | null; keys: number; trainingRows: number; trainMs: number; reason: string | null }> {
      const nowMs = now();
      const all = await allUsageSeries(db, nowMs);
      const usable = all.filter(({ series }) => series.counts.length > HOURS_PER_WEEK);
      if (usable.length === 0) {
        return { trained: false, modelVersion: null, keys: 0, trainingRows: 0, trainMs: 0, reason: `no key has more than a week of reported usage (${all.length} key(s) have some)` };
      }
      const started = performance.now();
      const model = trainForest({ series: usable.map(({ series }) => series), random: createSeededRandom(randomInt(2 ** 31)), trainedAt: new Date(nowMs).toISOString() });
      const trainMs = Math.round(performance.now() - started);
      const json = model.toJSON();
      await storeModel(db, { modelVersion: json.modelVersion, trainedAt: json.trainedAt, keys: usable.length, trainingRows: json.trainingRows, trainMs, model: json });
      cached = { version: json.modelVersion, model };
      return { trained: true, modelVersion: json.modelVersion, keys: usable.length, trainingRows: json.trainingRows, trainMs, reason: null };
    },
  });
}

export type PredictionActivities = ReturnType<typeof createPredictionActivities>;
