import { createPublicKey } from 'node:crypto';
import type { Database } from '../../adapters/postgres/database';
import { publishedVersions } from '../../adapters/postgres/key-repository';
import { NotFoundError } from '../../domain/errors';
import { validateKeyName, type KeyVersion } from '../../domain/keys/key-model';
import { JWS_ALGORITHM, isDefinedKeyType, isSigningKeyType, profileOf, type DefinedKeyType } from '../../domain/keys/key-types';
import type { Jwk, Jwks, PublicKeys } from '../schemas/jwks';

type Published = KeyVersion & { name: string; keyType: string; spki: string };

/**
 * The JWK of a published version: `use: sig` with its JWS algorithm for a signing key; `use: enc` with the JWE
 * algorithm its HSM decrypts (chosen when it was generated) for an RSA-OAEP key.
 */
function jwkOf(v: Published): Jwk {
  const jwk = createPublicKey({ key: Buffer.from(v.spki, 'base64'), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  const keyType = v.keyType as DefinedKeyType;
  if (isSigningKeyType(keyType)) return { ...jwk, kty: jwk.kty as string, kid: v.kid, alg: JWS_ALGORITHM[keyType], use: 'sig' };
  return { ...jwk, kty: jwk.kty as string, kid: v.kid, alg: v.jweAlg ?? 'RSA-OAEP', use: 'enc' };
}

/**
 * Whether a version's public key belongs in the JWKS. Signing keys: pending (once published), active and retiring, so
 * verifiers know every key that may have signed. Encryption keys: pending (once published) and active only; a retiring
 * version only decrypts, so no application may be offered its public key to encrypt to.
 */
function listed(v: KeyVersion & { keyType: string; spki: string | null }): v is Published {
  if (v.spki === null || !isDefinedKeyType(v.keyType)) return false;
  return profileOf(v.keyType).family === 'signing' || v.state !== 'retiring';
}

/** What the public-key routes do: the published versions (active, retiring, and pending ones already published). */
export class PublicKeyService {
  constructor(private readonly db: Database) {}

  /** Every published version of every key, as a JSON Web Key Set. */
  async jwks(): Promise<Jwks> {
    const versions = (await publishedVersions(this.db)).filter(listed);
    return { keys: versions.map(jwkOf) };
  }

  /** One key's published versions as PEM and JWK, or says it has none. */
  async ofKey(name: string): Promise<PublicKeys> {
    const key = validateKeyName(name);
    const versions = (await publishedVersions(this.db, key)).filter(listed);
    if (versions.length === 0) throw new NotFoundError('published key', key);
    return {
      name: key,
      versions: versions.map((v) => ({
        version: v.version,
        kid: v.kid,
        state: v.state,
        fingerprint: v.fingerprint,
        pem: createPublicKey({ key: Buffer.from(v.spki, 'base64'), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString(),
        jwk: jwkOf(v),
      })),
    };
  }
}
