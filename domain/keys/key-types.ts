/**
 * What each key type is and can do, in one table: its family, how the HSM makes it, which PKCS#11 objects one version
 * has and which usage attribute each object carries, and how its public key is published. The adapters turn the names
 * here into PKCS#11 values; the API, the JWKS and the lifecycle read the same table.
 */

/** A usage attribute of a PKCS#11 key object: CKA_SIGN, CKA_VERIFY, CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP. */
export type Capability = 'sign' | 'verify' | 'encrypt' | 'decrypt' | 'wrap' | 'unwrap';

/** The key objects of one version, by their PKCS#11 class (CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY). */
export type KeyObjectClass = 'secretKey' | 'privateKey' | 'publicKey';

export type JwsAlgorithm = 'ES256' | 'ES384' | 'RS256';
export type JweAlgorithm = 'RSA-OAEP' | 'RSA-OAEP-256';
export type MechanismName = 'CKM_AES_KEY_WRAP_PAD' | 'CKM_AES_GCM' | 'CKM_RSA_PKCS_OAEP';

export interface KeyTypeProfile {
  family: 'signing' | 'encryption';
  /** CKK_EC, CKK_RSA or CKK_AES. */
  keyKind: 'ec' | 'rsa' | 'aes';
  generation: 'CKM_EC_KEY_PAIR_GEN' | 'CKM_RSA_PKCS_KEY_PAIR_GEN' | 'CKM_AES_KEY_GEN';
  size: { curve: 'P-256' | 'P-384' } | { modulusBits: 2048 | 3072 } | { valueBytes: 32 };
  /**
   * The only mechanisms the version's objects accept (CKA_ALLOWED_MECHANISMS, fixed at creation). An AES key that may
   * both wrap and decrypt would otherwise give out any key it can wrap: wrap it with CKM_AES_CBC, decrypt the blob with
   * CKM_AES_CBC. Key wrap (RFC 5649) blobs do not decrypt with GCM, and the module wraps with neither GCM nor ECB. An
   * RSA-OAEP private key limited to OAEP is no PKCS#1 v1.5 decryption oracle. Absent: not restricted (the signing types,
   * whose keys neither wrap nor decrypt).
   */
  mechanisms?: readonly MechanismName[];
  /** Every object of a version and the usage attributes it carries; every other usage attribute is false. */
  objects: Partial<Record<KeyObjectClass, readonly Capability[]>>;
  /**
   * How the public key appears in the JWKS: `use` and `alg` of its JWK. The JWE algorithms are in order of preference;
   * the first one the HSM module can decrypt is published (see publishedJweAlgorithm). Null: nothing is published.
   */
  publication: { use: 'sig'; alg: JwsAlgorithm } | { use: 'enc'; algs: readonly JweAlgorithm[] } | null;
}

const SIGNING_OBJECTS = { privateKey: ['sign'], publicKey: ['verify'] } as const;
// The public key encrypts and wraps inside the HSM only for keyrotor's own calls; applications use the JWKS.
const RSA_OAEP_OBJECTS = { privateKey: ['decrypt', 'unwrap'], publicKey: ['encrypt', 'wrap'] } as const;
// RSA-OAEP-256 (SHA-256, MGF1-SHA256) first; SoftHSM 2.6 does OAEP with SHA-1 only, so it publishes RSA-OAEP.
const OAEP_ALGS = ['RSA-OAEP-256', 'RSA-OAEP'] as const;

export const KEY_TYPE_PROFILES = {
  'ec-p256': { family: 'signing', keyKind: 'ec', generation: 'CKM_EC_KEY_PAIR_GEN', size: { curve: 'P-256' }, objects: SIGNING_OBJECTS, publication: { use: 'sig', alg: 'ES256' } },
  'ec-p384': { family: 'signing', keyKind: 'ec', generation: 'CKM_EC_KEY_PAIR_GEN', size: { curve: 'P-384' }, objects: SIGNING_OBJECTS, publication: { use: 'sig', alg: 'ES384' } },
  'rsa-2048': { family: 'signing', keyKind: 'rsa', generation: 'CKM_RSA_PKCS_KEY_PAIR_GEN', size: { modulusBits: 2048 }, objects: SIGNING_OBJECTS, publication: { use: 'sig', alg: 'RS256' } },
  'rsa-3072': { family: 'signing', keyKind: 'rsa', generation: 'CKM_RSA_PKCS_KEY_PAIR_GEN', size: { modulusBits: 3072 }, objects: SIGNING_OBJECTS, publication: { use: 'sig', alg: 'RS256' } },
  // A key-encryption key: wraps data keys (CKM_AES_KEY_WRAP_PAD) and seals small payloads (CKM_AES_GCM). Nothing public.
  'aes-256': {
    family: 'encryption', keyKind: 'aes', generation: 'CKM_AES_KEY_GEN', size: { valueBytes: 32 },
    mechanisms: ['CKM_AES_KEY_WRAP_PAD', 'CKM_AES_GCM'], objects: { secretKey: ['encrypt', 'decrypt', 'wrap', 'unwrap'] }, publication: null,
  },
  'rsa-oaep-2048': { family: 'encryption', keyKind: 'rsa', generation: 'CKM_RSA_PKCS_KEY_PAIR_GEN', size: { modulusBits: 2048 }, mechanisms: ['CKM_RSA_PKCS_OAEP'], objects: RSA_OAEP_OBJECTS, publication: { use: 'enc', algs: OAEP_ALGS } },
  'rsa-oaep-3072': { family: 'encryption', keyKind: 'rsa', generation: 'CKM_RSA_PKCS_KEY_PAIR_GEN', size: { modulusBits: 3072 }, mechanisms: ['CKM_RSA_PKCS_OAEP'], objects: RSA_OAEP_OBJECTS, publication: { use: 'enc', algs: OAEP_ALGS } },
} as const satisfies Record<string, KeyTypeProfile>;

export type DefinedKeyType = keyof typeof KEY_TYPE_PROFILES;
type Profiles = typeof KEY_TYPE_PROFILES;
export type SigningKeyType = { [T in DefinedKeyType]: Profiles[T]['family'] extends 'signing' ? T : never }[DefinedKeyType];
export type EncryptionKeyType = { [T in DefinedKeyType]: Profiles[T]['family'] extends 'encryption' ? T : never }[DefinedKeyType];

export const DEFINED_KEY_TYPES = Object.keys(KEY_TYPE_PROFILES) as DefinedKeyType[];
export const SIGNING_KEY_TYPES = DEFINED_KEY_TYPES.filter((type): type is SigningKeyType => KEY_TYPE_PROFILES[type].family === 'signing');
export const ENCRYPTION_KEY_TYPES = DEFINED_KEY_TYPES.filter((type): type is EncryptionKeyType => KEY_TYPE_PROFILES[type].family === 'encryption');

export function isEncryptionKeyType(type: string): type is EncryptionKeyType {
  return (ENCRYPTION_KEY_TYPES as readonly string[]).includes(type);
}

export function isDefinedKeyType(type: string): type is DefinedKeyType {
  return (DEFINED_KEY_TYPES as readonly string[]).includes(type);
}

export function isSigningKeyType(type: string): type is SigningKeyType {
  return (SIGNING_KEY_TYPES as readonly string[]).includes(type);
}

export function profileOf(type: DefinedKeyType): KeyTypeProfile {
  return KEY_TYPE_PROFILES[type];
}

/** The JWS algorithm each signing type signs with, as published in the JWKS. */
export const JWS_ALGORITHM = Object.fromEntries(SIGNING_KEY_TYPES.map((type) => [type, KEY_TYPE_PROFILES[type].publication.alg])) as {
  [T in SigningKeyType]: Profiles[T]['publication']['alg'];
};

/** The OAEP parameters of each JWE algorithm: hash and MGF1 hash are the same (RFC 7518 §4.3). */
export const OAEP_HASH: Record<JweAlgorithm, 'sha1' | 'sha256'> = { 'RSA-OAEP': 'sha1', 'RSA-OAEP-256': 'sha256' };

/**
 * The JWE algorithm to publish for an RSA-OAEP type: the first of its preferences whose OAEP hash the HSM module
 * decrypts with (SoftHSM 2.6: SHA-1 only, so RSA-OAEP). Null when the module does none of them: the type cannot be used.
 */
export function publishedJweAlgorithm(type: EncryptionKeyType, moduleOaepHashes: ReadonlyArray<'sha1' | 'sha256'>): JweAlgorithm | null {
  const { publication } = profileOf(type);
  if (publication?.use !== 'enc') return null;
  return publication.algs.find((alg) => moduleOaepHashes.includes(OAEP_HASH[alg])) ?? null;
}

/**
 * The uses of a version that is no longer active which hold back its archive: signatures for a signing key; decryptions
 * and unwraps for an encryption key, whose old ciphertexts must still open (the decrypt-only rule).
 */
export function lingeringUses(type: DefinedKeyType): ReadonlyArray<'sign' | 'decrypt' | 'unwrap'> {
  return profileOf(type).family === 'signing' ? ['sign'] : ['decrypt', 'unwrap'];
}

/**
 * The capacity a new key's policy gets when its creator names none. An AES key that seals with GCM and random 96-bit
 * IVs may do so at most 2^32 times (SP 800-38D §8.3): past that the chance of a repeated IV, which breaks GCM, exceeds
 * 2^-32. Null: no limit.
 */
export function defaultCapacityLimit(type: DefinedKeyType): number | null {
  return profileOf(type).keyKind === 'aes' ? 2 ** 32 : null;
}
