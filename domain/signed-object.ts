import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json';

/**
 * The envelope of the objects the cluster map-signing key signs and every node keeps as a PKCS#11 data object (the
 * key map snapshot's head, the audit anchor): `{ <body>, signature }` in canonical JSON, so that anything but the exact
 * bytes keyrotor wrote is recognised as not written by it. The body's own checks stay with the body.
 */

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

export interface ObjectSignature {
  alg: 'ES256';
  /** The map-signing key's fingerprint (SHA-256 of its SPKI). */
  keyFingerprint: string;
  /** Raw r||s, base64. */
  value: string;
}

/** Checks a signature over a text with the map-signing public key. */
export type SignatureCheck = (text: string, signature: ObjectSignature) => boolean;

/** The object value a node holds: the body under its field name and the signature, in canonical JSON. */
export function signedObjectValue<Field extends string>(field: Field, body: unknown, signature: ObjectSignature): string {
  return canonicalJson({ [field]: body, signature });
}

/**
 * Opens an envelope: `value` must be JSON in canonical form. Returns the body (unchecked) and the signature (checked by
 * `isObjectSignature` after the body's own checks), or the problem, naming the object as `noun`.
 */
export function openSignedObject(value: string, field: string, noun: string): { body: unknown; signature: unknown } | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return `the ${noun} object is not JSON`;
  }
  // Anything but the exact canonical form was not written by keyrotor, even where the meaning is the same.
  if (canonicalJson(parsed) !== value) return `the ${noun} object is not in canonical form`;
  const fields = (parsed ?? {}) as Record<string, unknown>;
  return { body: fields[field], signature: fields.signature };
}

export function isObjectSignature(signature: unknown): signature is ObjectSignature {
  if (typeof signature !== 'object' || signature === null) return false;
  const { alg, keyFingerprint, value } = signature as Partial<ObjectSignature>;
  return alg === 'ES256' && typeof keyFingerprint === 'string' && typeof value === 'string';
}
