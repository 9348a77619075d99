import { createPublicKey } from 'node:crypto';
import type { Database } from '../../adapters/postgres/database';
import { publishedVersions } from '../../adapters/postgres/key-repository';
import { NotFoundError } from '../../domain/errors';
import { JWS_ALGORITHM, validateKeyName, type KeyType } from '../../domain/keys/key-model';
import type { Jwk, Jwks, PublicKeys } from '../schemas/jwks';

function jwkOf(spki: string, kid: string, keyType: KeyType): Jwk {
  const jwk = createPublicKey({ key: Buffer.from(spki, 'base64'), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  return { ...jwk, kty: jwk.kty as string, kid, alg: JWS_ALGORITHM[keyType], use: 'sig' };
}

/** What the public-key routes do: the published versions (active, retiring, and pending ones already published). */
export class PublicKeyService {
  constructor(private readonly db: Database) {}

  /** Every published version of every key, as a JSON Web Key Set. */
  async jwks(): Promise<Jwks> {
    const versions = await publishedVersions(this.db);
    return { keys: versions.map((v) => jwkOf(v.spki, v.kid, v.keyType as KeyType)) };
  }

  /** One key's published versions as PEM and JWK, or says it has none. */
  async ofKey(name: string): Promise<PublicKeys> {
    const key = validateKeyName(name);
    const versions = await publishedVersions(this.db, key);
    if (versions.length === 0) throw new NotFoundError('published key', key);
    return {
      name: key,
      versions: versions.map((v) => ({
        version: v.version,
        kid: v.kid,
        state: v.state,
        fingerprint: v.fingerprint,
        pem: createPublicKey({ key: Buffer.from(v.spki, 'base64'), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString(),
        jwk: jwkOf(v.spki, v.kid, v.keyType as KeyType),
      })),
    };
  }
}
