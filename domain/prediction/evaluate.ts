import { detectAnomalies, negativeBinomialQuantile, type AnomalyReport } from './anomaly';
import { DEFAULT_HORIZON, forecastKey, INTERVAL_LEVEL, type KeyForecast } from './forecaster';
import type { ForestModel } from './forest-model';
import { computeRisk, decideRotation, type RiskConfig, type RiskScore, type RotationDecision, type RotationPolicy, type ThreatIndicator, type UnreportedUse } from './risk';
import { alignToHour, HOUR_MS, HOURS_PER_DAY, type HourlySeries } from './series';

/** Everything one evaluation of a key looks at. Time and the model are passed in. */
export interface KeyEvaluationInput {
  nowMs: number;
  key: { name: string; sensitivity: string; appIds: readonly string[] };
  /** The active version: when it was made and how many private-key operations it has served. */
  version: { createdAtMs: number; usedCount: number };
  policy: RotationPolicy;
  /**
   * The key's hourly private-key use up to now: whole hours from `startMs`, the last element being the hour now
   * running (its count so far).
   */
  usage: HourlySeries;
  eventSensitivities: readonly string[];
  threats: readonly ThreatIndicator[];
  /** HSM access logs against reports, per application and version, over the anomaly window. */
  observed?: readonly UnreportedUse[];
  model: ForestModel | null;
  risk: RiskConfig;
  anomalyWindowHours: number;
  horizon?: number;
}

export interface KeyEvaluation {
  forecast: KeyForecast;
  anomaly: AnomalyReport | null;
  /** Why anomaly detection did not run, when it did not. */
  anomalyNote: string | null;
  risk: RiskScore;
  decision: RotationDecision;
}

/**
 * Forecast, anomalies, risk and the rotation decision of one key, the way the lifecycle workflow's evaluation sees
 * them. The forecast rests on whole hours only (the running hour would read as a drop); the anomaly detector judges
 * the running hour for spikes only. With less than a day of whole hours, the forecast is the rate seen so far, flat,
 * with a Poisson interval: a young key used hard must still be able to reach its capacity trigger.
 */
export function evaluateKey(input: KeyEvaluationInput): KeyEvaluation {
  const horizon = input.horizon ?? DEFAULT_HORIZON;
  const { counts, startMs } = input.usage;
  const whole: HourlySeries = { startMs, counts: counts.slice(0, Math.max(0, counts.length - 1)) };
  const forecast = whole.counts.length >= HOURS_PER_DAY ? forecastKey({ series: whole, horizon }, input.model) : rateForecast(input, horizon);

  let anomaly: AnomalyReport | null = null;
  let anomalyNote: string | null = null;
  const window = Math.min(input.anomalyWindowHours, counts.length - HOURS_PER_DAY);
  if (window >= 1) anomaly = detectAnomalies(input.usage, { windowHours: window, lastHourPartial: true });
  else anomalyNote = `anomaly detection needs more than ${HOURS_PER_DAY} hours of history, the key has ${counts.length}`;

  const risk = computeRisk({
    nowMs: input.nowMs,
    key: { id: input.key.name, appIds: input.key.appIds, sensitivity: input.key.sensitivity },
    version: input.version,
    policy: { maxAgeMs: input.policy.maxAgeMs, capacityLimit: input.policy.capacityLimit },
    forecast,
    anomaly: anomaly ?? { score: 0, flagged: [] },
    eventSensitivities: input.eventSensitivities,
    threats: input.threats,
    ...(input.observed ? { observed: input.observed } : {}),
    config: input.risk,
  });
  const decision = decideRotation({ nowMs: input.nowMs, policy: input.policy, version: input.version, forecast, risk });
  return { forecast, anomaly, anomalyNote, risk, decision };
}

function rateForecast(input: KeyEvaluationInput, horizon: number): KeyForecast {
  const { counts, startMs } = input.usage;
  const total = counts.reduce((sum, count) => sum + count, 0);
  // A minute at least, so that the first operations of a key seconds old do not read as an infinite rate.
  const elapsedHours = Math.max((input.nowMs - startMs) / HOUR_MS, 1 / 60);
  const rate = total / elapsedHours;
  const tail = (1 - INTERVAL_LEVEL) / 2;
  const upper = rate > 0 ? negativeBinomialQuantile(rate, 1, 1 - tail) : 0;
  const lower = rate > 0 ? negativeBinomialQuantile(rate, 1, tail) : 0;
  const fill = (value: number): number[] => new Array<number>(horizon).fill(value);
  return {
    startAt: new Date(alignToHour(input.nowMs)).toISOString(),
    horizon,
    method: 'baseline-only',
    reason: `${Math.max(0, counts.length - 1)} whole hour(s) of history, fewer than the ${HOURS_PER_DAY} a seasonal forecast needs: the rate seen so far (${rate.toFixed(1)} an hour), flat`,
    modelVersion: null,
    mean: fill(rate),
    median: fill(rate),
    lower: fill(lower),
    upper: fill(Math.max(upper, rate)),
    intervalLevel: INTERVAL_LEVEL,
    interval: 'negative-binomial',
    components: [],
    validationHours: 0,
    cumulative: rate * horizon,
    cumulativeUpper: Math.max(upper, rate) * horizon,
  };
}
