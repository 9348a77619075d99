import type { EntropyProvenance } from '../entropy/node-entropy';
import { InternalError, UserError } from '../errors';
import { formatDuration } from './durations';
import { canTransition, kidFor, type AutomaticTrigger, type KeyType, type KeyVersion, type Lineage, type TransitionVerdict, type VersionState } from './key-model';
import { encryptionUsageFor, type EncryptionUsage } from './encryption-usage';
import { profileOf, type JweAlgorithm } from './key-types';
import { policyDurations, type KeyPolicy } from './policy';

export type KeyPhase = 'creating' | 'active' | 'rotating' | 'grace' | 'decommissioning' | 'decommissioned';

/**
 * Everything the lifecycle workflow knows about one key. JSON-safe (strings, numbers, arrays, plain objects) so that
 * it survives continueAsNew and history unchanged; times are ISO strings.
 */
export interface KeyLifecycleState {
  name: string;
  keyType: KeyType;
  policy: KeyPolicy;
  phase: KeyPhase;
  createdAt: string;
  createdBy: string;
  /** Versions not yet purged; purged ones live on in PostgreSQL and the audit log, keeping history small. */
  versions: KeyVersion[];
  /** The highest version number ever given out. */
  versionCounter: number;
  /** Counts the events this key recorded, across continueAsNew: the idempotency key of each record. */
  eventSeq: number;
  /** When maxAge rotates the active version. */
  nextRotationAt: string | null;
  lastRotationAt: string | null;
  /** The latest risk evaluation (absent in states recorded before prediction existed). */
  prediction?: PredictionSummary | null;
}

/** What the workflow keeps of its latest risk evaluation; the full record (components, forecast) is in PostgreSQL. */
export interface PredictionSummary {
  evaluationId: string;
  /** Counts evaluations across continueAsNew: part of the next evaluation's id. */
  seq: number;
  evaluatedAt: string;
  version: number;
  score: number | null;
  threshold: number;
  /** The trigger expected next, and when. */
  predictedTrigger: AutomaticTrigger | null;
  predictedRotationAt: string | null;
  nextEvaluationAt: string;
  reason: string;
  /** Set when the evaluation itself failed (the reason says why); the next one is tried at nextEvaluationAt. */
  failed: boolean;
}

export function newKeyState(input: { name: string; keyType: KeyType; policy: KeyPolicy; actor: string; now: string }): KeyLifecycleState {
  return {
    name: input.name,
    keyType: input.keyType,
    policy: input.policy,
    phase: 'creating',
    createdAt: input.now,
    createdBy: input.actor,
    versions: [],
    versionCounter: 0,
    eventSeq: 0,
    nextRotationAt: null,
    lastRotationAt: null,
  };
}

/** The latest instant a JavaScript Date can hold. */
const LATEST_MS = 8.64e15;

/**
 * An instant as ISO 8601. Never throws: an instant past what a Date can hold (or not a number) reads as the latest one,
 * so no arithmetic on a recorded time can fail the workflow that does it.
 */
export function isoTime(ms: number): string {
  return new Date(Number.isFinite(ms) ? Math.max(-LATEST_MS, Math.min(LATEST_MS, ms)) : LATEST_MS).toISOString();
}

const iso = isoTime;

export function activeVersion(state: KeyLifecycleState): KeyVersion | undefined {
  return state.versions.find((version) => version.state === 'active');
}

export function retiringVersion(state: KeyLifecycleState): KeyVersion | undefined {
  return state.versions.find((version) => version.state === 'retiring');
}

function replaceVersion(state: KeyLifecycleState, version: number, change: (current: KeyVersion) => KeyVersion): KeyLifecycleState {
  return { ...state, versions: state.versions.map((candidate) => (candidate.version === version ? change(candidate) : candidate)) };
}

function moveVersion(state: KeyLifecycleState, version: number, to: VersionState, now: string, extra: Partial<KeyVersion> = {}): KeyLifecycleState {
  return replaceVersion(state, version, (current) => {
    if (!canTransition(current.state, to)) throw new InternalError('invalid_version_transition', `version ${version} of ${state.name} cannot go from ${current.state} to ${to}`);
    const stamp: Partial<KeyVersion> = {
      active: { activatedAt: now },
      retiring: { retiringAt: now },
      archived: { archivedAt: now },
      purged: { purgedAt: now },
      compromised: { compromisedAt: now },
      pending: {},
    }[to];
    return { ...current, ...stamp, ...extra, state: to };
  });
}

export function nextVersionNumber(state: KeyLifecycleState): number {
  return state.versionCounter + 1;
}

/** Drops purged versions from the workflow's state once they are recorded. */
export function forgetPurged(state: KeyLifecycleState): KeyLifecycleState {
  return { ...state, versions: state.versions.filter((version) => version.state !== 'purged') };
}

export function addPendingVersion(
  state: KeyLifecycleState,
  input: { version: number; fingerprint: string; spki: string | null; jweAlg?: JweAlgorithm | null; generatedOn: string; lineage: Lineage; now: string; entropyProvenance?: EntropyProvenance | null },
): KeyLifecycleState {
  const version: KeyVersion = {
    version: input.version,
    kid: kidFor(state.name, input.version, input.fingerprint),
    fingerprint: input.fingerprint,
    state: 'pending',
    generatedOn: input.generatedOn,
    createdAt: input.now,
    activatedAt: null,
    retiringAt: null,
    archivedAt: null,
    purgedAt: null,
    compromisedAt: null,
    spki: input.spki,
    ...(input.jweAlg ? { jweAlg: input.jweAlg } : {}),
    lineage: input.lineage,
    graceDeadline: null,
    purgeAfter: null,
    verdict: null,
    entropyProvenance: input.entropyProvenance ?? null,
  };
  return { ...state, versions: [...state.versions, version], versionCounter: Math.max(state.versionCounter, input.version) };
}

/**
 * Puts a pending version in the JWKS `publicationLead` before it activates: verifiers holding a cached key set learn it
 * (a refetch on an unknown kid happens at most once per cooldown) before any application signs with it.
 */
export function publish(state: KeyLifecycleState, version: number, nowMs: number): KeyLifecycleState {
  const leadMs = policyDurations(state.policy).publicationLeadMs;
  return replaceVersion(state, version, (current) => {
    if (current.state !== 'pending') throw new InternalError('invalid_version_transition', `version ${version} of ${state.name} is ${current.state}; only a pending version is published ahead of its activation`);
    return { ...current, publishedAt: iso(nowMs), activatesAt: iso(nowMs + leadMs) };
  });
}

/**
 * Makes `version` the active one. The version it replaces becomes retiring with a grace deadline, or (emergency) was
 * already marked compromised and goes straight to archiving.
 */
export function activate(state: KeyLifecycleState, version: number, nowMs: number): KeyLifecycleState {
  const now = iso(nowMs);
  const durations = policyDurations(state.policy);
  let next = state;
  const previous = activeVersion(state);
  if (previous) next = moveVersion(next, previous.version, 'retiring', now, { graceDeadline: iso(nowMs + durations.gracePeriodMs) });
  const published = next.versions.find((v) => v.version === version)?.publishedAt;
  next = moveVersion(next, version, 'active', now, { publishedAt: published ?? now, activatesAt: null });
  return { ...next, phase: retiringVersion(next) ? 'grace' : 'active', lastRotationAt: now, nextRotationAt: iso(nowMs + durations.maxAgeMs) };
}

/**
 * Marks a version compromised. It is archived at once, unless it is an encryption key whose policy keeps decryption
 * after a compromise (decryptAfterCompromise): then it stays decrypt-only, so that data under it can be opened and
 * rewrapped, for a grace period that its decrypt use extends like a retiring version's (decryptsAfterCompromise).
 */
export function markCompromised(state: KeyLifecycleState, version: number, nowMs: number): KeyLifecycleState {
  const keeps = decryptsAfterCompromise(state);
  return moveVersion(state, version, 'compromised', iso(nowMs), { graceDeadline: keeps ? iso(nowMs + policyDurations(state.policy).gracePeriodMs) : null });
}

/** Whether a compromised version of this key stays able to decrypt (encryption keys under decryptAfterCompromise). */
export function decryptsAfterCompromise(state: Pick<KeyLifecycleState, 'keyType' | 'policy'>): boolean {
  return profileOf(state.keyType).family === 'encryption' && state.policy.decryptAfterCompromise !== false;
}

/**
 * The versions of an encryption key that still decrypt and are waiting to be archived once unused: the retiring one and
 * a compromised one kept for decryption. Each has a grace deadline at which its decrypt use is looked at.
 */
export function decryptOnlyVersions(state: KeyLifecycleState): KeyVersion[] {
  return state.versions.filter((v) => v.graceDeadline !== null && (v.state === 'retiring' || (v.state === 'compromised' && decryptsAfterCompromise(state))));
}

/**
 * An encryption version still decrypted at the end of its grace period: it is not archived (its ciphertexts would no
 * longer open) but looked at again one grace period later, beyond maxGracePeriod if need be.
 */
export function keepDecrypting(state: KeyLifecycleState, version: number, nowMs: number): { state: KeyLifecycleState; deadline: string } {
  const deadline = iso(nowMs + policyDurations(state.policy).gracePeriodMs);
  return { state: replaceVersion(state, version, (current) => ({ ...current, graceDeadline: deadline, usageCheckedAt: iso(nowMs) })), deadline };
}

/** What each version of an encryption key may do on every node now, by its state; null for a signing key. */
export function versionUsage(state: Pick<KeyLifecycleState, 'keyType' | 'policy'> & { versions: ReadonlyArray<Pick<KeyVersion, 'version' | 'state'>> }): Array<{ version: number } & EncryptionUsage> | null {
  if (profileOf(state.keyType).family !== 'encryption') return null;
  return state.versions.map((v) => ({ version: v.version, ...encryptionUsageFor({ state: v.state, decryptAfterCompromise: decryptsAfterCompromise(state) }) }));
}

/**
 * The lowest version of an encryption key that may still decrypt: ciphertexts under older versions no longer open.
 * It rises by itself as versions are archived. Null for a signing key, or a key with no version that decrypts.
 */
export function minDecryptionVersion(state: Pick<KeyLifecycleState, 'keyType' | 'policy'> & { versions: ReadonlyArray<Pick<KeyVersion, 'version' | 'state'>> }): number | null {
  if (profileOf(state.keyType).family !== 'encryption') return null;
  const decrypting = state.versions.filter((v) => v.state === 'active' || v.state === 'retiring' || (v.state === 'compromised' && decryptsAfterCompromise(state)));
  return decrypting.length === 0 ? null : Math.min(...decrypting.map((v) => v.version));
}

/**
 * The grace deadline after extending `deadline` by `byMs`, or a refusal when it would pass `cap`
 * (retiringAt + maxGracePeriod). Shared by the workflow and the API, which checks before it signals.
 */
export function extendedGraceDeadline(input: { version: number; deadline: string; cap: string; byMs: number; maxGracePeriod: string }): string {
  if (!(input.byMs > 0)) throw new UserError('invalid_extension', 'the extension must be longer than zero');
  const wanted = Date.parse(input.deadline) + input.byMs;
  if (wanted > Date.parse(input.cap)) {
    throw new UserError(
      'grace_cap_exceeded',
      `extending by ${formatDuration(input.byMs)} would end the grace period of v${input.version} at ${iso(wanted)}, past its cap ${input.cap} (maxGracePeriod ${input.maxGracePeriod})`,
    );
  }
  return iso(wanted);
}

/** Moves the retiring version's grace deadline by `byMs`, never past retiringAt + maxGracePeriod. */
export function extendGrace(state: KeyLifecycleState, byMs: number): { state: KeyLifecycleState; deadline: string } {
  const retiring = retiringVersion(state);
  if (!retiring?.graceDeadline || !retiring.retiringAt) throw new UserError('no_grace_period', `key ${state.name} has no grace period running`);
  const cap = iso(Date.parse(retiring.retiringAt) + policyDurations(state.policy).maxGracePeriodMs);
  const deadline = extendedGraceDeadline({ version: retiring.version, deadline: retiring.graceDeadline, cap, byMs, maxGracePeriod: state.policy.maxGracePeriod });
  return { state: replaceVersion(state, retiring.version, (current) => ({ ...current, graceDeadline: deadline })), deadline };
}

/** When the retiring version's grace period must end at the latest (retiringAt + maxGracePeriod), or null. */
export function graceCap(state: KeyLifecycleState): string | null {
  const retiring = retiringVersion(state);
  return retiring?.retiringAt ? iso(Date.parse(retiring.retiringAt) + policyDurations(state.policy).maxGracePeriodMs) : null;
}

/** Notes that reported signing use of `version` was checked up to `at` (the next check, and the verdict, count from there). */
export function markUsageChecked(state: KeyLifecycleState, version: number, at: string): KeyLifecycleState {
  return replaceVersion(state, version, (current) => ({ ...current, usageCheckedAt: at }));
}

/** The extension the end-of-grace usage check may grant: one more grace period, never past the cap. */
export function automaticGraceExtension(state: KeyLifecycleState): number {
  const retiring = retiringVersion(state);
  if (!retiring?.graceDeadline || !retiring.retiringAt) return 0;
  const durations = policyDurations(state.policy);
  const cap = Date.parse(retiring.retiringAt) + durations.maxGracePeriodMs;
  return Math.max(0, Math.min(durations.gracePeriodMs, cap - Date.parse(retiring.graceDeadline)));
}

export function archive(state: KeyLifecycleState, version: number, nowMs: number): KeyLifecycleState {
  const next = moveVersion(state, version, 'archived', iso(nowMs), { graceDeadline: null });
  return { ...next, phase: retiringVersion(next) ? 'grace' : next.phase === 'grace' ? 'active' : next.phase };
}

export function recordVerdict(state: KeyLifecycleState, version: number, verdict: TransitionVerdict, nowMs: number): KeyLifecycleState {
  const retentionMs = policyDurations(state.policy).retentionMs;
  return replaceVersion(state, version, (current) => ({
    ...current,
    verdict,
    // Purge waits for a clean verdict: a failed check holds it.
    purgeAfter: verdict.ok ? current.purgeAfter ?? iso(nowMs + retentionMs) : null,
  }));
}

export function purge(state: KeyLifecycleState, version: number, nowMs: number): KeyLifecycleState {
  return moveVersion(state, version, 'purged', iso(nowMs), { purgeAfter: null, graceDeadline: null });
}

/** The versions whose retention ran out: archived with a clean verdict and purgeAfter reached. */
export function duePurges(state: KeyLifecycleState, nowMs: number): KeyVersion[] {
  return state.versions.filter((version) => version.state === 'archived' && version.purgeAfter !== null && Date.parse(version.purgeAfter) <= nowMs);
}

/** Archived versions still waiting for a clean verdict. */
export function unverified(state: KeyLifecycleState): KeyVersion[] {
  return state.versions.filter((version) => version.state === 'archived' && (version.verdict === null || !version.verdict.ok));
}

/** How often an archived version whose transition check failed is checked again. */
export const VERIFY_RETRY_MS = 10 * 60_000;

/** The next moment the workflow must wake up by itself, or null when only a message can move it. */
export function nextDeadline(state: KeyLifecycleState, verifyRetryMs: number, nowMs: number): { at: number; what: string } | null {
  const candidates: Array<{ at: number; what: string }> = [];
  const retiring = retiringVersion(state);
  if (retiring?.graceDeadline) candidates.push({ at: Date.parse(retiring.graceDeadline), what: `grace period of v${retiring.version} ends` });
  for (const kept of decryptOnlyVersions(state)) {
    if (kept.state === 'compromised') candidates.push({ at: Date.parse(kept.graceDeadline as string), what: `decrypt-only period of compromised v${kept.version} ends` });
  }
  for (const version of state.versions) {
    if (version.state === 'archived' && version.purgeAfter) candidates.push({ at: Date.parse(version.purgeAfter), what: `purge of v${version.version}` });
  }
  if (unverified(state).length > 0) candidates.push({ at: nowMs + verifyRetryMs, what: 'verify the archived version again' });
  if (state.nextRotationAt && (state.phase === 'active' || state.phase === 'grace')) {
    candidates.push({ at: Date.parse(state.nextRotationAt), what: `maxAge (${state.policy.maxAge}) rotation` });
  }
  if (state.prediction && (state.phase === 'active' || state.phase === 'grace')) {
    candidates.push({ at: Date.parse(state.prediction.nextEvaluationAt), what: 'evaluate usage, anomalies and risk' });
  }
  if (candidates.length === 0) return null;
  return candidates.reduce((soonest, candidate) => (candidate.at < soonest.at ? candidate : soonest));
}

/** A read-only view for the keyState query and the API. */
export interface KeyStateView {
  name: string;
  keyType: KeyType;
  phase: KeyPhase;
  policy: KeyPolicy;
  activeVersion: number | null;
  versions: Array<Pick<KeyVersion, 'version' | 'kid' | 'fingerprint' | 'state' | 'graceDeadline' | 'purgeAfter' | 'lineage' | 'generatedOn'>>;
  graceDeadline: string | null;
  graceCap: string | null;
  /** Encryption keys: the lowest version that still decrypts (minDecryptionVersion); null for signing keys. */
  minDecryptionVersion: number | null;
  /** Encryption keys: what each version may do on every node now, by its state (encryptionUsageFor). */
  usage: Array<{ version: number } & EncryptionUsage> | null;
  nextRotationAt: string | null;
  /** When the workflow next wakes up by itself, and what for. */
  nextEvaluationAt: string | null;
  nextEvaluation: string | null;
  prediction: PredictionSummary | null;
}

export function viewOf(state: KeyLifecycleState, nowMs: number): KeyStateView {
  const retiring = retiringVersion(state);
  const wake = state.phase === 'decommissioned' ? null : nextDeadline(state, VERIFY_RETRY_MS, nowMs);
  return {
    name: state.name,
    keyType: state.keyType,
    phase: state.phase,
    policy: state.policy,
    activeVersion: activeVersion(state)?.version ?? null,
    versions: state.versions.map(({ version, kid, fingerprint, state: versionState, graceDeadline, purgeAfter, lineage, generatedOn }) => ({
      version, kid, fingerprint, state: versionState, graceDeadline, purgeAfter, lineage, generatedOn,
    })),
    graceDeadline: retiring?.graceDeadline ?? null,
    graceCap: graceCap(state),
    minDecryptionVersion: minDecryptionVersion(state),
    usage: versionUsage(state),
    nextRotationAt: state.nextRotationAt,
    nextEvaluationAt: wake ? iso(wake.at) : null,
    nextEvaluation: wake?.what ?? null,
    prediction: state.prediction ?? null,
  };
}
