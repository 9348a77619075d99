import { createHash, randomBytes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { KeyrotorError, UserError } from '../../domain/errors';
import { JWS_ALGORITHM, SIGNING_KEY_TYPES as KEY_TYPES, type KeyObjectClass, type SigningKeyType as KeyType } from '../../domain/keys/key-types';
import { profileOf } from '../../domain/keys/key-types';
import { GENERATION_MECHANISM, KEY_KIND_OF, KeyKind, ObjectClass, keyKindName, readAttributeValues, template, type AttributeValues } from './attributes';
import { HsmError, ckrOf } from './errors';
import {
  componentsFromJson,
  componentsFromSpki,
  componentsToJson,
  decodeBase64,
  ecKeyTypeOf,
  ecParamsOf,
  fingerprintOf,
  isEcKeyType,
  keyTypeOfComponents,
  modulusBitLength,
  modulusBitsOf,
  signatureHashOf,
  spkiFromComponents,
  verifySignature,
  type PublicKeyComponents,
  type PublicKeyComponentsJson,
} from './public-key';
import type { PooledSession, TokenSessionPool } from './session-pool';
import { findObjects } from './token';

/**
 * The key operations the HSM activities call, one borrowed session each. Keys are identified by their fingerprint
 * (SHA-256 of the SPKI DER, hex), whose raw 32 bytes are the CKA_ID of both objects; CKA_LABEL is the caller's name.
 * Inputs and results are JSON-safe, bytes as base64. Every failure is an HsmError that says whether a retry can help.
 */

export type JwsAlgorithm = (typeof JWS_ALGORITHM)[KeyType];

export interface GenerateKeyPairInput { keyType: KeyType; label: string }
export interface GenerateKeyPairResult { fingerprint: string; spki: string; created: boolean }

export interface DescribeKeyInput { fingerprint: string }
/** secretKey: an aes-256 version's key (encryption keys); the signing types have none. */
export interface DescribeKeyResult { privateKey: boolean; publicKey: boolean; secretKey: boolean; canSign: boolean | null; label: string | null }

export interface WrapPrivateKeyInput { fingerprint: string; wrappingKeyLabel: string }
export interface WrapPrivateKeyResult { wrapped: string; keyType: KeyType; label: string; publicKey: PublicKeyComponentsJson }

export interface ImportReplicaInput {
  fingerprint: string;
  label: string;
  keyType: KeyType;
  wrapped: string;
  unwrappingKeyLabel: string;
  publicKey: PublicKeyComponentsJson;
}
export interface ImportReplicaResult { created: boolean }

export interface SignDigestInput { fingerprint: string; data: string }
export interface SignDigestResult { signature: string; alg: JwsAlgorithm }

export interface SetSigningInput { fingerprint: string; enabled: boolean }
export interface SetSigningResult { changed: boolean }

/** secretKey: an aes-256 version's key; absent means false (inputs from before encryption keys). */
export interface DestroyKeyObjectsInput { fingerprint: string; privateKey: boolean; publicKey: boolean; secretKey?: boolean }
/**
 * `destroyed` counts every object destroyed; `residue` those of them that only a fresh module instance still found
 * (fresh-instance.ts): objects this process's module had dropped while they stayed on the token.
 */
export interface DestroyKeyObjectsResult { destroyed: number; residue: number }

export interface VerifyArchivedBlobInput { wrapped: string; keyType: KeyType; unwrappingKeyLabel: string; spki: string }
export interface VerifyArchivedBlobResult { matches: boolean }

export interface KeyObjectListing {
  class: 'privateKey' | 'publicKey' | 'secretKey';
  idHex: string;
  label: string;
  /** A managed key type ('ec-p256', 'rsa-2048'), otherwise kind and size ('aes-256', 'rsa-4096') or the CKK name. */
  keyType: string;
  /** CKA_SIGN of private and secret keys; null for public keys, which have none. */
  canSign: boolean | null;
  /** False for a session object, which lives only as long as the session that made it. */
  token: boolean;
}

export interface SeedRandomInput { seed: string }

/** The node holds no object of the key asked for. Not retryable: the workflow must replicate or pick another node. */
export class KeyNotFoundError extends HsmError {
  override readonly code = 'hsm_key_not_found';
  constructor(nodeId: string, message: string) {
    super(nodeId, undefined, message, false);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Templates: every usage flag explicit, because SoftHSM turns on the usages a template leaves out (it gave generated
// keys SIGN_RECOVER, DECRYPT, UNWRAP, and public keys ENCRYPT, WRAP, VERIFY_RECOVER), and built afresh for every call.

/** A signing key that can leave the token only wrapped under a trusted key (the cluster and archive KEKs). */
const privateKeyUsage = (): Partial<AttributeValues> => ({
  token: true,
  private: true,
  sensitive: true,
  extractable: true,
  wrapWithTrusted: true,
  sign: true,
  signRecover: false,
  decrypt: false,
  unwrap: false,
  derive: false,
});

const publicKeyUsage = (): Partial<AttributeValues> => ({
  token: true,
  private: false,
  verify: true,
  verifyRecover: false,
  encrypt: false,
  wrap: false,
  derive: false,
});

/** A temporary copy that proves an archive blob: gone with its session at the latest, never extractable. */
const temporaryKeyUsage = (): Partial<AttributeValues> => ({
  token: false,
  private: true,
  sensitive: true,
  extractable: false,
  sign: true,
  signRecover: false,
  decrypt: false,
  unwrap: false,
  derive: false,
});

const keyKindOf = (keyType: KeyType): number => KEY_KIND_OF[profileOf(keyType).keyKind];

function publicKeyTemplate(components: PublicKeyComponents, id: Buffer, label: string): pkcs11js.Template {
  const material = 'ecParams' in components
    ? { keyType: KeyKind.ec, ecParams: components.ecParams, ecPoint: components.ecPoint }
    : { keyType: KeyKind.rsa, modulus: components.modulus, publicExponent: components.publicExponent };
  return template({ class: ObjectClass.publicKey, ...material, ...publicKeyUsage(), id, label });
}

export const AES_KEY_WRAP_PAD: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
// Large enough for a wrapped RSA-3072 PKCS#8 key (about 1.8 KB); pkcs11js returns the used part.
export const WRAP_BUFFER_BYTES = 8192;
// Larger than any signature of the managed key types (RSA-3072: 384 bytes).
const SIGNATURE_BUFFER_BYTES = 512;

// ---------------------------------------------------------------------------------------------------------------------
// Input checks, before any session is borrowed: a malformed request is the caller's error, not the HSM's.

const FINGERPRINT = /^[0-9a-f]{64}$/;

export function idOf(fingerprint: string): Buffer {
  if (!FINGERPRINT.test(fingerprint)) throw new UserError('invalid_fingerprint', `fingerprint '${fingerprint}' is not 64 lowercase hex digits (SHA-256 of the SPKI DER)`);
  return Buffer.from(fingerprint, 'hex');
}

function checkKeyType(keyType: string): KeyType {
  if (!(KEY_TYPES as readonly string[]).includes(keyType)) throw new UserError('invalid_key_type', `key type '${keyType}' is not one of ${KEY_TYPES.join(', ')}`);
  return keyType as KeyType;
}

export function checkLabel(label: string, field: string): string {
  if (typeof label !== 'string' || label.length === 0) throw new UserError('invalid_label', `${field} must be a non-empty string`);
  return label;
}

export function nonEmptyBase64(value: string, field: string): Buffer {
  const bytes = decodeBase64(value, field);
  if (bytes.length === 0) throw new UserError('invalid_base64', `${field} is empty`);
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------------------
// Session helpers.

/**
 * Runs one operation on one borrowed session. A problem keyrotor itself finds on the token (a mismatched replica, a
 * curve it does not manage) repeats on every attempt; the pool would report it as a retryable HsmError, so it is turned
 * into a non-retryable one here.
 */
export function onSession<T>(pool: TokenSessionPool, operation: string, work: (session: PooledSession) => T | Promise<T>): Promise<T> {
  return pool.withSession(operation, async (session) => {
    try {
      return await work(session);
    } catch (error) {
      if (error instanceof KeyrotorError && !(error instanceof HsmError)) {
        throw new HsmError(session.nodeId, undefined, `${operation}: ${error.message}`, error.retryable, { cause: error });
      }
      throw error;
    }
  });
}

const running = new WeakMap<TokenSessionPool, Map<string, Promise<unknown>>>();

/**
 * Runs calls with the same key one after another on a pool. Tokens accept duplicate labels and IDs, so two overlapping
 * generate or import calls (a retry while the first still runs) would each create a pair.
 */
/**
 * Runs work that creates objects on a token one call at a time per token in this process. SoftHSM 2.6 fails
 * concurrent object creation on one token (CKR_GENERAL_ERROR, measured with two replicas unwrapped at once) and can
 * leave a half-written object behind; a generation or import retried by Temporal must also never race itself.
 */
export function createObjectsAlone<T>(pool: TokenSessionPool, work: () => Promise<T>): Promise<T> {
  return oneAtATime(pool, 'create-objects', async () => {
    if (!swept.has(pool)) await sweepToken(pool);
    return work();
  });
}

/**
 * The pools whose token this process has swept of unfinished objects (destroyUnfinishedObjects). A pool sweeps before
 * its first creation, and the key map sweeps every node it inspects (each minute): such an object is what a process
 * killed inside the library leaves, so a process that runs has none of its own to leave, and its first creation
 * clears what the one before it left. Not before every creation: a sweep is a search of the whole token, which costs
 * as much as the token has objects (50-90 ms at 1,000 on SoftHSM's file store, bench/scale.ts).
 */
const swept = new WeakSet<TokenSessionPool>();

async function sweepToken(pool: TokenSessionPool): Promise<number> {
  const destroyed = await onSession(pool, 'destroying unfinished key objects', (session) => destroyUnfinishedObjects(session));
  swept.add(pool);
  return destroyed;
}

async function oneAtATime<T>(pool: TokenSessionPool, key: string, work: () => Promise<T>): Promise<T> {
  let queue = running.get(pool);
  if (!queue) {
    queue = new Map();
    running.set(pool, queue);
  }
  // The stored promise never rejects: one call's failure must not fail the next.
  const before = queue.get(key) ?? Promise.resolve();
  const current = before.then(work);
  const settled = current.then(() => undefined, () => undefined);
  queue.set(key, settled);
  try {
    return await current;
  } finally {
    if (queue.get(key) === settled) queue.delete(key);
  }
}

/**
 * Destroys the key objects that a creation killed inside the PKCS#11 library left on the token. SoftHSM writes a new
 * object's file first and its template's attributes after it, so a process killed in C_GenerateKeyPair or
 * C_UnwrapKey can leave a token key object with the library's defaults: no CKA_LABEL and no CKA_ID (seen after
 * SIGKILLs of `npm start`). keyrotor names every key object it creates in the creating call's template, and creations
 * on a token run one at a time in a process (createObjectsAlone), so such an object was never a key anyone holds and
 * no retry can find it by label: it goes in the next sweep (createObjectsAlone). Objects with a label or an ID are never touched
 * here (unknown ones are the key map's, which reports and quarantines them); a temporary session object of this
 * process is made and destroyed inside createObjectsAlone, so none exists while this runs.
 */
export function destroyUnfinishedObjects(session: PooledSession): number {
  let destroyed = 0;
  for (const object of unfinishedObjects(session)) {
    session.pkcs11.C_DestroyObject(session.session, object);
    destroyed += 1;
  }
  return destroyed;
}

/**
 * Destroys the token's unfinished key objects (no CKA_LABEL, no CKA_ID: see destroyUnfinishedObjects) outside any
 * creation, and says how many went. A token that creates nothing more would keep them: the key map sync runs this on
 * every node it inspects. Seen in the node-away fault run: an unnamed EC private key appeared on a node right after
 * its worker destroyed a purged version's public keys, and no creation followed on that node.
 */
export function sweepUnfinishedObjects(pool: TokenSessionPool): Promise<number> {
  return oneAtATime(pool, 'create-objects', () => sweepToken(pool));
}

/**
 * The private and public key objects with neither CKA_LABEL nor CKA_ID. The token finds those with an empty label, so
 * that the attributes read here are those of the few unnamed objects, not of every key: the key map sync runs this on
 * every node it inspects, each minute, and each pool before its first creation. One search for both classes: a search
 * costs as much as the token has objects, whatever its template (SoftHSM's file store reads every object's file).
 */
function unfinishedObjects(session: PooledSession): pkcs11js.Handle[] {
  const { pkcs11, session: handle } = session;
  const found: pkcs11js.Handle[] = [];
  // Not filtered on CKA_TOKEN: an object cut off before its template was applied may not carry the token's value.
  for (const object of findObjects(pkcs11, handle, template({ label: '' }))) {
    const { class: objectClass } = readAttributeValues(pkcs11, handle, object, ['class']);
    if (objectClass !== ObjectClass.privateKey && objectClass !== ObjectClass.publicKey) continue;
    const { id, label } = readAttributeValues(pkcs11, handle, object, ['id', 'label']);
    if (id.length === 0 && label.length === 0) found.push(object);
  }
  return found;
}

export const fatal = (session: PooledSession, message: string, cause?: unknown): HsmError =>
  new HsmError(session.nodeId, undefined, message, false, cause === undefined ? undefined : { cause });

type KeyClass = 'privateKey' | 'publicKey';
const CLASS_WORDS: Record<KeyObjectClass, string> = { secretKey: 'secret key', privateKey: 'private key', publicKey: 'public key' };

export function find(session: PooledSession, keyClass: KeyClass | 'secretKey', by: { id: Buffer } | { label: string }): pkcs11js.Handle[] {
  return findObjects(session.pkcs11, session.session, template({ class: ObjectClass[keyClass], ...by }));
}

export type KeyObjectsByClass = Record<KeyObjectClass, pkcs11js.Handle[]>;

/**
 * The key objects with this ID or label, by class, from one search. A search costs as much as the token has objects,
 * whatever its template (SoftHSM's file store reads every object's file; 50-90 ms at 1,000 objects, bench/scale.ts), so
 * a step that needs a key's private and public objects searches once, not once per class.
 */
export function findByClass(session: PooledSession, by: { id: Buffer } | { label: string }): KeyObjectsByClass {
  const found: KeyObjectsByClass = { privateKey: [], publicKey: [], secretKey: [] };
  for (const object of findObjects(session.pkcs11, session.session, template(by))) {
    const { class: objectClass } = readAttributeValues(session.pkcs11, session.session, object, ['class']);
    if (objectClass === ObjectClass.privateKey) found.privateKey.push(object);
    else if (objectClass === ObjectClass.publicKey) found.publicKey.push(object);
    else if (objectClass === ObjectClass.secretKey) found.secretKey.push(object);
  }
  return found;
}

/** The one object of the class among those found, or undefined; duplicates are refused rather than guessed between. */
function onlyOne(session: PooledSession, handles: pkcs11js.Handle[], keyClass: KeyObjectClass, fingerprint: string): pkcs11js.Handle | undefined {
  if (handles.length > 1) {
    throw fatal(session, `${handles.length} ${CLASS_WORDS[keyClass]}s carry the ID of key ${fingerprint}; destroy them with destroyKeyObjects and replicate the key again`);
  }
  return handles[0];
}

/** The one object of the class with this ID, or undefined; duplicates are refused rather than guessed between. */
function findByFingerprint(session: PooledSession, keyClass: KeyObjectClass, fingerprint: string): pkcs11js.Handle | undefined {
  return onlyOne(session, find(session, keyClass, { id: Buffer.from(fingerprint, 'hex') }), keyClass, fingerprint);
}

/**
 * The handle the pool knows under `name` while it still names the object described (its class, ID, label); forgotten
 * otherwise. A destroyed object's handle fails the read (CKR_OBJECT_HANDLE_INVALID), and SoftHSM rereads an object
 * another process changed or removed before it answers. Each read costs as much as one object, not the whole token.
 */
function knownHandle(session: PooledSession, name: string, expected: { class: number; id?: Buffer; label?: string }): pkcs11js.Handle | undefined {
  const handle = session.knownHandles.get(name);
  if (!handle) return undefined;
  try {
    const found = readAttributeValues(session.pkcs11, session.session, handle, ['class', 'id', 'label']);
    if (found.class === expected.class && (expected.id === undefined || found.id.equals(expected.id)) && (expected.label === undefined || found.label === expected.label)) return handle;
  } catch {
    // Gone or changed: searched for again below.
  }
  session.knownHandles.delete(name);
  return undefined;
}

const fingerprintName = (keyClass: KeyObjectClass, fingerprint: string): string => `${keyClass}:${fingerprint}`;

function rememberPair(session: PooledSession, fingerprint: string, pair: { privateKey?: pkcs11js.Handle; publicKey?: pkcs11js.Handle }): void {
  if (pair.privateKey) session.knownHandles.set(fingerprintName('privateKey', fingerprint), pair.privateKey);
  if (pair.publicKey) session.knownHandles.set(fingerprintName('publicKey', fingerprint), pair.publicKey);
}

/**
 * The object of the class with this ID: the handle the pool knows, or one search (which refuses duplicates). The
 * steps that use an existing key (sign, set signing, wrap) take it from here; those that check what a token holds
 * (describe, destroy, the inventory) always search.
 */
export function lookUpByFingerprint(session: PooledSession, keyClass: KeyObjectClass, fingerprint: string): pkcs11js.Handle | undefined {
  const known = knownHandle(session, fingerprintName(keyClass, fingerprint), { class: ObjectClass[keyClass], id: Buffer.from(fingerprint, 'hex') });
  if (known) return known;
  const found = findByFingerprint(session, keyClass, fingerprint);
  if (found) session.knownHandles.set(fingerprintName(keyClass, fingerprint), found);
  return found;
}

/** The key's private and public objects as lookUpByFingerprint finds them: from what the pool knows, else one search. */
function lookUpPair(session: PooledSession, fingerprint: string): { privateKey?: pkcs11js.Handle; publicKey?: pkcs11js.Handle } {
  const id = Buffer.from(fingerprint, 'hex');
  const privateKey = knownHandle(session, fingerprintName('privateKey', fingerprint), { class: ObjectClass.privateKey, id });
  const publicKey = knownHandle(session, fingerprintName('publicKey', fingerprint), { class: ObjectClass.publicKey, id });
  if (privateKey && publicKey) return { privateKey, publicKey };
  const { secretKeys: _, ...pair } = findPairByFingerprint(session, fingerprint);
  rememberPair(session, fingerprint, pair);
  return pair;
}

/** The key's private and public objects (either may be missing), from one search. */
function findPairByFingerprint(session: PooledSession, fingerprint: string): { privateKey?: pkcs11js.Handle; publicKey?: pkcs11js.Handle; secretKeys: pkcs11js.Handle[] } {
  const found = findByClass(session, { id: Buffer.from(fingerprint, 'hex') });
  const privateKey = onlyOne(session, found.privateKey, 'privateKey', fingerprint);
  const publicKey = onlyOne(session, found.publicKey, 'publicKey', fingerprint);
  return { ...(privateKey ? { privateKey } : {}), ...(publicKey ? { publicKey } : {}), secretKeys: found.secretKey };
}

export function requireByFingerprint(session: PooledSession, keyClass: KeyObjectClass, fingerprint: string): pkcs11js.Handle {
  const handle = lookUpByFingerprint(session, keyClass, fingerprint);
  if (!handle) throw new KeyNotFoundError(session.nodeId, `no ${CLASS_WORDS[keyClass]} of key ${fingerprint} on this token`);
  return handle;
}

/** The wrapping key labelled `label`: the handle the pool knows, or one search, which refuses none and duplicates. */
export function findWrappingKey(session: PooledSession, label: string): pkcs11js.Handle {
  const name = `wrapping-key:${label}`;
  const known = knownHandle(session, name, { class: ObjectClass.secretKey, label });
  if (known) return known;
  const handles = find(session, 'secretKey', { label });
  if (handles.length === 0) throw fatal(session, `no wrapping key labelled '${label}' on this token; every node needs it (keyrotor start provisions it on SoftHSM nodes; on other HSMs clone it with the vendor's tools)`);
  if (handles.length > 1) throw fatal(session, `${handles.length} secret keys are labelled '${label}'; remove the extra ones`);
  session.knownHandles.set(name, handles[0] as pkcs11js.Handle);
  return handles[0] as pkcs11js.Handle;
}

function readPublicComponents(session: PooledSession, publicKey: pkcs11js.Handle): PublicKeyComponents {
  const { pkcs11, session: handle } = session;
  const { keyType } = readAttributeValues(pkcs11, handle, publicKey, ['keyType']);
  if (keyType === KeyKind.ec) return readAttributeValues(pkcs11, handle, publicKey, ['ecParams', 'ecPoint']);
  if (keyType === KeyKind.rsa) return readAttributeValues(pkcs11, handle, publicKey, ['modulus', 'publicExponent']);
  throw fatal(session, `the public key is of type ${keyKindName(keyType)}, which keyrotor does not manage`);
}

/** The managed key type of a private key, from the public parts it holds (curve or modulus). */
function keyTypeOfPrivateKey(session: PooledSession, privateKey: pkcs11js.Handle): KeyType {
  const { pkcs11, session: handle } = session;
  const { keyType } = readAttributeValues(pkcs11, handle, privateKey, ['keyType']);
  if (keyType === KeyKind.ec) {
    const { ecParams } = readAttributeValues(pkcs11, handle, privateKey, ['ecParams']);
    const found = ecKeyTypeOf(ecParams);
    if (found) return found;
    throw fatal(session, `the private key is on EC curve ${ecParams.toString('hex')} (DER), which keyrotor does not manage`);
  }
  if (keyType === KeyKind.rsa) {
    const { modulus, publicExponent } = readAttributeValues(pkcs11, handle, privateKey, ['modulus', 'publicExponent']);
    return keyTypeOfComponents({ modulus, publicExponent });
  }
  throw fatal(session, `the private key is of type ${keyKindName(keyType)}, which keyrotor does not manage`);
}

/** Signs as JWS does: ES256/ES384 hash here and sign the digest with CKM_ECDSA (SoftHSM 2.6 has no CKM_ECDSA_SHA256). */
async function sign(session: PooledSession, privateKey: pkcs11js.Handle, keyType: KeyType, data: Buffer): Promise<Buffer> {
  const { pkcs11, session: handle } = session;
  if (isEcKeyType(keyType)) {
    pkcs11.C_SignInit(handle, { mechanism: pkcs11js.CKM_ECDSA }, privateKey);
    return pkcs11.C_SignAsync(handle, createHash(signatureHashOf(keyType)).update(data).digest(), Buffer.alloc(SIGNATURE_BUFFER_BYTES));
  }
  pkcs11.C_SignInit(handle, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, privateKey);
  return pkcs11.C_SignAsync(handle, data, Buffer.alloc(SIGNATURE_BUFFER_BYTES));
}

/** Whether the private key signs what the SPKI verifies: the only proof that an EC private key belongs to a public key. */
async function signsFor(session: PooledSession, privateKey: pkcs11js.Handle, keyType: KeyType, spki: Buffer): Promise<boolean> {
  const challenge = randomBytes(32);
  return verifySignature(spki, keyType, challenge, await sign(session, privateKey, keyType, challenge));
}

export async function unwrap(session: PooledSession, unwrappingKeyLabel: string, wrapped: Buffer, keyTemplate: pkcs11js.Template): Promise<pkcs11js.Handle> {
  const unwrappingKey = findWrappingKey(session, unwrappingKeyLabel);
  // SoftHSM 2.6 also answers CKR_GENERAL_ERROR when another session creates an object on the same token at that moment
  // (two replicas unwrapped at once, measured in the key map tests): a few tries, spaced out, tell that apart from a
  // blob that fails every time. A failed C_UnwrapKey can leave the object it had begun, without label or ID (an
  // unnamed private key on node 3 after a key map repair, in the key map test): the failed try sweeps the token
  // (destroyUnfinishedObjects), since this process creates nothing else meanwhile and its next sweep may be a minute away.
  for (let attempt = 1; ; attempt++) {
    try {
      return await session.pkcs11.C_UnwrapKeyAsync(session.session, AES_KEY_WRAP_PAD, unwrappingKey, wrapped, keyTemplate);
    } catch (error) {
      try {
        destroyUnfinishedObjects(session);
      } catch {
        // The unwrap's own failure is the one to report; the next creation on the token clears what is left.
      }
      if (attempt < UNWRAP_ATTEMPTS && ckrOf(error) === 'CKR_GENERAL_ERROR') {
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt + Math.floor(Math.random() * 100)));
        continue;
      }
      throw unwrapFailure(session, unwrappingKeyLabel, error);
    }
  }
}

const UNWRAP_ATTEMPTS = 4;

function unwrapFailure(session: PooledSession, unwrappingKeyLabel: string, error: unknown): unknown {
  const ckr = ckrOf(error);
  // SoftHSM 2.6 answers a blob that fails the RFC 5649 integrity check (damaged, or wrapped under another key) with
  // CKR_GENERAL_ERROR and a blob of another key type with CKR_FUNCTION_FAILED. Both would read as retryable, but the
  // same blob fails the same way every time.
  if (ckr === 'CKR_GENERAL_ERROR' || ckr === 'CKR_FUNCTION_FAILED') {
    return new HsmError(session.nodeId, ckr, `the wrapped key does not unwrap under '${unwrappingKeyLabel}' (${ckr}): the blob is damaged, was wrapped under another key, or holds another key type`, false, { cause: error });
  }
  return error;
}

/** Sets CKA_ID where it is empty; an object that carries another ID belongs to another key and is refused. */
function ensureId(session: PooledSession, handle: pkcs11js.Handle, keyClass: KeyClass, label: string, id: Buffer): void {
  const { id: current } = readAttributeValues(session.pkcs11, session.session, handle, ['id']);
  if (current.equals(id)) return;
  if (current.length > 0) {
    throw fatal(session, `the ${CLASS_WORDS[keyClass]} labelled '${label}' carries ID ${current.toString('hex')}, but its pair's public key has fingerprint ${id.toString('hex')}; the label names two keys`);
  }
  session.pkcs11.C_SetAttributeValue(session.session, handle, template({ id }));
}

// ---------------------------------------------------------------------------------------------------------------------
// 1. generateKeyPair

/**
 * Finds what an earlier call with this label left and settles it: a complete pair is returned (with its IDs set), a
 * half-made one is completed or removed so that a new pair can be generated. Never leaves two pairs under one label.
 */
async function settleExistingPair(session: PooledSession, keyType: KeyType, label: string): Promise<{ fingerprint: string; spki: Buffer } | undefined> {
  const { pkcs11, session: handle } = session;
  const { privateKey: privateKeys, publicKey: publicKeys } = findByClass(session, { label });
  if (privateKeys.length > 1 || publicKeys.length > 1) {
    throw fatal(session, `${privateKeys.length} private and ${publicKeys.length} public keys are labelled '${label}'; keep one pair (destroyKeyObjects) or use another label`);
  }
  const [privateKey] = privateKeys;
  const [publicKey] = publicKeys;
  if (!privateKey && !publicKey) return undefined;

  if (!privateKey) {
    const lone = publicKey as pkcs11js.Handle;
    const { id } = readAttributeValues(pkcs11, handle, lone, ['id']);
    if (id.length > 0) {
      // A named public key without its private key is what archiving leaves: still needed to verify old signatures.
      throw fatal(session, `label '${label}' names key ${id.toString('hex')}, whose private key is gone (archived or destroyed); use a new label for a new key`);
    }
    // No ID: an earlier call stopped between generating and naming the pair; alone, it cannot sign, so it goes.
    pkcs11.C_DestroyObject(handle, lone);
    return undefined;
  }

  let components: PublicKeyComponents;
  if (publicKey) {
    components = readPublicComponents(session, publicKey);
  } else {
    const { keyType: kind, id } = readAttributeValues(pkcs11, handle, privateKey, ['keyType', 'id']);
    if (kind === KeyKind.rsa) {
      // An RSA private key holds its public half: the public object can be made again.
      components = readAttributeValues(pkcs11, handle, privateKey, ['modulus', 'publicExponent']);
    } else if (id.length === 0) {
      // No ID: an earlier call stopped between generating and naming the pair, so this key was never handed out.
      pkcs11.C_DestroyObject(handle, privateKey);
      return undefined;
    } else {
      throw fatal(session, `the private key labelled '${label}' (key ${id.toString('hex')}) has lost its public key, and an EC private key does not hold its public point; recreate the public key from the key's recorded SPKI, or destroy the private key with destroyKeyObjects`);
    }
  }

  const found = keyTypeOfComponents(components);
  if (found !== keyType) throw fatal(session, `label '${label}' already names a ${found} key, not ${keyType}; use another label`);
  const spki = spkiFromComponents(components);
  const fingerprint = fingerprintOf(spki);
  const id = Buffer.from(fingerprint, 'hex');
  const { id: privateId } = readAttributeValues(pkcs11, handle, privateKey, ['id']);
  const publicId = publicKey ? readAttributeValues(pkcs11, handle, publicKey, ['id']).id : undefined;
  if (!privateId.equals(id) || (publicId && !publicId.equals(id))) {
    // Repairing an interrupted call: prove the two objects are one pair before naming them as one key.
    if (!(await signsFor(session, privateKey, keyType, spki))) {
      throw fatal(session, `the private and public keys labelled '${label}' are not one pair; remove them with the HSM's tools or use another label`);
    }
  }
  if (publicKey) ensureId(session, publicKey, 'publicKey', label, id);
  else pkcs11.C_CreateObject(handle, publicKeyTemplate(components, id, label));
  ensureId(session, privateKey, 'privateKey', label, id);
  return { fingerprint, spki };
}

/**
 * Generates a signing key pair labelled `label`, or returns the pair an earlier call made (created: false). The
 * fingerprint is known only once the pair exists, so CKA_ID is set right after generation.
 */
export async function generateKeyPair(pool: TokenSessionPool, input: GenerateKeyPairInput): Promise<GenerateKeyPairResult> {
  const keyType = checkKeyType(input.keyType);
  const label = checkLabel(input.label, 'label');
  return createObjectsAlone(pool, () => onSession(pool, `generating ${keyType} key '${label}'`, async (session) => {
    const existing = await settleExistingPair(session, keyType, label);
    if (existing) return { fingerprint: existing.fingerprint, spki: existing.spki.toString('base64'), created: false };

    const { pkcs11, session: handle } = session;
    const mechanism = GENERATION_MECHANISM[profileOf(keyType).generation];
    const material = isEcKeyType(keyType) ? { ecParams: ecParamsOf(keyType) } : { modulusBits: modulusBitsOf(keyType), publicExponent: Buffer.from([0x01, 0x00, 0x01]) };
    // The async form: RSA key generation takes up to a second, and a blocked event loop misses Temporal heartbeats.
    const pair = await pkcs11.C_GenerateKeyPairAsync(
      handle,
      { mechanism },
      template({ ...material, ...publicKeyUsage(), label }),
      template({ ...privateKeyUsage(), label }),
    );
    const spki = spkiFromComponents(readPublicComponents(session, pair.publicKey));
    const fingerprint = fingerprintOf(spki);
    const id = Buffer.from(fingerprint, 'hex');
    pkcs11.C_SetAttributeValue(handle, pair.publicKey, template({ id }));
    pkcs11.C_SetAttributeValue(handle, pair.privateKey, template({ id }));
    rememberPair(session, fingerprint, pair);
    return { fingerprint, spki: spki.toString('base64'), created: true };
  }));
}

// ---------------------------------------------------------------------------------------------------------------------
// 2. describeKey

export async function describeKey(pool: TokenSessionPool, input: DescribeKeyInput): Promise<DescribeKeyResult> {
  idOf(input.fingerprint);
  return onSession(pool, `describing key ${input.fingerprint}`, (session) => {
    const { pkcs11, session: handle } = session;
    const { privateKey, publicKey, secretKeys } = findPairByFingerprint(session, input.fingerprint);
    const privateValues = privateKey ? readAttributeValues(pkcs11, handle, privateKey, ['sign', 'label']) : undefined;
    const labelled = privateKey ?? publicKey ?? secretKeys[0];
    const label = privateValues?.label ?? (labelled ? readAttributeValues(pkcs11, handle, labelled, ['label']).label : null);
    return { privateKey: privateKey !== undefined, publicKey: publicKey !== undefined, secretKey: secretKeys.length > 0, canSign: privateValues?.sign ?? null, label };
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 3. wrapPrivateKey

/** Wraps the private key under the named AES key (RFC 5649) with what another token needs to rebuild the pair. */
export async function wrapPrivateKey(pool: TokenSessionPool, input: WrapPrivateKeyInput): Promise<WrapPrivateKeyResult> {
  idOf(input.fingerprint);
  const wrappingKeyLabel = checkLabel(input.wrappingKeyLabel, 'wrappingKeyLabel');
  return onSession(pool, `wrapping key ${input.fingerprint} under '${wrappingKeyLabel}'`, async (session) => {
    const { privateKey, publicKey } = lookUpPair(session, input.fingerprint);
    if (!privateKey) throw new KeyNotFoundError(session.nodeId, `no private key of key ${input.fingerprint} on this token`);
    if (!publicKey) throw new KeyNotFoundError(session.nodeId, `no public key of key ${input.fingerprint} on this token`);
    const wrappingKey = findWrappingKey(session, wrappingKeyLabel);
    const { label } = readAttributeValues(session.pkcs11, session.session, privateKey, ['label']);
    const components = readPublicComponents(session, publicKey);
    const keyType = keyTypeOfComponents(components);
    const wrapped = await session.pkcs11.C_WrapKeyAsync(session.session, AES_KEY_WRAP_PAD, wrappingKey, privateKey, Buffer.alloc(WRAP_BUFFER_BYTES));
    return { wrapped: wrapped.toString('base64'), keyType, label, publicKey: componentsToJson(components) };
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 4. importReplica

/** Destroys what a failed call made; a failure to do so is added to the original error, which it must not hide. */
export function undoCreated(session: PooledSession, created: pkcs11js.Handle[], fingerprint: string, error: unknown): unknown {
  const left = created.filter((handle) => {
    try {
      session.pkcs11.C_DestroyObject(session.session, handle);
      return false;
    } catch {
      return true;
    }
  });
  if (left.length === 0) return error;
  const retryable = error instanceof KeyrotorError ? error.retryable : true;
  return new HsmError(session.nodeId, ckrOf(error), `${(error as Error).message}; ${left.length} object(s) this call created for key ${fingerprint} could not be destroyed: remove them with destroyKeyObjects`, retryable, { cause: error });
}

/**
 * Rebuilds a key on this token from a wrapped private key and the public components, or completes a replica that an
 * earlier call left half-made. The replica is checked before it counts: its public key must have the fingerprint,
 * and its private key must sign what that public key verifies. A failed check destroys what this call created.
 */
export async function importReplica(pool: TokenSessionPool, input: ImportReplicaInput): Promise<ImportReplicaResult> {
  const { fingerprint } = input;
  const id = idOf(fingerprint);
  const keyType = checkKeyType(input.keyType);
  const label = checkLabel(input.label, 'label');
  const unwrappingKeyLabel = checkLabel(input.unwrappingKeyLabel, 'unwrappingKeyLabel');
  const wrapped = nonEmptyBase64(input.wrapped, 'wrapped');
  const components = componentsFromJson(input.publicKey);
  const described = keyTypeOfComponents(components);
  if (described !== keyType) throw new UserError('key_type_mismatch', `the public key is a ${described} key, not ${keyType}`);

  return createObjectsAlone(pool, () => onSession(pool, `importing a replica of key ${fingerprint}`, async (session) => {
    let { privateKey, publicKey } = lookUpPair(session, fingerprint);
    if (privateKey && publicKey) return { created: false };

    const created: pkcs11js.Handle[] = [];
    try {
      if (!privateKey) {
        privateKey = await unwrap(session, unwrappingKeyLabel, wrapped, template({ class: ObjectClass.privateKey, keyType: keyKindOf(keyType), ...privateKeyUsage(), id, label }));
        created.push(privateKey);
      }
      if (!publicKey) {
        publicKey = session.pkcs11.C_CreateObject(session.session, publicKeyTemplate(components, id, label));
        created.push(publicKey);
      }
      const spki = spkiFromComponents(readPublicComponents(session, publicKey));
      const actual = fingerprintOf(spki);
      if (actual !== fingerprint) throw fatal(session, `replica check failed: the public key made on this token has fingerprint ${actual}, not ${fingerprint}`);
      if (!(await signsFor(session, privateKey, keyType, spki))) {
        throw fatal(session, `replica check failed: the unwrapped private key does not sign for public key ${fingerprint}; the blob holds another key`);
      }
      rememberPair(session, fingerprint, { privateKey, publicKey });
      return { created: true };
    } catch (error) {
      throw undoCreated(session, created, fingerprint, error);
    }
  }));
}

// ---------------------------------------------------------------------------------------------------------------------
// 5. signDigest

/** Signs `data` as a JWS signer does (ES256/ES384: raw r||s; RS256: PKCS#1 v1.5 with SHA-256). */
export async function signDigest(pool: TokenSessionPool, input: SignDigestInput): Promise<SignDigestResult> {
  idOf(input.fingerprint);
  const data = decodeBase64(input.data, 'data');
  return onSession(pool, `signing with key ${input.fingerprint}`, async (session) => {
    const privateKey = requireByFingerprint(session, 'privateKey', input.fingerprint);
    const keyType = keyTypeOfPrivateKey(session, privateKey);
    try {
      const signature = await sign(session, privateKey, keyType, data);
      return { signature: signature.toString('base64'), alg: JWS_ALGORITHM[keyType] };
    } catch (error) {
      if (ckrOf(error) === 'CKR_KEY_FUNCTION_NOT_PERMITTED') {
        throw new HsmError(session.nodeId, 'CKR_KEY_FUNCTION_NOT_PERMITTED', `key ${input.fingerprint} has signing turned off on this node (CKA_SIGN false); turn it on with setSigning to sign with it`, false, { cause: error });
      }
      throw error;
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 6. setSigning

/** Turns CKA_SIGN of the private key on or off. A switch, not a revocation: only destroyKeyObjects is final. */
export async function setSigning(pool: TokenSessionPool, input: SetSigningInput): Promise<SetSigningResult> {
  idOf(input.fingerprint);
  return onSession(pool, `turning signing ${input.enabled ? 'on' : 'off'} for key ${input.fingerprint}`, (session) => {
    const privateKey = requireByFingerprint(session, 'privateKey', input.fingerprint);
    const { sign: current } = readAttributeValues(session.pkcs11, session.session, privateKey, ['sign']);
    if (current === input.enabled) return { changed: false };
    session.pkcs11.C_SetAttributeValue(session.session, privateKey, template({ sign: input.enabled }));
    return { changed: true };
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 7. destroyKeyObjects

/** Destroys the key's objects of the chosen classes, duplicates included; 0 when they are gone already. */
export async function destroyKeyObjects(pool: TokenSessionPool, input: DestroyKeyObjectsInput): Promise<DestroyKeyObjectsResult> {
  const id = idOf(input.fingerprint);
  const classes: Array<KeyClass | 'secretKey'> = [
    ...(input.privateKey ? ['privateKey' as const] : []), ...(input.publicKey ? ['publicKey' as const] : []), ...(input.secretKey === true ? ['secretKey' as const] : []),
  ];
  const destroyed = await onSession(pool, `destroying the objects of key ${input.fingerprint}`, (session) => {
    let count = 0;
    const found = findByClass(session, { id });
    for (const keyClass of classes) {
      session.knownHandles.delete(fingerprintName(keyClass, input.fingerprint));
      for (const handle of found[keyClass]) {
        session.pkcs11.C_DestroyObject(session.session, handle);
        count += 1;
      }
    }
    return count;
  });
  // What this process's module no longer shows may still be on the token: a module instance of its own looks again.
  const { found: residue } = await pool.destroyInFreshInstance({ fingerprint: input.fingerprint, classes });
  return { destroyed: destroyed + residue, residue };
}

// ---------------------------------------------------------------------------------------------------------------------
// 8. verifyArchivedBlob

/**
 * Proves that an archive blob restores the key with this SPKI: unwraps it into a session object, signs a random
 * challenge and verifies it against the SPKI. The temporary object is destroyed whatever happens.
 */
export async function verifyArchivedBlob(pool: TokenSessionPool, input: VerifyArchivedBlobInput): Promise<VerifyArchivedBlobResult> {
  const keyType = checkKeyType(input.keyType);
  const unwrappingKeyLabel = checkLabel(input.unwrappingKeyLabel, 'unwrappingKeyLabel');
  const wrapped = nonEmptyBase64(input.wrapped, 'wrapped');
  const spki = nonEmptyBase64(input.spki, 'spki');
  const described = keyTypeOfComponents(componentsFromSpki(spki));
  if (described !== keyType) throw new UserError('key_type_mismatch', `the SPKI is a ${described} key, not ${keyType}`);

  return createObjectsAlone(pool, () => onSession(pool, `verifying an archived ${keyType} key under '${unwrappingKeyLabel}'`, async (session) => {
    const temporary = await unwrap(session, unwrappingKeyLabel, wrapped, template({ class: ObjectClass.privateKey, keyType: keyKindOf(keyType), ...temporaryKeyUsage() }));
    try {
      return { matches: await signsFor(session, temporary, keyType, spki) };
    } finally {
      session.pkcs11.C_DestroyObject(session.session, temporary);
    }
  }));
}

// ---------------------------------------------------------------------------------------------------------------------
// 9. listKeyObjects

function describeKeyType(session: PooledSession, object: pkcs11js.Handle, kind: number): string {
  const { pkcs11, session: handle } = session;
  if (kind === KeyKind.ec) {
    const { ecParams } = readAttributeValues(pkcs11, handle, object, ['ecParams']);
    return ecKeyTypeOf(ecParams) ?? `ec-${ecParams.toString('hex')}`;
  }
  if (kind === KeyKind.rsa) return `rsa-${modulusBitLength(readAttributeValues(pkcs11, handle, object, ['modulus']).modulus)}`;
  if (kind === KeyKind.aes) return `aes-${readAttributeValues(pkcs11, handle, object, ['valueLen']).valueLen * 8}`;
  return keyKindName(kind);
}

/** Every key object the session can see, token and session objects alike, for inventory and sync. */
export async function listKeyObjects(pool: TokenSessionPool): Promise<KeyObjectListing[]> {
  return onSession(pool, 'listing the key objects', (session) => {
    const listing: KeyObjectListing[] = [];
    for (const keyClass of ['privateKey', 'publicKey', 'secretKey'] as const) {
      for (const object of findObjects(session.pkcs11, session.session, template({ class: ObjectClass[keyClass] }))) {
        const { id, label, keyType, token } = readAttributeValues(session.pkcs11, session.session, object, ['id', 'label', 'keyType', 'token']);
        const canSign = keyClass === 'publicKey' ? null : readAttributeValues(session.pkcs11, session.session, object, ['sign']).sign;
        listing.push({ class: keyClass, idHex: id.toString('hex'), label, keyType: describeKeyType(session, object, keyType), canSign, token });
      }
    }
    return listing;
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 10. seedRandom

/** Mixes caller entropy into the token's generator (SoftHSM: additional input to OpenSSL's DRBG; output stays unpredictable). */
export async function seedRandom(pool: TokenSessionPool, input: SeedRandomInput): Promise<Record<string, never>> {
  const seed = nonEmptyBase64(input.seed, 'seed');
  return onSession(pool, 'seeding the random generator', ({ pkcs11, session }) => {
    pkcs11.C_SeedRandom(session, seed);
    return {};
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// 11. restorePublicKey

export interface RestorePublicKeyInput { fingerprint: string; label: string; spki: string }
export interface RestorePublicKeyResult { created: boolean; bytesWritten: number }

/**
 * Puts a version's public key back on this token from its SPKI, as the key map records it: nothing secret is needed.
 * Idempotent: a token that holds the public key already is left alone.
 */
export async function restorePublicKey(pool: TokenSessionPool, input: RestorePublicKeyInput): Promise<RestorePublicKeyResult> {
  const id = idOf(input.fingerprint);
  const label = checkLabel(input.label, 'label');
  const spki = nonEmptyBase64(input.spki, 'spki');
  const actual = fingerprintOf(spki);
  if (actual !== input.fingerprint) throw new UserError('fingerprint_mismatch', `the SPKI has fingerprint ${actual}, not ${input.fingerprint}`);
  const components = componentsFromSpki(spki);
  const bytesWritten = Object.values(components).reduce((sum: number, part: Buffer) => sum + part.length, 0);
  return createObjectsAlone(pool, () => onSession(pool, `restoring the public key of ${input.fingerprint}`, (session) => {
    if (lookUpByFingerprint(session, 'publicKey', input.fingerprint)) return { created: false, bytesWritten: 0 };
    session.pkcs11.C_CreateObject(session.session, publicKeyTemplate(components, id, label));
    return { created: true, bytesWritten };
  }));
}
