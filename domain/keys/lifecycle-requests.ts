import type { ErrorCode } from '../error-codes';
import { KeyrotorError } from '../errors';
import { MAX_DURATION_MS, MIN_DURATION_MS, textProblem } from '../input-bounds';
import { formatDuration } from './durations';
import * as lifecycle from './lifecycle-state';
import { profileOf } from './key-types';
import { resolvePolicy, type KeyPolicy } from './policy';

/**
 * What can be asked of a key's lifecycle. The API sends these as Updates and signals; an operator may send the same
 * from the Temporal Web UI or CLI, so every field is checked here again, whatever the API already checked.
 */
export type KeyRequest =
  /**
   * `answer: 'recorded'` (the `startRotation` Update, `Prefer: respond-async`): answered once the new version is recorded
   * and published, active, or waiting for nodes, rather than once it is active (domain/keys/lifecycle-machine.ts).
   */
  | { kind: 'rotate'; reason: string; emergency: boolean; actor: string; answer?: 'recorded' }
  | { kind: 'extend-grace'; byMs: number; reason: string; actor: string }
  | { kind: 'complete-grace'; reason: string; actor: string }
  | { kind: 'policy'; change: Partial<KeyPolicy>; actor: string }
  | { kind: 'decommission'; reason: string; actor: string }
  | { kind: 'resume'; reason: string; actor: string }
  | { kind: 'evaluate'; actor: string }
  /** Encryption keys: archive now every decrypt-only version below `version`, so that only it and newer ones decrypt. */
  | { kind: 'raise-min-decryption'; version: number; reason: string; actor: string };

export interface Refusal {
  code: ErrorCode;
  message: string;
}

/** What the state-dependent checks read of the machine. */
export interface RequestContext {
  key: lifecycle.KeyLifecycleState;
  held: boolean;
  rotationRunning: boolean;
  emergencyRunning: boolean;
  rotationQueued: boolean;
  emergencyQueued: boolean;
  graceCompleting: boolean;
  evaluationQueued: boolean;
  decommissionQueued: boolean;
}

const invalid = (message: string): Refusal => ({ code: 'invalid_request', message });

/** The fields a request of each kind carries, and whether its reason must be given. */
const FIELDS: Record<KeyRequest['kind'], { reason: 'required' | 'optional' | 'none'; extra: readonly string[] }> = {
  rotate: { reason: 'required', extra: ['emergency'] },
  'extend-grace': { reason: 'optional', extra: ['byMs'] },
  'complete-grace': { reason: 'optional', extra: [] },
  policy: { reason: 'none', extra: ['change'] },
  decommission: { reason: 'optional', extra: [] },
  resume: { reason: 'required', extra: [] },
  evaluate: { reason: 'none', extra: [] },
  'raise-min-decryption': { reason: 'optional', extra: ['version'] },
};

/** Checks a request's fields against their bounds, whatever sent it. */
export function checkRequest(request: KeyRequest, policy: KeyPolicy): Refusal | null {
  if (typeof request !== 'object' || request === null || !(request.kind in FIELDS)) return invalid('the request must be an object of a known kind');
  const raw = request as unknown as Record<string, unknown>;
  const fields = FIELDS[request.kind];
  const actorProblem = textProblem(raw.actor, 'actor', { required: true });
  if (actorProblem) return invalid(actorProblem);
  if (fields.reason !== 'none') {
    const required = fields.reason === 'required';
    if (required && (typeof raw.reason !== 'string' || raw.reason.trim() === '')) return { code: 'reason_required', message: `${request.kind === 'rotate' ? 'a rotation' : 'this request'} needs a reason` };
    if (raw.reason !== undefined || required) {
      const problem = textProblem(raw.reason, 'reason');
      if (problem) return { code: 'invalid_text', message: problem };
    }
  }
  if (request.kind === 'rotate' && typeof raw.emergency !== 'boolean') return invalid('emergency: must be true or false');
  if (request.kind === 'rotate' && raw.answer !== undefined && raw.answer !== 'recorded') return invalid('answer: must be "recorded" when given');
  if (request.kind === 'extend-grace') {
    const byMs = raw.byMs;
    if (typeof byMs !== 'number' || !Number.isSafeInteger(byMs) || byMs < MIN_DURATION_MS || byMs > MAX_DURATION_MS) {
      return { code: 'invalid_extension', message: `the extension must be a whole number of milliseconds from ${formatDuration(MIN_DURATION_MS)} to ${formatDuration(MAX_DURATION_MS)}` };
    }
  }
  if (request.kind === 'raise-min-decryption' && !(typeof raw.version === 'number' && Number.isSafeInteger(raw.version) && raw.version >= 1 && raw.version <= 2_147_483_647)) {
    return invalid('version: must be a whole number from 1 to 2147483647');
  }
  if (request.kind === 'policy') {
    if (typeof raw.change !== 'object' || raw.change === null || Array.isArray(raw.change)) return { code: 'invalid_policy', message: 'the policy change must be an object of policy fields' };
    try {
      resolvePolicy(raw.change as Record<string, unknown>, policy);
    } catch (error) {
      return { code: 'invalid_policy', message: (error as Error).message };
    }
  }
  return null;
}

/** Whether the key, as it stands, takes the request; refusals say what to do instead. */
export function refusalOf(request: KeyRequest, context: RequestContext): Refusal | null {
  const { key } = context;
  const gone = key.phase === 'decommissioning' || key.phase === 'decommissioned' || context.decommissionQueued;
  const decommissioned: Refusal = { code: 'key_decommissioned', message: `key ${key.name} is ${key.phase === 'decommissioned' ? 'decommissioned' : 'being decommissioned'}` };
  const held: Refusal = { code: 'key_held', message: `key ${key.name} is held; resume it (POST /keys/${key.name}/resume) once the cause is fixed, or rotate with emergency: true` };
  switch (request.kind) {
    case 'rotate': {
      if (gone) return decommissioned;
      if (request.emergency) {
        if (context.emergencyRunning || context.emergencyQueued) return { code: 'rotation_in_progress', message: `an emergency rotation of ${key.name} is already under way` };
        return null;
      }
      if (key.phase === 'creating') return { code: 'key_not_ready', message: `key ${key.name} is still being created` };
      if (context.held) return held;
      if (context.rotationRunning || context.rotationQueued || key.phase === 'rotating') return { code: 'rotation_in_progress', message: `key ${key.name} is already rotating; wait for that rotation to finish` };
      const retiring = lifecycle.retiringVersion(key);
      if (retiring) {
        return { code: 'grace_period_running', message: `v${retiring.version} of ${key.name} is in its grace period until ${retiring.graceDeadline ?? '?'}; complete it first (POST /keys/${key.name}/grace/complete) or rotate with emergency: true` };
      }
      return null;
    }
    case 'extend-grace':
      if (gone) return decommissioned;
      try {
        lifecycle.extendGrace(key, request.byMs);
        return null;
      } catch (error) {
        return { code: error instanceof KeyrotorError ? error.code : 'invalid_extension', message: (error as Error).message };
      }
    case 'complete-grace':
      if (gone) return decommissioned;
      if (!lifecycle.retiringVersion(key)) return { code: 'no_grace_period', message: `key ${key.name} has no grace period running` };
      if (context.graceCompleting) return { code: 'grace_completing', message: 'the grace period is already being completed' };
      if (context.held) return held;
      return null;
    case 'policy':
      return gone ? decommissioned : null;
    case 'decommission':
      return gone ? { code: 'key_decommissioned', message: `key ${key.name} is already ${key.phase === 'decommissioned' ? 'decommissioned' : 'being decommissioned'}` } : null;
    case 'resume':
      if (gone) return decommissioned;
      return context.held ? null : { code: 'not_held', message: `key ${key.name} is not held; there is nothing to resume` };
    case 'raise-min-decryption': {
      if (gone) return decommissioned;
      if (profileOf(key.keyType).family !== 'encryption') return invalid(`key ${key.name} is a ${key.keyType} key; only encryption keys have a minDecryptionVersion`);
      const active = lifecycle.activeVersion(key);
      if (!active) return { code: 'key_not_ready', message: `key ${key.name} has no active version yet` };
      if (request.version > active.version) return invalid(`v${request.version} is above the active version v${active.version} of ${key.name}, which must keep decrypting`);
      if (context.held) return held;
      if (context.graceCompleting) return { code: 'grace_completing', message: 'the grace period is already being completed' };
      return null;
    }
    case 'evaluate':
      if (gone) return decommissioned;
      if (context.held) return held;
      if (key.phase !== 'active' && key.phase !== 'grace') return { code: 'key_busy', message: `key ${key.name} is ${key.phase}; it is evaluated when active or in a grace period` };
      if (context.rotationRunning || context.rotationQueued) return { code: 'rotation_in_progress', message: `key ${key.name} is about to rotate` };
      if (context.evaluationQueued) return { code: 'evaluation_running', message: `an evaluation of ${key.name} is running` };
      return null;
  }
}
