import type { AutomaticTrigger, RotationEvidence, TransitionVerdict } from './key-model';
import type { UnreportedUse } from '../prediction/risk';
import { isoTime, type PredictionSummary } from './lifecycle-state';
import { policyDurations, type KeyPolicy } from './policy';

/**
 * The records the lifecycle keeps of its checks: a transition verdict, a risk evaluation's summary. Built here, from
 * what the activities answered, so that the workflow only carries them.
 */

/** Reported signing use of a version after a moment (the activity countSignsAfter). */
export interface SignsAfter {
  evidence: 'none' | 'events';
  count: number;
  apps: string[];
}

/** What one risk evaluation answers (the activity evaluateKeyRisk); the full record (components, forecast) is in PostgreSQL. */
export interface EvaluationResult {
  evaluationId: string;
  evaluatedAt: string;
  score: number;
  threshold: number;
  rotate: boolean;
  trigger: AutomaticTrigger | null;
  predictedTrigger: AutomaticTrigger;
  predictedRotationAt: string;
  nextEvaluationAt: string;
  reason: string;
  evidence: RotationEvidence;
  /** Use the HSM access logs showed beyond what was reported (results from before these existed have none). */
  unreported?: UnreportedUse[];
}

/** Whether the move away from a version is clean: no live private object anywhere, an archive that unwraps to it, no use since. */
export function transitionVerdict(input: { liveObjectsOn: string[]; archiveVerified: boolean; used: SignsAfter; since: string; nowMs: number }): TransitionVerdict {
  const { liveObjectsOn, archiveVerified, used, since } = input;
  return {
    ok: liveObjectsOn.length === 0 && archiveVerified && used.count === 0,
    checkedAt: isoTime(input.nowMs),
    liveObjectsOn,
    archiveVerified,
    usage: used.evidence === 'none'
      ? { evidence: 'none', signsAfterSwitch: null, note: 'no usage events were ever reported for this key, so signing use after the switch could not be checked' }
      : { evidence: 'events', signsAfterSwitch: used.count, note: used.count === 0 ? `no signing use reported since ${since}` : `signed ${used.count} time(s) since ${since} by ${used.apps.join(', ')}` },
  };
}

export function evaluationSummary(input: { name: string; seq: number; version: number; result: EvaluationResult }): PredictionSummary {
  const { result } = input;
  return {
    evaluationId: `${input.name}/e${input.seq}`, seq: input.seq, evaluatedAt: result.evaluatedAt, version: input.version, score: result.score, threshold: result.threshold,
    predictedTrigger: result.predictedTrigger, predictedRotationAt: result.predictedRotationAt, nextEvaluationAt: result.nextEvaluationAt, reason: result.reason, failed: false,
  };
}

/** An evaluation that failed: kept with its reason; the prediction stays as it was, and the next try is one interval away. */
export function evaluationFailed(input: { name: string; seq: number; version: number; previous: PredictionSummary | null; policy: KeyPolicy; message: string; nowMs: number }): PredictionSummary {
  return {
    evaluationId: `${input.name}/e${input.seq}`, seq: input.seq, evaluatedAt: isoTime(input.nowMs), version: input.version, score: null, threshold: input.policy.riskThreshold,
    predictedTrigger: input.previous?.predictedTrigger ?? null, predictedRotationAt: input.previous?.predictedRotationAt ?? null,
    nextEvaluationAt: isoTime(input.nowMs + policyDurations(input.policy).evaluationIntervalMs),
    reason: `the evaluation failed: ${input.message}`, failed: true,
  };
}
