import * as pkcs11js from 'pkcs11js';
import type { KeyTypeProfile, MechanismName } from '../../domain/keys/key-types';
import { readAttributes } from './token';

/**
 * Readable names for the PKCS#11 values keyrotor uses, in one table. Templates are written as
 * `template({ class: ObjectClass.privateKey, sign: true })` and built afresh on every call, never edited in place.
 */

export const ObjectClass = {
  data: pkcs11js.CKO_DATA,
  publicKey: pkcs11js.CKO_PUBLIC_KEY,
  privateKey: pkcs11js.CKO_PRIVATE_KEY,
  secretKey: pkcs11js.CKO_SECRET_KEY,
} as const;

export const KeyKind = {
  rsa: pkcs11js.CKK_RSA,
  ec: pkcs11js.CKK_EC,
  aes: pkcs11js.CKK_AES,
  genericSecret: pkcs11js.CKK_GENERIC_SECRET,
  // pkcs11js lacks the constant; SoftHSM makes Ed25519 keys of this type.
  ecEdwards: 0x40,
} as const;

/** The generation mechanism each key type names in domain/keys/key-types.ts. */
export const GENERATION_MECHANISM: Record<KeyTypeProfile['generation'], number> = {
  CKM_AES_KEY_GEN: pkcs11js.CKM_AES_KEY_GEN,
  CKM_RSA_PKCS_KEY_PAIR_GEN: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN,
  CKM_EC_KEY_PAIR_GEN: pkcs11js.CKM_EC_KEY_PAIR_GEN,
};

/** The mechanisms key types name (CKA_ALLOWED_MECHANISMS). */
export const MECHANISM: Record<MechanismName, number> = {
  CKM_AES_KEY_WRAP_PAD: pkcs11js.CKM_AES_KEY_WRAP_PAD,
  CKM_AES_GCM: pkcs11js.CKM_AES_GCM,
  CKM_RSA_PKCS_OAEP: pkcs11js.CKM_RSA_PKCS_OAEP,
};

/** A CK_MECHANISM_TYPE array as CKA_ALLOWED_MECHANISMS holds it: CK_ULONGs, 8 bytes little-endian on 64-bit Linux. */
export function mechanismList(mechanisms: readonly number[]): Buffer {
  const bytes = Buffer.alloc(8 * mechanisms.length);
  mechanisms.forEach((mechanism, index) => bytes.writeBigUInt64LE(BigInt(mechanism), 8 * index));
  return bytes;
}

/** The CKK_ value of each key kind a type names. */
export const KEY_KIND_OF: Record<KeyTypeProfile['keyKind'], number> = { ec: KeyKind.ec, rsa: KeyKind.rsa, aes: KeyKind.aes };

type ValueKind = 'boolean' | 'ulong' | 'bytes' | 'string';

const attribute = <K extends ValueKind>(type: number, name: string, kind: K): { type: number; name: string; kind: K } => ({ type, name, kind });

export const ATTRIBUTES = {
  class: attribute(pkcs11js.CKA_CLASS, 'CKA_CLASS', 'ulong'),
  keyType: attribute(pkcs11js.CKA_KEY_TYPE, 'CKA_KEY_TYPE', 'ulong'),
  id: attribute(pkcs11js.CKA_ID, 'CKA_ID', 'bytes'),
  label: attribute(pkcs11js.CKA_LABEL, 'CKA_LABEL', 'string'),
  token: attribute(pkcs11js.CKA_TOKEN, 'CKA_TOKEN', 'boolean'),
  private: attribute(pkcs11js.CKA_PRIVATE, 'CKA_PRIVATE', 'boolean'),
  modifiable: attribute(pkcs11js.CKA_MODIFIABLE, 'CKA_MODIFIABLE', 'boolean'),
  sensitive: attribute(pkcs11js.CKA_SENSITIVE, 'CKA_SENSITIVE', 'boolean'),
  extractable: attribute(pkcs11js.CKA_EXTRACTABLE, 'CKA_EXTRACTABLE', 'boolean'),
  wrapWithTrusted: attribute(pkcs11js.CKA_WRAP_WITH_TRUSTED, 'CKA_WRAP_WITH_TRUSTED', 'boolean'),
  sign: attribute(pkcs11js.CKA_SIGN, 'CKA_SIGN', 'boolean'),
  signRecover: attribute(pkcs11js.CKA_SIGN_RECOVER, 'CKA_SIGN_RECOVER', 'boolean'),
  verify: attribute(pkcs11js.CKA_VERIFY, 'CKA_VERIFY', 'boolean'),
  verifyRecover: attribute(pkcs11js.CKA_VERIFY_RECOVER, 'CKA_VERIFY_RECOVER', 'boolean'),
  encrypt: attribute(pkcs11js.CKA_ENCRYPT, 'CKA_ENCRYPT', 'boolean'),
  decrypt: attribute(pkcs11js.CKA_DECRYPT, 'CKA_DECRYPT', 'boolean'),
  wrap: attribute(pkcs11js.CKA_WRAP, 'CKA_WRAP', 'boolean'),
  unwrap: attribute(pkcs11js.CKA_UNWRAP, 'CKA_UNWRAP', 'boolean'),
  derive: attribute(pkcs11js.CKA_DERIVE, 'CKA_DERIVE', 'boolean'),
  ecParams: attribute(pkcs11js.CKA_EC_PARAMS, 'CKA_EC_PARAMS', 'bytes'),
  ecPoint: attribute(pkcs11js.CKA_EC_POINT, 'CKA_EC_POINT', 'bytes'),
  modulus: attribute(pkcs11js.CKA_MODULUS, 'CKA_MODULUS', 'bytes'),
  modulusBits: attribute(pkcs11js.CKA_MODULUS_BITS, 'CKA_MODULUS_BITS', 'ulong'),
  publicExponent: attribute(pkcs11js.CKA_PUBLIC_EXPONENT, 'CKA_PUBLIC_EXPONENT', 'bytes'),
  valueLen: attribute(pkcs11js.CKA_VALUE_LEN, 'CKA_VALUE_LEN', 'ulong'),
  // An array of CK_MECHANISM_TYPE: write it with mechanismList.
  allowedMechanisms: attribute(pkcs11js.CKA_ALLOWED_MECHANISMS, 'CKA_ALLOWED_MECHANISMS', 'bytes'),
  // Data objects: the key map's snapshot.
  value: attribute(pkcs11js.CKA_VALUE, 'CKA_VALUE', 'bytes'),
  application: attribute(pkcs11js.CKA_APPLICATION, 'CKA_APPLICATION', 'string'),
} as const;
export type AttributeName = keyof typeof ATTRIBUTES;

type ValueOf<K extends ValueKind> = K extends 'boolean' ? boolean : K extends 'ulong' ? number : K extends 'bytes' ? Buffer : string;
export type AttributeValues = { [N in AttributeName]: ValueOf<(typeof ATTRIBUTES)[N]['kind']> };

/** 'ec', 'aes' for messages and listings; a kind outside the table by its number. */
export function keyKindName(value: number): string {
  return Object.entries(KeyKind).find(([, kind]) => kind === value)?.[0] ?? `CKK_0x${value.toString(16)}`;
}

/** A fresh pkcs11js template from named values; entries left undefined are left out. */
export function template(values: Partial<AttributeValues>): pkcs11js.Template {
  const result: pkcs11js.Template = [];
  for (const [name, value] of Object.entries(values) as Array<[AttributeName, AttributeValues[AttributeName] | undefined]>) {
    if (value !== undefined) result.push({ type: ATTRIBUTES[name].type, value });
  }
  return result;
}

function decode(name: AttributeName, raw: Buffer): AttributeValues[AttributeName] {
  const { kind, name: ckaName } = ATTRIBUTES[name];
  switch (kind) {
    case 'boolean':
      if (raw.length !== 1) throw new Error(`${ckaName} has ${raw.length} bytes where a CK_BBOOL has 1`);
      return raw[0] !== 0;
    case 'ulong': {
      // CK_ULONG is the platform's unsigned long: 8 bytes on 64-bit Linux, 4 on Windows.
      if (raw.length === 4) return raw.readUInt32LE(0);
      if (raw.length !== 8) throw new Error(`${ckaName} has ${raw.length} bytes where a CK_ULONG has 4 or 8`);
      const value = raw.readBigUInt64LE(0);
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${ckaName} is 0x${value.toString(16)}, beyond the values keyrotor reads`);
      return Number(value);
    }
    case 'bytes':
      return Buffer.from(raw);
    case 'string':
      return raw.toString('utf8');
  }
}

/**
 * Reads named attributes of one object. An attribute the token will not give (absent, sensitive, malformed) is an error,
 * never a default: a security attribute that cannot be read must not read as "off".
 */
export function readAttributeValues<N extends AttributeName>(
  pkcs11: pkcs11js.PKCS11,
  session: pkcs11js.Handle,
  object: pkcs11js.Handle,
  names: readonly N[],
): Pick<AttributeValues, N> {
  const raw = readAttributes(pkcs11, session, object, names.map((name) => ATTRIBUTES[name].type));
  const values: Partial<AttributeValues> = {};
  for (const name of names) {
    const value = raw.get(ATTRIBUTES[name].type);
    if (value === undefined) throw new Error(`the token returned no ${ATTRIBUTES[name].name}`);
    Object.assign(values, { [name]: decode(name, value) });
  }
  return values as Pick<AttributeValues, N>;
}
