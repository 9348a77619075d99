import type { EntropyProvenance } from '../entropy/provenance';
import { UserError } from '../errors';
import { DEFINED_KEY_TYPES, JWS_ALGORITHM, type DefinedKeyType, type JweAlgorithm } from './key-types';

/** One character of a key name, for the patterns of prefixes and of labels that embed a name. */
export const KEY_NAME_CHARACTERS = '[a-z0-9._-]';

/**
 * A key name: 1–64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit. Names travel as URL path segments
 * (/keys/:name), so none may be one that clients rewrite: '.' and '..' are normalised away, and a name that starts with
 * a letter or digit can be neither.
 */
export const KEY_NAME_PATTERN = new RegExp(`^[a-z0-9]${KEY_NAME_CHARACTERS}{0,63}$`);
export const KEY_NAME_RULE = "1–64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit";

export function validateKeyName(name: string): string {
  if (!KEY_NAME_PATTERN.test(name)) throw new UserError('invalid_key_name', `key name '${name.length > 64 ? `${name.slice(0, 64)}…` : name}' must be ${KEY_NAME_RULE}`);
  return name;
}

/**
 * The key types the lifecycle manages end to end, and so the ones POST /keys accepts: every type of key-types.ts, the
 * signing types and the encryption types (aes-256, rsa-oaep-*), through one state machine with per-type steps.
 */
export const KEY_TYPES: readonly DefinedKeyType[] = DEFINED_KEY_TYPES;
export type KeyType = DefinedKeyType;
export { JWS_ALGORITHM };

export function validateKeyType(type: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(type)) return type as KeyType;
  if (type === 'ed25519') {
    throw new UserError('unsupported_key_type', 'ed25519 keys cannot be managed: SoftHSM 2.6 cannot wrap Ed25519 private keys (CKR_KEY_NOT_WRAPPABLE), so they cannot be replicated across the cluster; use ec-p256');
  }
  throw new UserError('invalid_key_type', `key type '${type}' is not one of ${KEY_TYPES.join(', ')}`);
}

/** States of one key version. Stored as these strings. */
export const VERSION_STATES = ['pending', 'active', 'retiring', 'archived', 'purged', 'compromised'] as const;
export type VersionState = (typeof VERSION_STATES)[number];

const TRANSITIONS: Record<VersionState, readonly VersionState[]> = {
  pending: ['active', 'purged'],
  active: ['retiring', 'compromised', 'purged'],
  retiring: ['archived', 'compromised', 'purged'],
  compromised: ['archived', 'purged'],
  archived: ['purged'],
  purged: [],
};

export function canTransition(from: VersionState, to: VersionState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Why a version was made: its lineage's trigger. */
export const TRIGGERS = ['create', 'age', 'manual', 'emergency', 'risk', 'capacity'] as const;
export type RotationTrigger = (typeof TRIGGERS)[number];

/** The triggers that rotate a key without being asked: what the rotation decision chooses between and predicts. */
export const AUTOMATIC_TRIGGERS = ['risk', 'capacity', 'age'] as const satisfies readonly RotationTrigger[];
export type AutomaticTrigger = (typeof AUTOMATIC_TRIGGERS)[number];

export interface Lineage {
  previousVersion: number | null;
  trigger: RotationTrigger;
  reason: string;
  actor: string;
  /** For a rotation the risk evaluation triggered: the score and its components at that moment. */
  evidence?: RotationEvidence;
}

/** What an automatic rotation rested on, kept in the new version's lineage and the audit log. */
export interface RotationEvidence {
  evaluationId: string;
  score: number;
  threshold: number;
  components: Array<{ name: string; value: number; weight: number; contribution: number; detail: string }>;
  modelVersion: string | null;
  capacityExhaustedAt: string | null;
}

export interface TransitionVerdict {
  ok: boolean;
  checkedAt: string;
  /** Nodes that still held a live private object of the version. */
  liveObjectsOn: string[];
  archiveVerified: boolean;
  /** Whether usage evidence was available and what it showed. */
  usage: { evidence: 'none' | 'events'; signsAfterSwitch: number | null; note: string };
}

/** One key version. Times are ISO 8601 strings (JSON-safe workflow state). */
export interface KeyVersion {
  /** When reported signing use of this version was last checked at the end of its grace period. */
  usageCheckedAt?: string;
  version: number;
  kid: string;
  /**
   * SHA-256 of the public key's SPKI DER, hex (an aes-256 key: of an in-HSM encryption of a fixed block, see
   * adapters/pkcs11/encryption-keys.ts); also the objects' CKA_ID.
   */
  fingerprint: string;
  state: VersionState;
  generatedOn: string;
  createdAt: string;
  /**
   * When the version entered the JWKS, and when it becomes the active one: a rotation publishes the new version
   * `publicationLead` before it activates it. Absent in states recorded before publication had a lead time.
   */
  publishedAt?: string | null;
  activatesAt?: string | null;
  activatedAt: string | null;
  retiringAt: string | null;
  archivedAt: string | null;
  purgedAt: string | null;
  compromisedAt: string | null;
  /** Public key, SPKI DER base64: the JWKS and PEM come from it. Null for a secret key (aes-256), which has none. */
  spki: string | null;
  /**
   * An RSA-OAEP version: the JWE algorithm it is published with, the first of its type's preferences that its HSM
   * decrypted when it was generated (publishedJweAlgorithm). Absent for other types.
   */
  jweAlg?: JweAlgorithm | null;
  lineage: Lineage;
  graceDeadline: string | null;
  purgeAfter: string | null;
  verdict: TransitionVerdict | null;
  /** The pool snapshot of the generating node (credited entropy, source states, DRBG, battery): its entropy provenance. */
  entropyProvenance: EntropyProvenance | null;
}

export function kidFor(name: string, version: number, fingerprint: string): string {
  return `${name}.v${version}.${fingerprint.slice(0, 8)}`;
}

export function pkcs11Label(name: string, version: number): string {
  return `keyrotor:${name}:v${version}`;
}
