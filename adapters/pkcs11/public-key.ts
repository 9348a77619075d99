import { createHash, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { UserError } from '../../domain/errors';
import { SIGNING_KEY_TYPES as KEY_TYPES, type SigningKeyType as KeyType } from '../../domain/keys/key-types';
import { profileOf } from '../../domain/keys/key-types';

/**
 * Pure conversions between the public components PKCS#11 stores and the forms applications use (SPKI DER, JWK, PEM).
 * node:crypto does the ASN.1: keys go in as JWK and come out as SPKI, so every node derives the same DER, and with it
 * the same fingerprint, from the same components.
 */

/** Public components as PKCS#11 holds them: CKA_EC_PARAMS (DER OID) + CKA_EC_POINT (DER OCTET STRING), or modulus + exponent. */
export type PublicKeyComponents = { ecParams: Buffer; ecPoint: Buffer } | { modulus: Buffer; publicExponent: Buffer };

/** The same, JSON-safe (base64), as workflow and activity data carries it. */
export type PublicKeyComponentsJson = { ecParams: string; ecPoint: string } | { modulus: string; publicExponent: string };

export type EcKeyType = Extract<KeyType, `ec-${string}`>;
export type RsaKeyType = Extract<KeyType, `rsa-${string}`>;

const EC_CURVES: Record<EcKeyType, { ecParams: Buffer; crv: string; coordinateBytes: number; hash: 'sha256' | 'sha384' }> = {
  // DER of the named-curve OIDs 1.2.840.10045.3.1.7 (P-256) and 1.3.132.0.34 (P-384).
  'ec-p256': { ecParams: Buffer.from('06082a8648ce3d030107', 'hex'), crv: 'P-256', coordinateBytes: 32, hash: 'sha256' },
  'ec-p384': { ecParams: Buffer.from('06052b81040022', 'hex'), crv: 'P-384', coordinateBytes: 48, hash: 'sha384' },
};

/** CKA_MODULUS_BITS of the RSA types, as their definition gives it. */
const RSA_MODULUS_BITS = Object.fromEntries(
  KEY_TYPES.flatMap((type) => {
    const { size } = profileOf(type);
    return 'modulusBits' in size ? [[type, size.modulusBits]] : [];
  }),
) as Record<RsaKeyType, number>;

export function isEcKeyType(keyType: KeyType): keyType is EcKeyType {
  return keyType in EC_CURVES;
}

/** CKA_EC_PARAMS for generating a key of this type. */
export function ecParamsOf(keyType: EcKeyType): Buffer {
  return Buffer.from(EC_CURVES[keyType].ecParams);
}

/** CKA_MODULUS_BITS for generating a key of this type. */
export function modulusBitsOf(keyType: RsaKeyType): number {
  return RSA_MODULUS_BITS[keyType];
}

/** The hash a JWS signature of this key type is made over (ES256/RS256: SHA-256, ES384: SHA-384). */
export function signatureHashOf(keyType: KeyType): 'sha256' | 'sha384' {
  return isEcKeyType(keyType) ? EC_CURVES[keyType].hash : 'sha256';
}

const invalid = (message: string): UserError => new UserError('invalid_public_key', message);

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** The content of a DER OCTET STRING that must fill `der` exactly. */
function octetStringContent(der: Buffer): Buffer {
  if (der.length < 2 || der[0] !== 0x04) throw invalid('CKA_EC_POINT is not a DER OCTET STRING');
  const first = der[1] as number;
  let offset = 2;
  let length = first;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 2 || der.length < 2 + count) throw invalid('CKA_EC_POINT has an unusable DER length');
    length = der.subarray(2, 2 + count).reduce((sum, byte) => sum * 256 + byte, 0);
    offset = 2 + count;
  }
  if (offset + length !== der.length) throw invalid(`CKA_EC_POINT claims ${length} bytes of content but holds ${der.length - offset}`);
  return der.subarray(offset);
}

function withoutLeadingZeros(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start += 1;
  return value.subarray(start);
}

/** The managed EC key type whose curve CKA_EC_PARAMS names, if any. */
export function ecKeyTypeOf(ecParams: Buffer): EcKeyType | undefined {
  return (Object.keys(EC_CURVES) as EcKeyType[]).find((type) => EC_CURVES[type].ecParams.equals(ecParams));
}

/** The size of an RSA modulus in bits (big-endian bytes, leading zero bytes allowed). */
export function modulusBitLength(modulus: Buffer): number {
  const significant = withoutLeadingZeros(modulus);
  return (significant.length - 1) * 8 + (32 - Math.clz32(significant[0] ?? 0));
}

/** The key type the components describe; anything keyrotor does not manage is refused, naming what it is. */
export function keyTypeOfComponents(components: PublicKeyComponents): KeyType {
  if ('ecParams' in components) {
    const found = ecKeyTypeOf(components.ecParams);
    if (!found) throw invalid(`EC curve ${components.ecParams.toString('hex')} (DER) is neither P-256 nor P-384`);
    return found;
  }
  const bits = modulusBitLength(components.modulus);
  const found = (Object.keys(RSA_MODULUS_BITS) as RsaKeyType[]).find((type) => RSA_MODULUS_BITS[type] === bits);
  if (!found) throw invalid(`an RSA modulus of ${bits} bits is neither 2048 nor 3072 bits`);
  return found;
}

function publicKeyObjectOf(components: PublicKeyComponents): KeyObject {
  const keyType = keyTypeOfComponents(components);
  if ('ecParams' in components) {
    const { crv, coordinateBytes } = EC_CURVES[keyType as EcKeyType];
    const point = octetStringContent(components.ecPoint);
    if (point.length !== 1 + 2 * coordinateBytes || point[0] !== 0x04) {
      throw invalid(`CKA_EC_POINT does not hold an uncompressed ${crv} point (04 || x || y, ${1 + 2 * coordinateBytes} bytes)`);
    }
    const jwk = {
      kty: 'EC',
      crv,
      x: point.subarray(1, 1 + coordinateBytes).toString('base64url'),
      y: point.subarray(1 + coordinateBytes).toString('base64url'),
    };
    try {
      return createPublicKey({ key: jwk, format: 'jwk' });
    } catch (error) {
      throw invalid(`CKA_EC_POINT is not a point on ${crv} (${(error as Error).message})`);
    }
  }
  const jwk = { kty: 'RSA', n: withoutLeadingZeros(components.modulus).toString('base64url'), e: withoutLeadingZeros(components.publicExponent).toString('base64url') };
  return createPublicKey({ key: jwk, format: 'jwk' });
}

/** SPKI DER of the public key the components describe. */
export function spkiFromComponents(components: PublicKeyComponents): Buffer {
  return publicKeyObjectOf(components).export({ type: 'spki', format: 'der' });
}

function publicKeyFromSpki(spki: Buffer): KeyObject {
  try {
    return createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (error) {
    throw invalid(`not an SPKI DER public key (${(error as Error).message})`);
  }
}

/** The PKCS#11 components of an SPKI DER public key, as C_CreateObject takes them. */
export function componentsFromSpki(spki: Buffer): PublicKeyComponents {
  const jwk = publicKeyFromSpki(spki).export({ format: 'jwk' });
  if (jwk.kty === 'EC') {
    const curve = Object.values(EC_CURVES).find((entry) => entry.crv === jwk.crv);
    if (!curve || !jwk.x || !jwk.y) throw invalid(`EC curve ${jwk.crv ?? '(none)'} is neither P-256 nor P-384`);
    const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
    return { ecParams: Buffer.from(curve.ecParams), ecPoint: Buffer.concat([Buffer.from([0x04]), derLength(point.length), point]) };
  }
  if (jwk.kty === 'RSA' && jwk.n && jwk.e) {
    return { modulus: Buffer.from(jwk.n, 'base64url'), publicExponent: Buffer.from(jwk.e, 'base64url') };
  }
  throw invalid(`a ${jwk.kty ?? 'typeless'} public key is neither EC nor RSA`);
}

/** The key's identity: SHA-256 of its SPKI DER, hex. Its raw 32 bytes are the objects' CKA_ID. */
export function fingerprintOf(spki: Buffer): string {
  return createHash('sha256').update(spki).digest('hex');
}

export function spkiToJwk(spki: Buffer): JsonWebKey {
  return publicKeyFromSpki(spki).export({ format: 'jwk' });
}

export function spkiToPem(spki: Buffer): string {
  return publicKeyFromSpki(spki).export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * Checks a signature as a JWS verifier would: ES256/ES384 signatures are raw r||s (what CKM_ECDSA returns),
 * RS256 is PKCS#1 v1.5 over SHA-256.
 */
export function verifySignature(spki: Buffer, keyType: KeyType, data: Buffer, signature: Buffer): boolean {
  const key = publicKeyFromSpki(spki);
  return verify(signatureHashOf(keyType), data, isEcKeyType(keyType) ? { key, dsaEncoding: 'ieee-p1363' } : key, signature);
}

export function componentsToJson(components: PublicKeyComponents): PublicKeyComponentsJson {
  return 'ecParams' in components
    ? { ecParams: components.ecParams.toString('base64'), ecPoint: components.ecPoint.toString('base64') }
    : { modulus: components.modulus.toString('base64'), publicExponent: components.publicExponent.toString('base64') };
}

export function componentsFromJson(json: PublicKeyComponentsJson): PublicKeyComponents {
  return 'ecParams' in json
    ? { ecParams: decodeBase64(json.ecParams, 'publicKey.ecParams'), ecPoint: decodeBase64(json.ecPoint, 'publicKey.ecPoint') }
    : { modulus: decodeBase64(json.modulus, 'publicKey.modulus'), publicExponent: decodeBase64(json.publicExponent, 'publicKey.publicExponent') };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64: Buffer.from(…, 'base64') would silently skip characters that do not belong. */
export function decodeBase64(value: string, field: string): Buffer {
  if (!BASE64.test(value)) throw new UserError('invalid_base64', `${field} is not base64`);
  return Buffer.from(value, 'base64');
}
