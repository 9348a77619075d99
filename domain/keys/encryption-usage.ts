import type { VersionState } from './key-model';
import { profileOf, type Capability, type EncryptionKeyType, type KeyObjectClass } from './key-types';

/** The encryption-side usage attributes of one version: the same on every node. */
export interface EncryptionUsage {
  encrypt: boolean;
  wrap: boolean;
  decrypt: boolean;
  unwrap: boolean;
}

export interface EncryptionUsageInput {
  state: VersionState;
  /**
   * The emergency policy for a compromised version: keep decrypt and unwrap on, so that data under it can still be
   * opened and moved to the new version, or switch them off with encrypt and wrap.
   */
  decryptAfterCompromise: boolean;
}

const NONE: EncryptionUsage = { encrypt: false, wrap: false, decrypt: false, unwrap: false };
const DECRYPT_ONLY: EncryptionUsage = { encrypt: false, wrap: false, decrypt: true, unwrap: true };

/**
 * What a version may do in each state. Only the active version encrypts and wraps, so each new ciphertext is under
 * the newest key. The decrypt side is on from the moment the version exists: an RSA-OAEP version's public key is in the
 * JWKS before it activates, so applications may already encrypt to it; and it stays on while the version retires, so
 * existing ciphertexts still open. Archived and purged versions have no secret objects on the nodes; any left over
 * may do nothing.
 */
export function encryptionUsageFor(input: EncryptionUsageInput): EncryptionUsage {
  switch (input.state) {
    case 'active':
      return { encrypt: true, wrap: true, decrypt: true, unwrap: true };
    case 'pending':
    case 'retiring':
      return { ...DECRYPT_ONLY };
    case 'compromised':
      return input.decryptAfterCompromise ? { ...DECRYPT_ONLY } : { ...NONE };
    case 'archived':
    case 'purged':
      return { ...NONE };
  }
}

export type EncryptionCapability = keyof EncryptionUsage;

/**
 * The usage attributes to set on each object of a version of this type: for aes-256 all four on the secret key; for
 * RSA-OAEP decrypt and unwrap on the private key, encrypt and wrap on the public key.
 */
export function usageByObject(type: EncryptionKeyType, usage: EncryptionUsage): Partial<Record<KeyObjectClass, Partial<EncryptionUsage>>> {
  const result: Partial<Record<KeyObjectClass, Partial<EncryptionUsage>>> = {};
  for (const [objectClass, capabilities] of Object.entries(profileOf(type).objects) as Array<[KeyObjectClass, readonly Capability[]]>) {
    result[objectClass] = Object.fromEntries(capabilities.map((capability) => [capability, usage[capability as EncryptionCapability]]));
  }
  return result;
}
