import { UserError } from '../errors';
import { formatDuration, parseDuration } from './durations';

/** The data classes a fresh installation knows; `prediction.sensitivityWeights` in the configuration may add others. */
export const SENSITIVITY_CLASSES = ['public', 'internal', 'confidential', 'personal-health', 'payment-card', 'high-value-transaction'] as const;
/** A data class name: one of the configured classes (checked against the configuration where it is known). */
export type SensitivityClass = string;
export const SENSITIVITY_CLASS_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;

/** A key's policy as given and stored: durations stay in the caller's notation, so that what they wrote is what they see. */
export interface KeyPolicy {
  gracePeriod: string;
  maxGracePeriod: string;
  retention: string;
  maxAge: string;
  minRotationInterval: string;
  evaluationInterval: string;
  riskThreshold: number;
  /** Private-key operations (sign, decrypt, unwrap) one version may serve; null: no limit. */
  capacityLimit: number | null;
  /**
   * How long before forecast exhaustion of the capacity the rotation must have happened (on top of one evaluation
   * interval): time for applications to pick up the new public key.
   */
  capacityMargin: string;
  sensitivity: SensitivityClass;
  /**
   * When the node's entropy pool is below its minimum at key generation: `hold` waits until it is healthy, `hsm-only`
   * lets the HSM's own RNG generate alone. null: `hold` for the highest sensitivity classes, `hsm-only` otherwise.
   */
  entropyPolicy: 'hold' | 'hsm-only' | null;
  /**
   * How long a new version is in the JWKS before it becomes the active (signing) one. It must outlast the cooldown of
   * the verifiers' cached key sets (jose's createRemoteJWKSet refetches on an unknown kid at most once per 30 s), or a
   * verifier that fetched the JWKS just before the switch rejects the first tokens of the new version. An emergency
   * rotation does not wait for it. `0s`: activate as soon as replicated.
   */
  publicationLead: string;
  /**
   * Encryption keys: whether an emergency rotation leaves the compromised version able to decrypt and unwrap (so data
   * under it can still be opened and rewrapped to the new version) or switches those off too. Encrypt and wrap go off
   * at once either way. Absent in policies recorded before it: true.
   */
  decryptAfterCompromise: boolean;
}

const HOLD_BY_DEFAULT: readonly string[] = ['personal-health', 'payment-card', 'high-value-transaction'];

export function effectiveEntropyPolicy(policy: KeyPolicy): 'hold' | 'hsm-only' {
  return policy.entropyPolicy ?? (HOLD_BY_DEFAULT.includes(policy.sensitivity) ? 'hold' : 'hsm-only');
}

export const DEFAULT_POLICY: KeyPolicy = {
  gracePeriod: '7d',
  maxGracePeriod: '30d',
  retention: '90d',
  maxAge: '90d',
  minRotationInterval: '1d',
  evaluationInterval: '1h',
  riskThreshold: 0.8,
  capacityLimit: null,
  capacityMargin: '1d',
  sensitivity: 'internal',
  entropyPolicy: null,
  publicationLead: '1m',
  decryptAfterCompromise: true,
};

/** The longest publication lead a policy may ask for: a rotation waits this long, and its version stays pending meanwhile. */
export const MAX_PUBLICATION_LEAD_MS = 3_600_000;

/** The policy in milliseconds, for the workflow's timers. */
export interface PolicyDurations {
  gracePeriodMs: number;
  maxGracePeriodMs: number;
  retentionMs: number;
  maxAgeMs: number;
  minRotationIntervalMs: number;
  evaluationIntervalMs: number;
  capacityMarginMs: number;
  publicationLeadMs: number;
}

const DURATION_FIELDS = ['gracePeriod', 'maxGracePeriod', 'retention', 'maxAge', 'minRotationInterval', 'evaluationInterval', 'capacityMargin', 'publicationLead'] as const;
/** The durations that may be zero. */
const MAY_BE_ZERO: readonly string[] = ['capacityMargin', 'publicationLead'];
const POLICY_FIELDS = [...DURATION_FIELDS, 'riskThreshold', 'capacityLimit', 'sensitivity', 'entropyPolicy', 'decryptAfterCompromise'];

export function policyDurations(policy: KeyPolicy): PolicyDurations {
  return {
    gracePeriodMs: parseDuration(policy.gracePeriod, 'gracePeriod'),
    maxGracePeriodMs: parseDuration(policy.maxGracePeriod, 'maxGracePeriod'),
    retentionMs: parseDuration(policy.retention, 'retention'),
    maxAgeMs: parseDuration(policy.maxAge, 'maxAge'),
    minRotationIntervalMs: parseDuration(policy.minRotationInterval, 'minRotationInterval'),
    evaluationIntervalMs: parseDuration(policy.evaluationInterval, 'evaluationInterval'),
    // Policies recorded before the field existed carry no capacityMargin.
    capacityMarginMs: parseDuration(policy.capacityMargin ?? DEFAULT_POLICY.capacityMargin, 'capacityMargin'),
    // Policies recorded before the field existed activated a version as soon as it was replicated: they keep doing so,
    // and their workflows' histories replay unchanged.
    publicationLeadMs: policy.publicationLead === undefined ? 0 : parseDuration(policy.publicationLead, 'publicationLead'),
  };
}

/**
 * Merges a change into a policy (absent fields keep their value) and checks every field and the rules between them.
 * All problems are reported at once, as one UserError whose details list them.
 */
export function resolvePolicy(change: Record<string, unknown>, base: KeyPolicy = DEFAULT_POLICY): KeyPolicy {
  const problems: string[] = [];
  for (const key of Object.keys(change)) {
    if (!POLICY_FIELDS.includes(key)) problems.push(`policy.${key}: unknown field (known: ${POLICY_FIELDS.join(', ')})`);
  }
  const merged = { ...base, ...change };
  // Policies recorded before these fields existed carry neither.
  merged.capacityMargin ??= DEFAULT_POLICY.capacityMargin;
  merged.entropyPolicy ??= null;
  merged.publicationLead ??= DEFAULT_POLICY.publicationLead;
  merged.decryptAfterCompromise ??= DEFAULT_POLICY.decryptAfterCompromise;
  const ms: Partial<Record<(typeof DURATION_FIELDS)[number], number>> = {};
  for (const field of DURATION_FIELDS) {
    const value = merged[field] as unknown;
    if (typeof value !== 'string') {
      problems.push(`policy.${field}: must be a duration string such as "90d" or "PT12H"`);
      continue;
    }
    try {
      const parsed = parseDuration(value, `policy.${field}`);
      if (parsed <= 0 && !MAY_BE_ZERO.includes(field)) problems.push(`policy.${field}: must be longer than zero`);
      else ms[field] = parsed;
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  const { gracePeriod, maxGracePeriod, maxAge, minRotationInterval, evaluationInterval, retention, publicationLead } = ms;
  if (publicationLead !== undefined && publicationLead > MAX_PUBLICATION_LEAD_MS) {
    problems.push(`policy.publicationLead (${formatDuration(publicationLead)}) must not exceed ${formatDuration(MAX_PUBLICATION_LEAD_MS)}: a rotation waits that long before its version signs`);
  }
  if (gracePeriod !== undefined && maxGracePeriod !== undefined && gracePeriod > maxGracePeriod) {
    problems.push(`policy.gracePeriod (${formatDuration(gracePeriod)}) must not exceed policy.maxGracePeriod (${formatDuration(maxGracePeriod)})`);
  }
  if (minRotationInterval !== undefined && maxAge !== undefined && minRotationInterval > maxAge) {
    problems.push('policy.minRotationInterval must not exceed policy.maxAge');
  }
  if (evaluationInterval !== undefined && evaluationInterval < 1000) problems.push('policy.evaluationInterval must be at least 1s');
  if (retention !== undefined && retention < 1000) problems.push('policy.retention must be at least 1s');
  if (typeof merged.riskThreshold !== 'number' || !(merged.riskThreshold > 0 && merged.riskThreshold <= 1)) {
    problems.push('policy.riskThreshold: must be a number greater than 0 and at most 1');
  }
  if (merged.capacityLimit !== null && !(Number.isSafeInteger(merged.capacityLimit) && merged.capacityLimit > 0)) {
    problems.push('policy.capacityLimit: must be a positive whole number, or null for no limit');
  }
  if (merged.entropyPolicy !== null && merged.entropyPolicy !== 'hold' && merged.entropyPolicy !== 'hsm-only') {
    problems.push('policy.entropyPolicy: must be "hold", "hsm-only" or null (by sensitivity)');
  }
  if (typeof merged.decryptAfterCompromise !== 'boolean') problems.push('policy.decryptAfterCompromise: must be true or false');
  if (typeof merged.sensitivity !== 'string' || !SENSITIVITY_CLASS_PATTERN.test(merged.sensitivity)) {
    problems.push('policy.sensitivity: must be the name of a data class (such as internal or payment-card)');
  }
  if (problems.length > 0) throw new UserError('invalid_policy', problems.join('; '), { problems });
  return Object.fromEntries(POLICY_FIELDS.map((field) => [field, merged[field as keyof KeyPolicy]])) as unknown as KeyPolicy;
}
