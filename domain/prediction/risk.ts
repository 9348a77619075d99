import { UserError } from '../errors';
import type { AutomaticTrigger } from '../keys/key-model';
import type { AnomalyReport } from './anomaly';
import type { KeyForecast } from './forecaster';
import { HOUR_MS } from './series';

/**
 * How sensitive each data class is, 0–1. Configurable: a deployment may add classes or move them; a class that is
 * not in the table is an error, never silently 0.
 */
export const DEFAULT_SENSITIVITY_WEIGHTS: Readonly<Record<string, number>> = {
  public: 0,
  internal: 0.2,
  confidential: 0.5,
  'personal-health': 0.8,
  'payment-card': 0.9,
  'high-value-transaction': 1,
};

export const RISK_COMPONENTS = ['usage', 'anomaly', 'sensitivity', 'threat', 'age', 'unreported'] as const;
export type RiskComponentName = (typeof RISK_COMPONENTS)[number];
export type RiskWeights = Record<RiskComponentName, number>;

/**
 * How far each component alone can take the risk (see computeRisk). A live threat indicator of full severity alone
 * reaches 0.9; sensitive data alone never rotates a key, but raises the risk every other signal adds to. Use the HSM
 * saw and no application reported reaches 0.7: below the default threshold alone (an application may report late or
 * under another name), above it with any other signal.
 */
export const DEFAULT_RISK_WEIGHTS: Readonly<RiskWeights> = { usage: 0.5, anomaly: 0.6, sensitivity: 0.3, threat: 0.9, age: 0.4, unreported: 0.7 };

/**
 * Private-key operations an HSM access log showed an application do with a version, against what that application
 * reported for the same version in the same window (usage source `hsm-log` against `app-report`).
 */
export interface UnreportedUse {
  app: string;
  node: string | null;
  version: number;
  /** The access log the operations were read from (usage.accessLogs), when the configuration still names it. */
  log: string | null;
  seen: number;
  reported: number;
}

/** Unreported operations at which the component reaches half its value: a few stray uses weigh little, dozens nearly all. */
export const UNREPORTED_HALF_AT = 5;

/** Added to the sensitivity when a key is used for data of a class above its own (the key is misused). */
export const DEFAULT_CLASS_MISMATCH_PENALTY = 0.1;

export interface ThreatIndicator {
  /** 0–1. */
  severity: number;
  /** `key`: target is a key id; `app`: target is an application id; `all`: every key (target ignored). */
  scope: 'key' | 'app' | 'all';
  target: string;
  /** ISO 8601; from then on the indicator no longer counts. */
  expiresAt: string;
}

export interface RiskConfig {
  weights?: Partial<RiskWeights>;
  sensitivityWeights?: Readonly<Record<string, number>>;
  classMismatchPenalty?: number;
}

export interface RiskInput {
  nowMs: number;
  /** appIds: the applications that use the key (app-scoped threat indicators apply through them). */
  key: { id: string; appIds: readonly string[]; sensitivity: string };
  /** The current key version. */
  version: { createdAtMs: number; usedCount: number };
  policy: { maxAgeMs: number; capacityLimit: number | null };
  forecast: Pick<KeyForecast, 'cumulative' | 'cumulativeUpper' | 'horizon' | 'modelVersion' | 'method'>;
  anomaly: Pick<AnomalyReport, 'score' | 'flagged'>;
  /** Data classes of recent operations with the key. */
  eventSensitivities?: readonly string[];
  /** What the HSM access logs showed against what was reported, per application and version (see UnreportedUse). */
  observed?: readonly UnreportedUse[];
  threats?: readonly ThreatIndicator[];
  config?: RiskConfig;
}

export interface RiskComponent {
  name: RiskComponentName;
  /** 0–1. */
  value: number;
  weight: number;
  /** weight × value: the risk this component alone would give. */
  contribution: number;
  /** Why the value is what it is, for an operator. */
  detail: string;
}

export interface RiskScore {
  /** 0–1. */
  score: number;
  /** score = 1 − Π (1 − weight × value) over the components. */
  combination: 'noisy-or';
  components: RiskComponent[];
  /** The forest model the usage forecast came from (null: seasonal baseline only). */
  modelVersion: string | null;
  forecastMethod: KeyForecast['method'];
  evaluatedAt: string;
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}

function resolveWeights(given: Partial<RiskWeights> | undefined): RiskWeights {
  const weights = { ...DEFAULT_RISK_WEIGHTS, ...given };
  for (const name of RISK_COMPONENTS) {
    const weight = weights[name];
    if (!(weight >= 0 && weight <= 1)) throw new UserError('invalid_risk_weights', `risk weight '${name}' must be from 0 to 1, got ${weight}`);
  }
  return weights;
}

function sensitivityOf(table: Readonly<Record<string, number>>, dataClass: string, where: string): number {
  const weight = Object.hasOwn(table, dataClass) ? table[dataClass] : undefined;
  if (weight === undefined) {
    throw new UserError('unknown_sensitivity_class', `${where}: unknown data class '${dataClass}' (known: ${Object.keys(table).join(', ')})`);
  }
  if (!(weight >= 0 && weight <= 1)) throw new UserError('invalid_sensitivity_weights', `the weight of data class '${dataClass}' must be from 0 to 1, got ${weight}`);
  return weight;
}

function usageComponent(input: RiskInput): Pick<RiskComponent, 'value' | 'detail'> {
  const { capacityLimit } = input.policy;
  const { usedCount } = input.version;
  if (capacityLimit === null) return { value: 0, detail: 'the policy sets no capacity limit' };
  const remaining = capacityLimit - usedCount;
  const expected = Math.round(input.forecast.cumulative);
  if (remaining <= 0) return { value: 1, detail: `the version has used ${usedCount} of its ${capacityLimit} operations` };
  return {
    value: clamp01(input.forecast.cumulative / remaining),
    detail: `${expected} operations forecast over the next ${input.forecast.horizon} h against ${remaining} remaining (${usedCount} of ${capacityLimit} used)`,
  };
}

function sensitivityComponent(input: RiskInput, table: Readonly<Record<string, number>>, penalty: number): Pick<RiskComponent, 'value' | 'detail'> {
  const own = sensitivityOf(table, input.key.sensitivity, 'key sensitivity');
  let highest: { dataClass: string; weight: number } | null = null;
  for (const dataClass of input.eventSensitivities ?? []) {
    const weight = sensitivityOf(table, dataClass, 'event data class');
    if (weight > own && (highest === null || weight > highest.weight)) highest = { dataClass, weight };
  }
  if (highest === null) return { value: own, detail: `key classified ${input.key.sensitivity} (${own})` };
  return {
    value: clamp01(highest.weight + penalty),
    detail: `key classified ${input.key.sensitivity} (${own}) used for ${highest.dataClass} data (${highest.weight}), plus ${penalty} for the mismatch`,
  };
}

function threatComponent(input: RiskInput): Pick<RiskComponent, 'value' | 'detail'> {
  const live: string[] = [];
  let expired = 0;
  let survival = 1;
  (input.threats ?? []).forEach((indicator, i) => {
    const { severity, scope, target, expiresAt } = indicator;
    const expiry = Date.parse(expiresAt);
    if (!(severity >= 0 && severity <= 1)) throw new UserError('invalid_threat_indicator', `threat indicator ${i + 1}: severity must be from 0 to 1, got ${severity}`);
    if (!['key', 'app', 'all'].includes(scope)) throw new UserError('invalid_threat_indicator', `threat indicator ${i + 1}: scope must be key, app or all, got '${String(scope)}'`);
    if (Number.isNaN(expiry)) throw new UserError('invalid_threat_indicator', `threat indicator ${i + 1}: expiresAt '${expiresAt}' is not an ISO 8601 time`);
    const applies = scope === 'all' || (scope === 'key' && target === input.key.id) || (scope === 'app' && input.key.appIds.includes(target));
    if (!applies) return;
    if (expiry <= input.nowMs) {
      expired++;
      return;
    }
    survival *= 1 - severity;
    live.push(`${scope === 'all' ? 'all keys' : `${scope} ${target}`} severity ${severity} until ${expiresAt}`);
  });
  const expiredNote = expired > 0 ? `; ${expired} expired indicator(s) ignored` : '';
  if (live.length === 0) return { value: 0, detail: `no live threat indicator for this key${expiredNote}` };
  return { value: 1 - survival, detail: `${live.join('; ')}${expiredNote}` };
}

/** The operations the HSM saw beyond what was reported, per application and version; the value saturates (u / (u + 5)). */
function unreportedComponent(input: RiskInput): Pick<RiskComponent, 'value' | 'detail'> {
  const beyond = (input.observed ?? []).filter((use) => use.seen > use.reported);
  const total = beyond.reduce((sum, use) => sum + use.seen - use.reported, 0);
  if (total === 0) {
    const logged = (input.observed ?? []).reduce((sum, use) => sum + use.seen, 0);
    return { value: 0, detail: logged === 0 ? 'no HSM access log showed use of this key' : `the ${logged} operation(s) the HSM access logs showed were all reported` };
  }
  const parts = beyond.map((use) => `${use.app} on ${use.node ?? '?'} with v${use.version}: ${use.seen - use.reported} of ${use.seen} seen${use.log ? ` in ${use.log}` : ''}`);
  return { value: total / (total + UNREPORTED_HALF_AT), detail: `${total} operation(s) the HSM saw and no application reported (${parts.join('; ')})` };
}

/**
 * The risk score of a key version, 0–1, with everything that went into it.
 *
 * Components, each 0–1: usage pressure (forecast use over the horizon against the capacity left), anomaly (the anomaly
 * score), data sensitivity (the key's class, or a higher class seen in its events plus a mismatch penalty), threat
 * intelligence (live indicators for the key, its application or all keys, combined as independent chances:
 * 1 − Π(1 − severity); expired ones do not count), age (against maxAge) and unreported use (operations an HSM access
 * log showed beyond what the application reported).
 *
 * They combine as a weighted noisy-OR, score = 1 − Π(1 − weight × value): each component alone can raise the risk up to
 * its weight and the others only add to it. A weighted mean would let a live critical threat on a quiet, young key
 * average away to a fifth of itself.
 */
export function computeRisk(input: RiskInput): RiskScore {
  const config = input.config ?? {};
  const weights = resolveWeights(config.weights);
  const table = config.sensitivityWeights ?? DEFAULT_SENSITIVITY_WEIGHTS;
  const penalty = config.classMismatchPenalty ?? DEFAULT_CLASS_MISMATCH_PENALTY;
  if (!(penalty >= 0 && penalty <= 1)) throw new UserError('invalid_risk_weights', `classMismatchPenalty must be from 0 to 1, got ${penalty}`);
  if (!(input.policy.maxAgeMs > 0)) throw new UserError('invalid_policy', 'maxAge must be longer than zero');
  const ageMs = Math.max(0, input.nowMs - input.version.createdAtMs);
  const anomaly = clamp01(input.anomaly.score);
  const values: Record<RiskComponentName, Pick<RiskComponent, 'value' | 'detail'>> = {
    usage: usageComponent(input),
    anomaly: {
      value: anomaly,
      detail: input.anomaly.flagged.length === 0 ? 'no hour flagged' : `${input.anomaly.flagged.length} hour(s) flagged, first at ${input.anomaly.flagged[0]!.at}`,
    },
    sensitivity: sensitivityComponent(input, table, penalty),
    threat: threatComponent(input),
    age: { value: clamp01(ageMs / input.policy.maxAgeMs), detail: `${(ageMs / HOUR_MS / 24).toFixed(1)} of ${(input.policy.maxAgeMs / HOUR_MS / 24).toFixed(1)} days` },
    unreported: unreportedComponent(input),
  };
  const components = RISK_COMPONENTS.map((name) => {
    const { value, detail } = values[name];
    return { name, value, weight: weights[name], contribution: weights[name] * value, detail };
  });
  return {
    score: noisyOr(components),
    combination: 'noisy-or',
    components,
    modelVersion: input.forecast.modelVersion,
    forecastMethod: input.forecast.method,
    evaluatedAt: new Date(input.nowMs).toISOString(),
  };
}

function noisyOr(components: readonly Pick<RiskComponent, 'contribution'>[]): number {
  return 1 - components.reduce((survival, { contribution }) => survival * (1 - contribution), 1);
}

// ---------------------------------------------------------------------------------------------------------------------
// The rotation decision.

export interface RotationPolicy {
  riskThreshold: number;
  /** Operations one version may serve; null: no limit. */
  capacityLimit: number | null;
  maxAgeMs: number;
  minRotationIntervalMs: number;
  evaluationIntervalMs: number;
  /** Extra time before forecast exhaustion that rotation must happen by; default one evaluation interval. */
  capacitySafetyMarginMs?: number;
}

export interface RotationDecisionInput {
  nowMs: number;
  policy: RotationPolicy;
  version: { createdAtMs: number; usedCount: number };
  forecast: Pick<KeyForecast, 'startAt' | 'upper'>;
  risk: Pick<RiskScore, 'score' | 'components'>;
}

export interface RotationDecision {
  rotate: boolean;
  trigger: AutomaticTrigger | null;
  /** A trigger that fired but is held back by minRotationInterval. */
  heldTrigger: AutomaticTrigger | null;
  reason: string;
  /**
   * When risk, capacity or age is expected to trigger, never before minRotationInterval allows: at the latest the age
   * deadline.
   */
  predictedRotationAt: string;
  /** The trigger expected to fire at predictedRotationAt. */
  predictedTrigger: AutomaticTrigger;
  /** When to decide again: sooner as risk rises, never after a foreseen trigger. */
  nextEvaluationAt: string;
  /** When the forecast (upper bound) exhausts the capacity left; null without a limit or when use is forecast to stop. */
  capacityExhaustedAt: string | null;
}

/** Fastest re-evaluation, as a share of the interval, when the risk approaches the threshold. */
const MIN_EVALUATION_SHARE = 0.1;

function checkPolicy(policy: RotationPolicy): void {
  const problems: string[] = [];
  if (!(policy.riskThreshold > 0 && policy.riskThreshold <= 1)) problems.push('riskThreshold must be greater than 0 and at most 1');
  for (const field of ['maxAgeMs', 'minRotationIntervalMs', 'evaluationIntervalMs'] as const) {
    if (!(policy[field] > 0)) problems.push(`${field} must be greater than 0`);
  }
  if (policy.capacitySafetyMarginMs !== undefined && !(policy.capacitySafetyMarginMs >= 0)) problems.push('capacitySafetyMarginMs must be at least 0');
  if (policy.capacityLimit !== null && !(policy.capacityLimit > 0)) problems.push('capacityLimit must be positive, or null for no limit');
  if (problems.length > 0) throw new UserError('invalid_policy', problems.join('; '), { problems });
}

/**
 * When the version's use reaches its capacity, reading the forecast's upper bound hour by hour (conservative: a key
 * rotated a little early costs little, one past its limit breaks the limit) from the first forecast hour, and past the
 * horizon at the horizon's average upper rate. Within an hour, use is taken as even.
 */
export function capacityExhaustion(remaining: number, forecast: Pick<KeyForecast, 'startAt' | 'upper'>): number | null {
  const startMs = Date.parse(forecast.startAt);
  if (remaining <= 0) return startMs;
  let left = remaining;
  let total = 0;
  for (const [h, upper] of forecast.upper.entries()) {
    if (upper >= left) return startMs + (h + left / upper) * HOUR_MS;
    left -= upper;
    total += upper;
  }
  if (total <= 0) return null;
  const rate = total / forecast.upper.length;
  return startMs + (forecast.upper.length + left / rate) * HOUR_MS;
}

/**
 * When the risk would reach the threshold if only the age component grew (usage, anomaly, sensitivity and threats held
 * as they are now): solving 1 − P·(1 − w·age(t)) = threshold for t, where P is the other components' product.
 */
function projectedRiskTime(input: RotationDecisionInput, ageMs: number): number | null {
  const { policy, risk } = input;
  if (risk.score >= policy.riskThreshold) return input.nowMs;
  const age = risk.components.find((c) => c.name === 'age');
  if (age === undefined || age.weight <= 0) return null;
  const others = risk.components.filter((c) => c.name !== 'age').reduce((survival, c) => survival * (1 - c.contribution), 1);
  if (others <= 0) return input.nowMs;
  const neededAge = (1 - (1 - policy.riskThreshold) / others) / age.weight;
  if (neededAge > 1) return null;
  return input.nowMs + Math.max(0, neededAge * policy.maxAgeMs - ageMs);
}

/**
 * Whether to rotate the current version now, on what trigger, and when to look again.
 *
 * Triggers, strongest first: capacity (the forecast's upper bound exhausts the capacity left before the next scheduled
 * evaluation plus the safety margin), age (the version has reached maxAge) and risk (the score has reached the
 * threshold). No trigger rotates a version younger than minRotationInterval: the decision then holds, names the held
 * trigger, and schedules the next evaluation for the moment rotation becomes allowed.
 *
 * nextEvaluationAt is the evaluation interval scaled by (1 − risk / threshold), at least a tenth of it, and never later
 * than a foreseen trigger (the age deadline, the moment the capacity trigger would fire, the moment the risk projected
 * with age reaches the threshold).
 */
export function decideRotation(input: RotationDecisionInput): RotationDecision {
  const { nowMs, policy, version, forecast, risk } = input;
  checkPolicy(policy);
  const ageMs = Math.max(0, nowMs - version.createdAtMs);
  const margin = policy.capacitySafetyMarginMs ?? policy.evaluationIntervalMs;
  const earliestRotation = version.createdAtMs + policy.minRotationIntervalMs;
  const ageDeadline = version.createdAtMs + policy.maxAgeMs;
  const iso = (ms: number): string => new Date(ms).toISOString();

  let exhaustion: number | null = null;
  let capacityTriggerAt: number | null = null;
  if (policy.capacityLimit !== null) {
    exhaustion = capacityExhaustion(policy.capacityLimit - version.usedCount, forecast);
    if (exhaustion !== null) capacityTriggerAt = exhaustion - policy.evaluationIntervalMs - margin;
  }
  const riskAt = projectedRiskTime(input, ageMs);

  const fired: { trigger: AutomaticTrigger; why: string }[] = [];
  if (policy.capacityLimit !== null && exhaustion !== null && capacityTriggerAt !== null && capacityTriggerAt <= nowMs) {
    fired.push({
      trigger: 'capacity',
      why:
        version.usedCount >= policy.capacityLimit
          ? `the version has used ${version.usedCount} of its ${policy.capacityLimit} operations`
          : `forecast use exhausts the ${policy.capacityLimit - version.usedCount} operations left by ${iso(exhaustion)}, before the next evaluation plus the safety margin`,
    });
  }
  if (nowMs >= ageDeadline) fired.push({ trigger: 'age', why: `the version is ${(ageMs / HOUR_MS / 24).toFixed(1)} days old, maxAge is ${(policy.maxAgeMs / HOUR_MS / 24).toFixed(1)}` });
  if (risk.score >= policy.riskThreshold) fired.push({ trigger: 'risk', why: `risk ${risk.score.toFixed(3)} reached the threshold ${policy.riskThreshold}` });

  const foreseen = Math.max(Math.min(ageDeadline, capacityTriggerAt ?? Infinity, riskAt ?? Infinity), earliestRotation, nowMs);
  const exhaustedAt = exhaustion === null ? null : iso(exhaustion);
  const first = fired[0];

  if (first !== undefined && nowMs >= earliestRotation) {
    const also = fired.slice(1).map((f) => f.trigger);
    return {
      rotate: true,
      trigger: first.trigger,
      heldTrigger: null,
      reason: `rotate: ${first.why}${also.length > 0 ? ` (also: ${also.join(', ')})` : ''}`,
      predictedRotationAt: iso(nowMs),
      predictedTrigger: first.trigger,
      nextEvaluationAt: iso(nowMs + policy.evaluationIntervalMs),
      capacityExhaustedAt: exhaustedAt,
    };
  }
  if (first !== undefined) {
    return {
      rotate: false,
      trigger: null,
      heldTrigger: first.trigger,
      reason: `hold: ${first.why}, but the version is younger than minRotationInterval; rotation is allowed from ${iso(earliestRotation)}`,
      predictedRotationAt: iso(earliestRotation),
      predictedTrigger: first.trigger,
      nextEvaluationAt: iso(earliestRotation),
      capacityExhaustedAt: exhaustedAt,
    };
  }

  const share = Math.max(MIN_EVALUATION_SHARE, 1 - risk.score / policy.riskThreshold);
  const next = Math.min(nowMs + share * policy.evaluationIntervalMs, Math.max(foreseen, nowMs + MIN_EVALUATION_SHARE * policy.evaluationIntervalMs));
  const upcoming = [
    { at: ageDeadline, what: 'age reaches maxAge', trigger: 'age' as const },
    { at: capacityTriggerAt, what: 'forecast use comes within the safety margin of the capacity', trigger: 'capacity' as const },
    { at: riskAt, what: 'risk, with age growing, reaches the threshold', trigger: 'risk' as const },
  ].filter((u): u is { at: number; what: string; trigger: AutomaticTrigger } => u.at !== null);
  upcoming.sort((a, b) => a.at - b.at);
  const soonest = upcoming[0];
  return {
    rotate: false,
    trigger: null,
    heldTrigger: null,
    reason:
      `no trigger: risk ${risk.score.toFixed(3)} below ${policy.riskThreshold}` +
      (soonest === undefined ? '' : `; next expected: ${soonest.what} at ${iso(Math.max(soonest.at, earliestRotation))}`),
    predictedRotationAt: iso(foreseen),
    predictedTrigger: soonest?.trigger ?? 'age',
    nextEvaluationAt: iso(next),
    capacityExhaustedAt: exhaustedAt,
  };
}
