import { constants as cryptoConstants, createHash, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { UserError } from '../../domain/errors';
import { encryptionUsageFor, usageByObject, type EncryptionUsage } from '../../domain/keys/encryption-usage';
import { ENCRYPTION_KEY_TYPES, OAEP_HASH, profileOf, type EncryptionKeyType, type JweAlgorithm, type KeyObjectClass } from '../../domain/keys/key-types';
import { CLUSTER_KEK_LABEL } from '../../domain/identifiers';
import { GENERATION_MECHANISM, KeyKind, MECHANISM, ObjectClass, mechanismList, readAttributeValues, template, type AttributeValues } from './attributes';
import {
  AES_KEY_WRAP_PAD,
  WRAP_BUFFER_BYTES,
  checkLabel,
  createObjectsAlone,
  fatal,
  find,
  findByClass,
  findWrappingKey,
  idOf,
  lookUpByFingerprint,
  nonEmptyBase64,
  onSession,
  requireByFingerprint,
  undoCreated,
  unwrap,
} from './keys';
import { componentsFromJson, componentsFromSpki, componentsToJson, fingerprintOf, modulusBitLength, spkiFromComponents, type PublicKeyComponentsJson } from './public-key';
import type { PooledSession, TokenSessionPool } from './session-pool';

/**
 * The HSM operations on encryption keys (aes-256 and rsa-oaep-*; key-types.ts says what each is). Like keys.ts for
 * signing keys: one borrowed session per call, keys found by CKA_ID = the 32 bytes of their fingerprint, creations
 * idempotent and one at a time per token, replication by CKM_AES_KEY_WRAP_PAD under the cluster KEK. A version's
 * usage attributes (CKA_ENCRYPT, CKA_WRAP, CKA_DECRYPT, CKA_UNWRAP) come from its state (encryptionUsageFor);
 * setEncryptionUsage switches them on a node. SoftHSM 2.6.1 lets C_SetAttributeValue turn each of the four off and on
 * again (CKR_OK both ways, on secret, private and public keys), so, like CKA_SIGN, they are a switch and not a revocation.
 */

export interface GenerateEncryptionKeyInput { keyType: EncryptionKeyType; label: string }
/** spki: the public key of an RSA-OAEP pair (SPKI DER, base64); null for an AES key, which has none. */
export interface GenerateEncryptionKeyResult { fingerprint: string; spki: string | null; created: boolean }

export interface WrapEncryptionKeyInput { keyType: EncryptionKeyType; fingerprint: string; wrappingKeyLabel: string }
export interface WrapEncryptionKeyResult { wrapped: string; keyType: EncryptionKeyType; label: string; publicKey: PublicKeyComponentsJson | null }

export interface ImportEncryptionReplicaInput {
  keyType: EncryptionKeyType;
  fingerprint: string;
  label: string;
  wrapped: string;
  unwrappingKeyLabel: string;
  /** The RSA modulus and exponent of an RSA-OAEP pair; null for an AES key. */
  publicKey: PublicKeyComponentsJson | null;
  /** The version's usage now (encryptionUsageFor of its state): a replica of a retiring version is decrypt-only. */
  usage: EncryptionUsage;
}
export interface ImportEncryptionReplicaResult { created: boolean }

export interface EncryptionUsageTarget { keyType: EncryptionKeyType; fingerprint: string }
export interface SetEncryptionUsageInput extends EncryptionUsageTarget { usage: EncryptionUsage }
/** The attributes this call changed, as `class.capability` ('secretKey.encrypt'); empty when all were set already. */
export interface SetEncryptionUsageResult { changed: string[] }

// ---------------------------------------------------------------------------------------------------------------------
// Templates: every usage flag explicit (SoftHSM turns on the ones a template leaves out), built afresh per call.

/** Everything but the four switchable usages: fixed for the life of the object. */
const secretKeyFixed = (): Partial<AttributeValues> => ({
  class: ObjectClass.secretKey,
  keyType: KeyKind.aes,
  private: true,
  sensitive: true,
  // Extractable so that it can be replicated, but only wrapped under a trusted key (the cluster and archive KEKs).
  extractable: true,
  wrapWithTrusted: true,
  sign: false,
  verify: false,
  derive: false,
});

const privateKeyFixed = (): Partial<AttributeValues> => ({
  token: true,
  private: true,
  sensitive: true,
  extractable: true,
  wrapWithTrusted: true,
  sign: false,
  signRecover: false,
  derive: false,
});

const publicKeyFixed = (): Partial<AttributeValues> => ({
  token: true,
  private: false,
  verify: false,
  verifyRecover: false,
  derive: false,
});

/** The template entries for one object's usage: only the capabilities the type gives that object. */
function usageOf(keyType: EncryptionKeyType, usage: EncryptionUsage, objectClass: KeyObjectClass): Partial<AttributeValues> {
  return usageByObject(keyType, usage)[objectClass] ?? {};
}

/** CKA_ALLOWED_MECHANISMS of every object of a version of this type (key-types.ts says why). */
function allowedMechanisms(keyType: EncryptionKeyType): Buffer {
  return mechanismList((profileOf(keyType).mechanisms ?? []).map((name) => MECHANISM[name]));
}

/** A version is generated pending: decrypt side on (its public key may be published), encrypt side off. */
const GENERATED_USAGE = (): EncryptionUsage => encryptionUsageFor({ state: 'pending', decryptAfterCompromise: true });

function checkEncryptionKeyType(keyType: string): EncryptionKeyType {
  if (!(ENCRYPTION_KEY_TYPES as readonly string[]).includes(keyType)) {
    throw new UserError('invalid_key_type', `key type '${keyType}' is not an encryption key type (${ENCRYPTION_KEY_TYPES.join(', ')})`);
  }
  return keyType as EncryptionKeyType;
}

function checkUsage(usage: EncryptionUsage): EncryptionUsage {
  for (const name of ['encrypt', 'wrap', 'decrypt', 'unwrap'] as const) {
    if (typeof usage?.[name] !== 'boolean') throw new UserError('invalid_usage', `usage.${name} must be true or false`);
  }
  return { encrypt: usage.encrypt, wrap: usage.wrap, decrypt: usage.decrypt, unwrap: usage.unwrap };
}

const isAes = (keyType: EncryptionKeyType): boolean => profileOf(keyType).keyKind === 'aes';

function sizeOf(keyType: EncryptionKeyType): { valueBytes?: number; modulusBits?: number } {
  return profileOf(keyType).size as { valueBytes?: number; modulusBits?: number };
}

// ---------------------------------------------------------------------------------------------------------------------
// The fingerprint of an AES key.

/**
 * An AES key has no public part to hash, and its CKA_CHECK_VALUE will not do: it is the first 3 bytes of AES_K(0^128),
 * which for a GCM key is 24 bits of the hash subkey H. keyrotor's fingerprint is
 *   SHA-256(DOMAIN || AES-256-ECB_K(BLOCK)),  BLOCK = the first 16 bytes of SHA-256(DOMAIN),
 * with the one-block encryption made inside the HSM, on a temporary session copy of the key that can do nothing else.
 * The encrypted block never leaves this process unhashed, so the fingerprint gives no plaintext/ciphertext pair under
 * the key; it tells two keys apart and lets a replica prove it holds the same key, and checking a guess at the key
 * against it costs a 2^256 search.
 */
const AES_FINGERPRINT_DOMAIN = Buffer.from('keyrotor aes-256 key fingerprint v1', 'ascii');
const AES_FINGERPRINT_BLOCK = createHash('sha256').update(AES_FINGERPRINT_DOMAIN).digest().subarray(0, 16);

async function aesFingerprint(session: PooledSession, fingerprintCopy: pkcs11js.Handle): Promise<string> {
  session.pkcs11.C_EncryptInit(session.session, { mechanism: pkcs11js.CKM_AES_ECB }, fingerprintCopy);
  const encrypted = await session.pkcs11.C_EncryptAsync(session.session, Buffer.from(AES_FINGERPRINT_BLOCK), Buffer.alloc(16));
  return createHash('sha256').update(AES_FINGERPRINT_DOMAIN).update(encrypted).digest('hex');
}

/** A session object that can only encrypt one way, for the fingerprint: the token object never needs ECB. */
const fingerprintCopyTemplate = (): pkcs11js.Template =>
  template({ ...secretKeyFixed(), token: false, extractable: false, encrypt: true, decrypt: false, wrap: false, unwrap: false, allowedMechanisms: mechanismList([pkcs11js.CKM_AES_ECB]) });

/** The fingerprint of a wrapped AES key, from a session copy unwrapped for it and destroyed after. */
async function fingerprintOfWrapped(session: PooledSession, unwrappingKeyLabel: string, wrapped: Buffer): Promise<string> {
  const copy = await unwrap(session, unwrappingKeyLabel, wrapped, fingerprintCopyTemplate());
  try {
    return await aesFingerprint(session, copy);
  } finally {
    destroyQuietly(session, copy);
  }
}

/**
 * The fingerprint of an AES key held on this token. CKA_ALLOWED_MECHANISMS is fixed at creation and the key allows only
 * key wrap and GCM, so the one-block ECB runs on a copy: wrapped under the cluster KEK, unwrapped as a session object.
 */
async function fingerprintOfHeld(session: PooledSession, key: pkcs11js.Handle): Promise<string> {
  const wrapped = await session.pkcs11.C_WrapKeyAsync(session.session, AES_KEY_WRAP_PAD, findWrappingKey(session, CLUSTER_KEK_LABEL), key, Buffer.alloc(WRAP_BUFFER_BYTES));
  return fingerprintOfWrapped(session, CLUSTER_KEK_LABEL, wrapped);
}

function destroyQuietly(session: PooledSession, handle: pkcs11js.Handle): void {
  try {
    session.pkcs11.C_DestroyObject(session.session, handle);
  } catch {
    // A session object goes with its session at the latest; the call's own outcome is the one to report.
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// 1. generateEncryptionKey

/**
 * Generates a key labelled `label` with the usage of a pending version, or returns the one an earlier call made
 * (created: false). The fingerprint is known only once the key exists, so CKA_ID is set right after generation; a key
 * an interrupted call left with its label but no ID is named by the retry. An AES key is fingerprinted through a copy
 * wrapped under the cluster KEK (fingerprintOfHeld), which every node holds.
 */
export async function generateEncryptionKey(pool: TokenSessionPool, input: GenerateEncryptionKeyInput): Promise<GenerateEncryptionKeyResult> {
  const keyType = checkEncryptionKeyType(input.keyType);
  const label = checkLabel(input.label, 'label');
  return createObjectsAlone(pool, () => onSession(pool, `generating ${keyType} key '${label}'`, async (session) => {
    return isAes(keyType) ? generateAes(session, label) : generateRsaOaep(session, keyType, label);
  }));
}

async function generateAes(session: PooledSession, label: string): Promise<GenerateEncryptionKeyResult> {
  const { pkcs11, session: handle } = session;
  const existing = find(session, 'secretKey', { label });
  if (existing.length > 1) throw fatal(session, `${existing.length} secret keys are labelled '${label}'; keep one or use another label`);
  let key = existing[0];
  if (key) {
    const { id, keyType } = readAttributeValues(pkcs11, handle, key, ['id', 'keyType']);
    if (keyType !== KeyKind.aes || (id.length !== 0 && id.length !== 32)) throw fatal(session, `label '${label}' already names a secret key that is not a keyrotor aes-256 key; use another label`);
    if (id.length === 32) return { fingerprint: id.toString('hex'), spki: null, created: false };
    // No ID: an earlier call stopped between generating and naming the key, so it was never handed out; it is named now.
  } else {
    key = await pkcs11.C_GenerateKeyAsync(handle, { mechanism: GENERATION_MECHANISM.CKM_AES_KEY_GEN }, template({
      ...secretKeyFixed(), token: true, valueLen: sizeOf('aes-256').valueBytes, allowedMechanisms: allowedMechanisms('aes-256'), ...usageOf('aes-256', GENERATED_USAGE(), 'secretKey'), label,
    }));
  }
  const fingerprint = await fingerprintOfHeld(session, key);
  pkcs11.C_SetAttributeValue(handle, key, template({ id: Buffer.from(fingerprint, 'hex') }));
  return { fingerprint, spki: null, created: existing.length === 0 };
}

function readRsaComponents(session: PooledSession, object: pkcs11js.Handle): { modulus: Buffer; publicExponent: Buffer } {
  return readAttributeValues(session.pkcs11, session.session, object, ['modulus', 'publicExponent']);
}

function sameRsaKey(a: { modulus: Buffer; publicExponent: Buffer }, b: { modulus: Buffer; publicExponent: Buffer }): boolean {
  return a.modulus.equals(b.modulus) && a.publicExponent.equals(b.publicExponent);
}

/**
 * Settles what an earlier call with this label left: a named pair is returned; a private key whose public key or IDs
 * are missing is completed (an RSA private key holds its modulus and exponent, which also prove the two are one pair);
 * an unnamed lone public key goes. Never leaves two pairs under one label.
 */
function settleExistingRsaPair(session: PooledSession, keyType: EncryptionKeyType, label: string): { fingerprint: string; spki: Buffer } | undefined {
  const { pkcs11, session: handle } = session;
  const { privateKey: privateKeys, publicKey: publicKeys } = findByClass(session, { label });
  if (privateKeys.length > 1 || publicKeys.length > 1) {
    throw fatal(session, `${privateKeys.length} private and ${publicKeys.length} public keys are labelled '${label}'; keep one pair or use another label`);
  }
  const [privateKey] = privateKeys;
  const [publicKey] = publicKeys;
  if (!privateKey) {
    if (!publicKey) return undefined;
    const { id } = readAttributeValues(pkcs11, handle, publicKey, ['id']);
    if (id.length > 0) throw fatal(session, `label '${label}' names key ${id.toString('hex')}, whose private key is gone (archived or destroyed); use a new label for a new key`);
    pkcs11.C_DestroyObject(handle, publicKey);
    return undefined;
  }
  const { keyType: kind, sign } = readAttributeValues(pkcs11, handle, privateKey, ['keyType', 'sign']);
  const components = readRsaComponents(session, privateKey);
  const bits = kind === KeyKind.rsa ? modulusBitLength(components.modulus) : 0;
  if (kind !== KeyKind.rsa || sign || bits !== sizeOf(keyType).modulusBits) throw fatal(session, `label '${label}' already names a key that is not a ${keyType} key; use another label`);
  if (publicKey && !sameRsaKey(components, readRsaComponents(session, publicKey))) {
    throw fatal(session, `the private and public keys labelled '${label}' are not one pair; remove them with the HSM's tools or use another label`);
  }
  const spki = spkiFromComponents(components);
  const id = Buffer.from(fingerprintOf(spki), 'hex');
  for (const object of [privateKey, publicKey]) {
    if (!object) continue;
    const { id: current } = readAttributeValues(pkcs11, handle, object, ['id']);
    if (current.equals(id)) continue;
    if (current.length > 0) throw fatal(session, `an object labelled '${label}' carries ID ${current.toString('hex')}, not its public key's fingerprint ${id.toString('hex')}`);
    pkcs11.C_SetAttributeValue(handle, object, template({ id }));
  }
  if (!publicKey) pkcs11.C_CreateObject(handle, rsaPublicKeyTemplate(keyType, components, id, label, GENERATED_USAGE()));
  return { fingerprint: id.toString('hex'), spki };
}

function rsaPublicKeyTemplate(keyType: EncryptionKeyType, components: { modulus: Buffer; publicExponent: Buffer }, id: Buffer, label: string, usage: EncryptionUsage): pkcs11js.Template {
  return template({ class: ObjectClass.publicKey, keyType: KeyKind.rsa, ...components, ...publicKeyFixed(), allowedMechanisms: allowedMechanisms(keyType), ...usageOf(keyType, usage, 'publicKey'), id, label });
}

async function generateRsaOaep(session: PooledSession, keyType: EncryptionKeyType, label: string): Promise<GenerateEncryptionKeyResult> {
  const existing = settleExistingRsaPair(session, keyType, label);
  if (existing) return { fingerprint: existing.fingerprint, spki: existing.spki.toString('base64'), created: false };
  const { pkcs11, session: handle } = session;
  const usage = GENERATED_USAGE();
  // The async form: RSA key generation takes up to a second, and a blocked event loop misses Temporal heartbeats.
  const pair = await pkcs11.C_GenerateKeyPairAsync(
    handle,
    { mechanism: GENERATION_MECHANISM[profileOf(keyType).generation] },
    template({ modulusBits: sizeOf(keyType).modulusBits, publicExponent: Buffer.from([0x01, 0x00, 0x01]), ...publicKeyFixed(), allowedMechanisms: allowedMechanisms(keyType), ...usageOf(keyType, usage, 'publicKey'), label }),
    template({ ...privateKeyFixed(), allowedMechanisms: allowedMechanisms(keyType), ...usageOf(keyType, usage, 'privateKey'), label }),
  );
  const spki = spkiFromComponents(readRsaComponents(session, pair.publicKey));
  const fingerprint = fingerprintOf(spki);
  const id = Buffer.from(fingerprint, 'hex');
  pkcs11.C_SetAttributeValue(handle, pair.publicKey, template({ id }));
  pkcs11.C_SetAttributeValue(handle, pair.privateKey, template({ id }));
  return { fingerprint, spki: spki.toString('base64'), created: true };
}

// ---------------------------------------------------------------------------------------------------------------------
// 2. wrapEncryptionKey

/** Wraps the secret or private key under the named AES key (RFC 5649), with what another token needs to rebuild it. */
export async function wrapEncryptionKey(pool: TokenSessionPool, input: WrapEncryptionKeyInput): Promise<WrapEncryptionKeyResult> {
  const keyType = checkEncryptionKeyType(input.keyType);
  idOf(input.fingerprint);
  const wrappingKeyLabel = checkLabel(input.wrappingKeyLabel, 'wrappingKeyLabel');
  return onSession(pool, `wrapping ${keyType} key ${input.fingerprint} under '${wrappingKeyLabel}'`, async (session) => {
    const secret = requireByFingerprint(session, isAes(keyType) ? 'secretKey' : 'privateKey', input.fingerprint);
    let publicKey: PublicKeyComponentsJson | null = null;
    if (!isAes(keyType)) {
      const components = readRsaComponents(session, requireByFingerprint(session, 'publicKey', input.fingerprint));
      if (modulusBitLength(components.modulus) !== sizeOf(keyType).modulusBits) throw fatal(session, `key ${input.fingerprint} is not a ${keyType} key`);
      publicKey = componentsToJson(components);
    }
    const { label } = readAttributeValues(session.pkcs11, session.session, secret, ['label']);
    const wrapped = await session.pkcs11.C_WrapKeyAsync(session.session, AES_KEY_WRAP_PAD, findWrappingKey(session, wrappingKeyLabel), secret, Buffer.alloc(WRAP_BUFFER_BYTES));
    return { wrapped: wrapped.toString('base64'), keyType, label, publicKey };
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 3. importEncryptionReplica

function rsaComponentsOf(keyType: EncryptionKeyType, json: PublicKeyComponentsJson | null): { modulus: Buffer; publicExponent: Buffer } {
  const components = json === null ? null : componentsFromJson(json);
  if (!components || !('modulus' in components)) throw new UserError('invalid_public_key', `a ${keyType} replica needs the RSA modulus and public exponent`);
  const bits = modulusBitLength(components.modulus);
  if (bits !== sizeOf(keyType).modulusBits) throw new UserError('key_type_mismatch', `the public key has a ${bits}-bit modulus, not that of ${keyType}`);
  return components;
}

/**
 * Rebuilds a key on this token from a wrapped key, with the usage the version has now, or completes what an earlier
 * call left. The replica is checked before it counts: an AES key is unwrapped first into a session copy whose
 * fingerprint must match, an RSA private key must hold the modulus and exponent of the public key with the
 * fingerprint. A replica found in place is given the usage asked for.
 */
export async function importEncryptionReplica(pool: TokenSessionPool, input: ImportEncryptionReplicaInput): Promise<ImportEncryptionReplicaResult> {
  const keyType = checkEncryptionKeyType(input.keyType);
  const { fingerprint } = input;
  const id = idOf(fingerprint);
  const label = checkLabel(input.label, 'label');
  const unwrappingKeyLabel = checkLabel(input.unwrappingKeyLabel, 'unwrappingKeyLabel');
  const wrapped = nonEmptyBase64(input.wrapped, 'wrapped');
  const usage = checkUsage(input.usage);
  const components = isAes(keyType) ? null : rsaComponentsOf(keyType, input.publicKey);

  return createObjectsAlone(pool, () => onSession(pool, `importing a replica of ${keyType} key ${fingerprint}`, async (session) => {
    if (components === null) {
      if (lookUpByFingerprint(session, 'secretKey', fingerprint)) {
        applyUsage(session, keyType, fingerprint, usage);
        return { created: false };
      }
      // The blob is proven on a session copy first: the token object allows no mechanism that could fingerprint it.
      // SoftHSM 2.6 leaves CKA_VALUE_LEN of an unwrapped key 0 and refuses it in the template (CKR_ATTRIBUTE_READ_ONLY):
      // the fingerprint alone proves the key, its length included.
      const actual = await fingerprintOfWrapped(session, unwrappingKeyLabel, wrapped);
      if (actual !== fingerprint) throw fatal(session, `replica check failed: the unwrapped key is key ${actual}, not ${fingerprint}; the blob holds another key`);
      await unwrap(session, unwrappingKeyLabel, wrapped, template({
        ...secretKeyFixed(), token: true, allowedMechanisms: allowedMechanisms(keyType), ...usageOf(keyType, usage, 'secretKey'), id, label,
      }));
      return { created: true };
    }

    let privateKey = lookUpByFingerprint(session, 'privateKey', fingerprint);
    let publicKey = lookUpByFingerprint(session, 'publicKey', fingerprint);
    if (privateKey && publicKey) {
      applyUsage(session, keyType, fingerprint, usage);
      return { created: false };
    }
    const created: pkcs11js.Handle[] = [];
    try {
      if (!publicKey) {
        publicKey = session.pkcs11.C_CreateObject(session.session, rsaPublicKeyTemplate(keyType, components, id, label, usage));
        created.push(publicKey);
      }
      const actual = fingerprintOf(spkiFromComponents(readRsaComponents(session, publicKey)));
      if (actual !== fingerprint) throw fatal(session, `replica check failed: the public key made on this token has fingerprint ${actual}, not ${fingerprint}`);
      if (!privateKey) {
        privateKey = await unwrap(session, unwrappingKeyLabel, wrapped, template({ class: ObjectClass.privateKey, keyType: KeyKind.rsa, ...privateKeyFixed(), allowedMechanisms: allowedMechanisms(keyType), ...usageOf(keyType, usage, 'privateKey'), id, label }));
        created.push(privateKey);
      }
      if (!sameRsaKey(readRsaComponents(session, privateKey), components)) {
        throw fatal(session, `replica check failed: the unwrapped private key is not the private key of ${fingerprint}; the blob holds another key`);
      }
      return { created: true };
    } catch (error) {
      throw undoCreated(session, created, fingerprint, error);
    }
  }));
}

// ---------------------------------------------------------------------------------------------------------------------
// 4. setEncryptionUsage, readEncryptionUsage

/** Sets the attributes that differ; attributes already right are not written, so a retry changes nothing. */
function applyUsage(session: PooledSession, keyType: EncryptionKeyType, fingerprint: string, usage: EncryptionUsage): string[] {
  const changed: string[] = [];
  for (const [objectClass, wanted] of Object.entries(usageByObject(keyType, usage)) as Array<[KeyObjectClass, Partial<EncryptionUsage>]>) {
    const object = requireByFingerprint(session, objectClass, fingerprint);
    const names = Object.keys(wanted) as Array<keyof EncryptionUsage>;
    const current = readAttributeValues(session.pkcs11, session.session, object, names);
    const differing = names.filter((name) => current[name] !== wanted[name]);
    if (differing.length === 0) continue;
    session.pkcs11.C_SetAttributeValue(session.session, object, template(Object.fromEntries(differing.map((name) => [name, wanted[name]]))));
    changed.push(...differing.map((name) => `${objectClass}.${name}`));
  }
  return changed;
}

/**
 * Gives the objects of a version on this node the usage of its state (encryptionUsageFor). Switching encrypt and wrap
 * off makes C_EncryptInit and C_WrapKey with the version fail with CKR_KEY_FUNCTION_NOT_PERMITTED on this node; decrypt
 * and unwrap likewise. Every object of the version must be there: a node missing one answers hsm_key_not_found.
 */
export async function setEncryptionUsage(pool: TokenSessionPool, input: SetEncryptionUsageInput): Promise<SetEncryptionUsageResult> {
  const keyType = checkEncryptionKeyType(input.keyType);
  idOf(input.fingerprint);
  const usage = checkUsage(input.usage);
  return onSession(pool, `setting the usage of ${keyType} key ${input.fingerprint}`, (session) => ({ changed: applyUsage(session, keyType, input.fingerprint, usage) }));
}

/** The usage attributes the objects of a version hold on this node, each read from the object that carries it. */
export async function readEncryptionUsage(pool: TokenSessionPool, input: EncryptionUsageTarget): Promise<EncryptionUsage> {
  const keyType = checkEncryptionKeyType(input.keyType);
  idOf(input.fingerprint);
  return onSession(pool, `reading the usage of ${keyType} key ${input.fingerprint}`, (session) => {
    const held: Partial<EncryptionUsage> = {};
    const layout = usageByObject(keyType, { encrypt: false, wrap: false, decrypt: false, unwrap: false });
    for (const [objectClass, names] of Object.entries(layout) as Array<[KeyObjectClass, Partial<EncryptionUsage>]>) {
      const object = requireByFingerprint(session, objectClass, input.fingerprint);
      Object.assign(held, readAttributeValues(session.pkcs11, session.session, object, Object.keys(names) as Array<keyof EncryptionUsage>));
    }
    return held as EncryptionUsage;
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 5. jweAlgorithmOf, verifyArchivedEncryptionKey

export interface JweAlgorithmInput { keyType: EncryptionKeyType; fingerprint: string; spki: string }

/** The OAEP parameters of a JWE algorithm: hash and MGF1 hash alike, no label (RFC 7518 §4.3). */
export function oaepMechanism(alg: JweAlgorithm): pkcs11js.Mechanism {
  const sha256 = OAEP_HASH[alg] === 'sha256';
  const parameter: pkcs11js.RsaOAEP = {
    type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: sha256 ? pkcs11js.CKM_SHA256 : pkcs11js.CKM_SHA_1, mgf: sha256 ? pkcs11js.CKG_MGF1_SHA256 : pkcs11js.CKG_MGF1_SHA1, source: 1,
  };
  return { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter };
}

/**
 * The JWE algorithm an RSA-OAEP version is published with: the first of its type's preferences (RSA-OAEP-256, then
 * RSA-OAEP) that this HSM decrypts, proven by a round trip: a random block encrypted here with the version's public key
 * must come back from C_Decrypt with its private key. Asked once, when the version is generated (its private key may
 * decrypt then: a pending version's usage). SoftHSM 2.6 refuses OAEP with SHA-256 (CKR_ARGUMENTS_BAD): RSA-OAEP.
 */
export async function jweAlgorithmOf(pool: TokenSessionPool, input: JweAlgorithmInput): Promise<JweAlgorithm | null> {
  const keyType = checkEncryptionKeyType(input.keyType);
  const { publication } = profileOf(keyType);
  if (publication?.use !== 'enc') return null;
  const publicKey = createPublicKey({ key: nonEmptyBase64(input.spki, 'spki'), format: 'der', type: 'spki' });
  return onSession(pool, `choosing the JWE algorithm of ${keyType} key ${input.fingerprint}`, async (session) => {
    const privateKey = requireByFingerprint(session, 'privateKey', input.fingerprint);
    for (const alg of publication.algs) {
      const probe = randomBytes(32);
      const encrypted = publicEncrypt({ key: publicKey, padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[alg] }, probe);
      try {
        session.pkcs11.C_DecryptInit(session.session, oaepMechanism(alg), privateKey);
        // A failed C_Decrypt ends the operation, as does a successful one (PKCS#11 2.40 §5.9).
        const decrypted = await session.pkcs11.C_DecryptAsync(session.session, encrypted, Buffer.alloc(512));
        if (Buffer.from(decrypted).equals(probe)) return alg;
      } catch {
        // This module does not decrypt with this algorithm's parameters: the next preference.
      }
    }
    return null;
  });
}

export interface VerifyArchivedEncryptionKeyInput { keyType: EncryptionKeyType; fingerprint: string; wrapped: string; unwrappingKeyLabel: string; spki: string | null }

/**
 * Proves that an archive blob restores the version: an AES key unwrapped into a session copy must have the version's
 * fingerprint; an RSA private key unwrapped into a session object must hold the modulus and exponent of its public
 * key. The temporary object can do nothing and is destroyed whatever happens.
 */
export async function verifyArchivedEncryptionKey(pool: TokenSessionPool, input: VerifyArchivedEncryptionKeyInput): Promise<{ matches: boolean }> {
  const keyType = checkEncryptionKeyType(input.keyType);
  idOf(input.fingerprint);
  const unwrappingKeyLabel = checkLabel(input.unwrappingKeyLabel, 'unwrappingKeyLabel');
  const wrapped = nonEmptyBase64(input.wrapped, 'wrapped');
  return createObjectsAlone(pool, () => onSession(pool, `verifying an archived ${keyType} key under '${unwrappingKeyLabel}'`, async (session) => {
    if (isAes(keyType)) return { matches: (await fingerprintOfWrapped(session, unwrappingKeyLabel, wrapped)) === input.fingerprint };
    const expected = componentsFromSpki(nonEmptyBase64(input.spki ?? '', 'spki'));
    if (!('modulus' in expected)) return { matches: false };
    const temporary = await unwrap(session, unwrappingKeyLabel, wrapped, template({
      class: ObjectClass.privateKey, keyType: KeyKind.rsa, ...privateKeyFixed(), token: false, extractable: false, decrypt: false, unwrap: false,
    }));
    try {
      return { matches: sameRsaKey(readRsaComponents(session, temporary), expected) };
    } finally {
      destroyQuietly(session, temporary);
    }
  }));
}
