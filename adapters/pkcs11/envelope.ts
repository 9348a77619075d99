import { createPublicKey } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import type { ErrorCode } from '../../domain/error-codes';
import { KeyrotorError, UserError } from '../../domain/errors';
import { DATA_KEY_BYTES, decodeWrappedDataKey, type DataKeyBytes } from '../../domain/keys/ciphertext';
import { KeyKind, ObjectClass, readAttributeValues, template, type AttributeValues } from './attributes';
import { HsmError, ckrOf } from './errors';
import { AES_KEY_WRAP_PAD, KeyNotFoundError, WRAP_BUFFER_BYTES, fatal, idOf, onSession, requireByFingerprint } from './keys';
import type { PooledSession, TokenSessionPool } from './session-pool';

/**
 * Envelope encryption over the HSM: data keys made, unwrapped and rewrapped under a version of an aes-256 key (the
 * KEK), found by CKA_ID = the 32 bytes of its fingerprint. A data key exists in the HSM only as a session object for the
 * length of one call and is destroyed before the call returns, whatever happens; it leaves the HSM wrapped under a KEK
 * (CKM_AES_KEY_WRAP_PAD, RFC 5649) or sealed to the caller's transport key (CKM_RSA_PKCS_OAEP), never in clear.
 *
 * What the KEK version may do is its usage attributes on this node (setEncryptionUsage, from its state): a version
 * without CKA_WRAP (not active) makes and rewraps no data keys (`version_cannot_wrap`), one without CKA_UNWRAP (switched
 * off after a compromise) opens none (`version_cannot_unwrap`).
 *
 * What SoftHSM 2.6.1 answers, measured with session objects: a blob that fails the RFC 5649 integrity check (a bit
 * flipped, wrapped under another KEK, or cut to another multiple of 8) C_UnwrapKey refuses with CKR_GENERAL_ERROR, and a
 * blob whose length is not a multiple of 8 (or is 8) with CKR_WRAPPED_KEY_LEN_RANGE; neither leaves an object behind. A
 * KEK whose CKA_WRAP or CKA_UNWRAP is off gives CKR_KEY_FUNCTION_NOT_PERMITTED, checked before the blob. CKR_GENERAL_ERROR
 * also answers concurrent creation of token objects (keys.ts), but not of session objects: 200 concurrent session
 * C_GenerateKey calls on one token failed none. So here it reads as the blob's fault, and is not retried.
 */

export interface GenerateDataKeyInput {
  kekFingerprint: string;
  bytes: DataKeyBytes;
  /** An RSA public key (SPKI DER, base64, 2048 to 4096 bits) to seal the plaintext to; null: the wrapped key only. */
  transportKey: string | null;
}
/** `wrapped`: the data key under the KEK (RFC 5649, base64); `plaintextForTransport`: sealed to the transport key (base64). */
export interface GenerateDataKeyResult { wrapped: string; plaintextForTransport: string | null }

export interface UnwrapDataKeyInput { kekFingerprint: string; wrapped: string; transportKey: string }
export interface UnwrapDataKeyResult { plaintextForTransport: string }

export interface RewrapItem { fromFingerprint: string; wrapped: string }
export interface RewrapDataKeysInput { toFingerprint: string; items: RewrapItem[] }
/** The codes one item can be refused with while the rest of its batch goes on. */
export type RewrapItemCode = 'invalid_ciphertext' | 'invalid_fingerprint' | 'version_cannot_unwrap' | 'hsm_key_not_found';
export type RewrapItemResult = { ok: true; wrapped: string } | { ok: false; code: RewrapItemCode; message: string };
export interface RewrapDataKeysResult { items: RewrapItemResult[] }

/** The most items one rewrap call takes: its input and result stay far below Temporal's payload limit (2 MB). */
export const MAX_REWRAP_ITEMS = 1000;

const TRANSPORT_KEY_BITS = { min: 2048, max: 4096 };
// SoftHSM 2.6 does OAEP with SHA-1 and MGF1-SHA1 only (pkcs11-notes.md); no label. pkcs11js lacks CKZ_DATA_SPECIFIED.
const CKZ_DATA_SPECIFIED = 1;
const OAEP_SHA1: pkcs11js.Mechanism = {
  mechanism: pkcs11js.CKM_RSA_PKCS_OAEP,
  parameter: { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1, source: CKZ_DATA_SPECIFIED } as pkcs11js.RsaOAEP,
};

// Labels of the session objects: they tell them apart from the unfinished objects that keys.ts sweeps (no label, no
// ID, searched in every class and both token and session objects), which would otherwise take a transport key
// another session of this process is using.
const DATA_KEY_LABEL = 'keyrotor:envelope:data-key';
const TRANSPORT_KEY_LABEL = 'keyrotor:envelope:transport-key';

// ---------------------------------------------------------------------------------------------------------------------
// Templates, every usage flag explicit (SoftHSM turns on the ones a template leaves out), built afresh per call.

/**
 * A data key as a session object: sensitive (C_GetAttributeValue never gives CKA_VALUE), extractable only to be
 * wrapped, and usable for nothing else. Not CKA_WRAP_WITH_TRUSTED: the KEK versions and the caller's transport key are
 * not trusted keys (only the Security Officer marks those), and the object is gone before the call returns.
 */
const dataKeyFixed = (): Partial<AttributeValues> => ({
  class: ObjectClass.secretKey,
  keyType: KeyKind.aes,
  token: false,
  private: true,
  sensitive: true,
  extractable: true,
  wrapWithTrusted: false,
  encrypt: false,
  decrypt: false,
  wrap: false,
  unwrap: false,
  sign: false,
  verify: false,
  derive: false,
  label: DATA_KEY_LABEL,
});

const transportKeyTemplate = (modulus: Buffer, publicExponent: Buffer): pkcs11js.Template =>
  template({
    class: ObjectClass.publicKey, keyType: KeyKind.rsa, modulus, publicExponent, token: false, private: false,
    wrap: true, encrypt: false, verify: false, verifyRecover: false, derive: false, label: TRANSPORT_KEY_LABEL,
  });

// ---------------------------------------------------------------------------------------------------------------------
// Input checks, before a session is borrowed.

function checkBytes(bytes: number): DataKeyBytes {
  if (!(DATA_KEY_BYTES as readonly number[]).includes(bytes)) throw new UserError('invalid_data_key_size', `bytes must be one of ${DATA_KEY_BYTES.join(', ')} (AES-128, AES-192, AES-256)`);
  return bytes as DataKeyBytes;
}

/** The modulus and exponent of an RSA transport key given as SPKI DER in base64. */
function transportKeyOf(spki: string): { modulus: Buffer; publicExponent: Buffer } {
  const refuse = (why: string): UserError => new UserError('invalid_transport_key', `transportKey ${why}`);
  if (typeof spki !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(spki) || spki.length === 0 || spki.length > 2048) {
    throw refuse('must be an RSA public key as SPKI DER in base64');
  }
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(spki, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw refuse('is not a public key in SPKI DER');
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== 'rsa') throw refuse(`is a ${key.asymmetricKeyType ?? 'non-RSA'} key; it must be RSA (rsaEncryption)`);
  if (bits < TRANSPORT_KEY_BITS.min || bits > TRANSPORT_KEY_BITS.max) throw refuse(`has a ${bits}-bit modulus; it must have ${TRANSPORT_KEY_BITS.min} to ${TRANSPORT_KEY_BITS.max} bits`);
  const jwk = key.export({ format: 'jwk' });
  return { modulus: Buffer.from(jwk.n as string, 'base64url'), publicExponent: Buffer.from(jwk.e as string, 'base64url') };
}

// ---------------------------------------------------------------------------------------------------------------------
// Session helpers.

/**
 * Runs work on one borrowed session and lets a refusal found inside it (a blob that does not open, a version switched
 * off) out as the UserError it is: onSession would report it as the node's failure, which is for what keyrotor finds
 * wrong on a token.
 */
async function onEnvelopeSession<T>(pool: TokenSessionPool, operation: string, work: (session: PooledSession) => Promise<T>): Promise<T> {
  const outcome = await onSession(pool, operation, async (session): Promise<{ value: T } | { refusal: UserError }> => {
    try {
      return { value: await work(session) };
    } catch (error) {
      if (error instanceof UserError) return { refusal: error };
      throw error;
    }
  });
  if ('refusal' in outcome) throw outcome.refusal;
  return outcome.value;
}

/**
 * Runs work that makes session objects and destroys each of them after it, on success and failure alike. A session
 * object would otherwise outlive the call in the pool's long-lived session; one that cannot be destroyed is reported
 * (after the work's own failure, if any, which it must not hide).
 */
async function withSessionObjects<T>(session: PooledSession, work: (made: (handle: pkcs11js.Handle) => pkcs11js.Handle) => Promise<T>): Promise<T> {
  const handles: pkcs11js.Handle[] = [];
  let outcome: { value: T } | { error: unknown };
  try {
    outcome = { value: await work((handle) => {
      handles.push(handle);
      return handle;
    }) };
  } catch (error) {
    outcome = { error };
  }
  const left = destroyAll(session, handles);
  if ('error' in outcome) {
    if (left > 0 && !(outcome.error instanceof UserError)) {
      throw new HsmError(session.nodeId, ckrOf(outcome.error), `${(outcome.error as Error).message}; ${left} session object(s) of this call could not be destroyed`, false, { cause: outcome.error });
    }
    throw outcome.error;
  }
  if (left > 0) throw fatal(session, `${left} session object(s) of this call could not be destroyed; they go when the session pool closes`);
  return outcome.value;
}

function destroyAll(session: PooledSession, handles: pkcs11js.Handle[]): number {
  let left = 0;
  for (const handle of handles) {
    try {
      session.pkcs11.C_DestroyObject(session.session, handle);
    } catch {
      left += 1;
    }
  }
  return left;
}

/** The KEK version with this fingerprint on this token: one AES secret key, or KeyNotFoundError. */
function findKek(session: PooledSession, fingerprint: string): pkcs11js.Handle {
  idOf(fingerprint);
  const handle = requireByFingerprint(session, 'secretKey', fingerprint);
  const { keyType } = readAttributeValues(session.pkcs11, session.session, handle, ['keyType']);
  if (keyType !== KeyKind.aes) throw fatal(session, `key ${fingerprint} is not an AES key; data keys are wrapped only under aes-256 keys`);
  return handle;
}

const cannotWrap = (fingerprint: string, cause: unknown): UserError =>
  withCause(new UserError('version_cannot_wrap', `key version ${fingerprint} may not wrap data keys on this node (CKA_WRAP off): only the active version of a key wraps new data keys`), cause);
const cannotUnwrap = (fingerprint: string, cause: unknown): UserError =>
  withCause(new UserError('version_cannot_unwrap', `key version ${fingerprint} may not unwrap data keys on this node (CKA_UNWRAP off): it was switched off, as a compromised version without decryptAfterCompromise is`), cause);
const doesNotOpen = (fingerprint: string, ckr: string, cause: unknown): UserError =>
  withCause(new UserError('invalid_ciphertext', `the wrapped data key does not open under key version ${fingerprint} (${ckr}): it was damaged, or wrapped under another key`, { reason: 'integrity' }), cause);

/** UserError takes no options; the PKCS#11 error stays reachable as `cause` for the log. */
function withCause(error: UserError, cause: unknown): UserError {
  Object.defineProperty(error, 'cause', { value: cause, enumerable: false });
  return error;
}

// RFC 5649 integrity failures and lengths it does not allow, as SoftHSM and other modules name them.
const BLOB_REFUSALS = new Set(['CKR_GENERAL_ERROR', 'CKR_WRAPPED_KEY_INVALID', 'CKR_WRAPPED_KEY_LEN_RANGE', 'CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE']);

/** C_UnwrapKey of a data key blob into a session object, its failures in the caller's terms. */
async function unwrapDataKeyObject(session: PooledSession, kek: pkcs11js.Handle, kekFingerprint: string, blob: Buffer): Promise<pkcs11js.Handle> {
  try {
    return await session.pkcs11.C_UnwrapKeyAsync(session.session, AES_KEY_WRAP_PAD, kek, blob, template(dataKeyFixed()));
  } catch (error) {
    const ckr = ckrOf(error);
    if (ckr === 'CKR_KEY_FUNCTION_NOT_PERMITTED') throw cannotUnwrap(kekFingerprint, error);
    if (ckr !== undefined && BLOB_REFUSALS.has(ckr)) throw doesNotOpen(kekFingerprint, ckr, error);
    throw error;
  }
}

/** C_WrapKey of a data key under a KEK version; CKR_KEY_FUNCTION_NOT_PERMITTED: the version may not wrap. */
async function wrapUnderKek(session: PooledSession, kek: pkcs11js.Handle, kekFingerprint: string, dataKey: pkcs11js.Handle): Promise<Buffer> {
  try {
    return await session.pkcs11.C_WrapKeyAsync(session.session, AES_KEY_WRAP_PAD, kek, dataKey, Buffer.alloc(WRAP_BUFFER_BYTES));
  } catch (error) {
    if (ckrOf(error) === 'CKR_KEY_FUNCTION_NOT_PERMITTED') throw cannotWrap(kekFingerprint, error);
    throw error;
  }
}

/** Seals a data key to the transport key: imported as a session public key object, destroyed with the call's objects. */
async function sealToTransportKey(session: PooledSession, made: (handle: pkcs11js.Handle) => pkcs11js.Handle, transportKey: { modulus: Buffer; publicExponent: Buffer }, dataKey: pkcs11js.Handle): Promise<string> {
  const publicKey = made(session.pkcs11.C_CreateObject(session.session, transportKeyTemplate(transportKey.modulus, transportKey.publicExponent)));
  const sealed = await session.pkcs11.C_WrapKeyAsync(session.session, OAEP_SHA1, publicKey, dataKey, Buffer.alloc(transportKey.modulus.length + 16));
  return sealed.toString('base64');
}

// ---------------------------------------------------------------------------------------------------------------------
// 1. generateDataKey

/**
 * Makes a data key of `bytes` bytes in the HSM and gives it wrapped under the KEK version and, when a transport key is
 * given, sealed to it for the caller to open. The KEK must be allowed to wrap (the active version).
 */
export async function generateDataKey(pool: TokenSessionPool, input: GenerateDataKeyInput): Promise<GenerateDataKeyResult> {
  idOf(input.kekFingerprint);
  const bytes = checkBytes(input.bytes);
  const transportKey = input.transportKey === null ? null : transportKeyOf(input.transportKey);
  return onEnvelopeSession(pool, `generating a ${bytes * 8}-bit data key under key ${input.kekFingerprint}`, (session) => withSessionObjects(session, async (made) => {
    const kek = findKek(session, input.kekFingerprint);
    const dataKey = made(await session.pkcs11.C_GenerateKeyAsync(session.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template({ ...dataKeyFixed(), valueLen: bytes })));
    const wrapped = await wrapUnderKek(session, kek, input.kekFingerprint, dataKey);
    const plaintextForTransport = transportKey === null ? null : await sealToTransportKey(session, made, transportKey, dataKey);
    return { wrapped: wrapped.toString('base64'), plaintextForTransport };
  }));
}

// ---------------------------------------------------------------------------------------------------------------------
// 2. unwrapDataKey

/** Opens a wrapped data key under its KEK version inside the HSM and gives it sealed to the transport key. */
export async function unwrapDataKey(pool: TokenSessionPool, input: UnwrapDataKeyInput): Promise<UnwrapDataKeyResult> {
  idOf(input.kekFingerprint);
  const blob = decodeWrappedDataKey(input.wrapped);
  const transportKey = transportKeyOf(input.transportKey);
  return onEnvelopeSession(pool, `unwrapping a data key under key ${input.kekFingerprint}`, (session) => withSessionObjects(session, async (made) => {
    const kek = findKek(session, input.kekFingerprint);
    const dataKey = made(await unwrapDataKeyObject(session, kek, input.kekFingerprint, blob));
    return { plaintextForTransport: await sealToTransportKey(session, made, transportKey, dataKey) };
  }));
}

// ---------------------------------------------------------------------------------------------------------------------
// 3. rewrapDataKeys

const ITEM_CODES: ReadonlySet<ErrorCode> = new Set<RewrapItemCode>(['invalid_ciphertext', 'invalid_fingerprint', 'version_cannot_unwrap', 'hsm_key_not_found']);

/** An item's own refusal, reported in its result; anything else (the node, the target version) fails the batch. */
function itemRefusal(error: unknown): RewrapItemResult | undefined {
  if (error instanceof KeyrotorError && ITEM_CODES.has(error.code)) return { ok: false, code: error.code as RewrapItemCode, message: error.message };
  return undefined;
}

/**
 * Moves wrapped data keys to the version `toFingerprint`, each unwrapped inside the HSM under its own version and
 * wrapped again, in one borrowed session for the batch. An item that does not open (damaged, another KEK, its version
 * missing on this node or switched off) is answered in its result and the batch goes on; a target that may not wrap
 * (not the active version) or is missing fails the whole batch, since every item would fail alike.
 */
export async function rewrapDataKeys(pool: TokenSessionPool, input: RewrapDataKeysInput): Promise<RewrapDataKeysResult> {
  idOf(input.toFingerprint);
  if (!Array.isArray(input.items) || input.items.length === 0 || input.items.length > MAX_REWRAP_ITEMS) {
    throw new UserError('invalid_batch', `items must hold 1 to ${MAX_REWRAP_ITEMS} wrapped data keys`);
  }
  // Each item's form is checked first, so a malformed one never reaches the HSM.
  const checked = input.items.map((item): { fromFingerprint: string; blob: Buffer } | RewrapItemResult => {
    try {
      idOf(item?.fromFingerprint);
      return { fromFingerprint: item.fromFingerprint, blob: decodeWrappedDataKey(item.wrapped) };
    } catch (error) {
      const refusal = itemRefusal(error);
      if (refusal) return refusal;
      throw error;
    }
  });

  return onEnvelopeSession(pool, `rewrapping ${input.items.length} data key(s) to key ${input.toFingerprint}`, async (session) => {
    const target = findKek(session, input.toFingerprint);
    if (!readAttributeValues(session.pkcs11, session.session, target, ['wrap']).wrap) throw cannotWrap(input.toFingerprint, undefined);
    const keks = new Map<string, pkcs11js.Handle | KeyrotorError>();
    const kekOf = (fingerprint: string): pkcs11js.Handle => {
      let found = keks.get(fingerprint);
      if (found === undefined) {
        try {
          found = findKek(session, fingerprint);
        } catch (error) {
          if (!(error instanceof KeyNotFoundError)) throw error;
          found = error;
        }
        keks.set(fingerprint, found);
      }
      if (found instanceof KeyrotorError) throw found;
      return found;
    };

    const results: RewrapItemResult[] = [];
    for (const item of checked) {
      if ('ok' in item) {
        results.push(item);
        continue;
      }
      try {
        results.push(await withSessionObjects(session, async (made) => {
          const dataKey = made(await unwrapDataKeyObject(session, kekOf(item.fromFingerprint), item.fromFingerprint, item.blob));
          return { ok: true, wrapped: (await wrapUnderKek(session, target, input.toFingerprint, dataKey)).toString('base64') };
        }));
      } catch (error) {
        const refusal = itemRefusal(error);
        if (refusal) {
          results.push(refusal);
          continue;
        }
        throw error;
      }
    }
    return { items: results };
  });
}

