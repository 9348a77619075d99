import { UserError } from '../errors';
import type { KeyVersion } from './key-model';
import { profileOf, type DefinedKeyType } from './key-types';
import { decryptsAfterCompromise, minDecryptionVersion } from './lifecycle-state';
import type { KeyPolicy } from './policy';

/**
 * Which version of a key an envelope operation uses, decided from the key as recorded: a new data key is wrapped by
 * the active version only; a ciphertext opens under its own version while that version may decrypt. The HSM enforces
 * the same rule through each version's usage attributes (encryptionUsageFor); this gives the caller a clear refusal
 * that names the version and why, before anything reaches a node.
 */

/** The most ciphertexts one unwrap or rewrap call takes. */
export const MAX_ENVELOPE_BATCH = 100;

export interface EnvelopeKey {
  name: string;
  keyType: DefinedKeyType;
  phase: string;
  policy: Pick<KeyPolicy, 'decryptAfterCompromise'>;
  versions: ReadonlyArray<Pick<KeyVersion, 'version' | 'fingerprint' | 'state' | 'archivedAt' | 'purgedAt'>>;
}

export interface VersionRef {
  version: number;
  fingerprint: string;
}

function checkEnvelopeKey(key: EnvelopeKey): void {
  if (profileOf(key.keyType).keyKind !== 'aes') {
    throw new UserError('not_an_envelope_key', `key ${key.name} is a ${key.keyType} key; data keys are wrapped by aes-256 keys only`);
  }
  if (key.phase === 'decommissioned' || key.phase === 'decommissioning') throw new UserError('key_decommissioned', `key ${key.name} is decommissioned`);
}

/** The version that wraps new data keys: the active one. */
export function wrappingVersion(key: EnvelopeKey): VersionRef {
  checkEnvelopeKey(key);
  const active = key.versions.find((v) => v.state === 'active');
  if (!active) throw new UserError('key_not_ready', `key ${key.name} has no active version yet; try again once it is created`);
  return { version: active.version, fingerprint: active.fingerprint };
}

/** The version a ciphertext names, if it may still decrypt; else why not, with the key's minDecryptionVersion. */
export function unwrappingVersion(key: EnvelopeKey, version: number): VersionRef {
  checkEnvelopeKey(key);
  const found = key.versions.find((v) => v.version === version);
  const min = minDecryptionVersion({ keyType: key.keyType, policy: key.policy as KeyPolicy, versions: key.versions });
  const floor = min === null ? '' : ` (minDecryptionVersion is ${min})`;
  if (!found) throw new UserError('version_not_found', `key ${key.name} has no version ${version}`);
  switch (found.state) {
    case 'purged':
      throw new UserError('version_purged', `v${version} of ${key.name} was purged${found.purgedAt ? ` at ${found.purgedAt}` : ''}: data keys wrapped under it can no longer be opened${floor}`);
    case 'archived':
      throw new UserError('version_archived', `v${version} of ${key.name} is archived${found.archivedAt ? ` since ${found.archivedAt}` : ''} and no longer decrypts${floor}`);
    case 'compromised':
      if (!decryptsAfterCompromise({ keyType: key.keyType, policy: key.policy as KeyPolicy })) {
        throw new UserError('version_cannot_unwrap', `v${version} of ${key.name} is compromised and its policy switched decryption off (decryptAfterCompromise: false)`);
      }
      return { version, fingerprint: found.fingerprint };
    default:
      return { version, fingerprint: found.fingerprint };
  }
}
