import { Type, type Static } from '@sinclair/typebox';

/** A public key as a JSON Web Key (RFC 7517): the key type's own fields, and the kid, alg and use it signs with. */
export const JwkSchema = Type.Object({
  kty: Type.String(),
  kid: Type.String(),
  alg: Type.String(),
  use: Type.String(),
  crv: Type.Optional(Type.String()),
  x: Type.Optional(Type.String()),
  y: Type.Optional(Type.String()),
  n: Type.Optional(Type.String()),
  e: Type.Optional(Type.String()),
});
export type Jwk = Static<typeof JwkSchema>;

export const JwksSchema = Type.Object({ keys: Type.Array(JwkSchema) });
export type Jwks = Static<typeof JwksSchema>;

/** GET /keys/{name}/public: one key's published versions, as PEM and JWK. */
export const PublicKeysSchema = Type.Object({
  name: Type.String(),
  versions: Type.Array(
    Type.Object({ version: Type.Integer(), kid: Type.String(), state: Type.String(), fingerprint: Type.String(), pem: Type.String(), jwk: JwkSchema }),
  ),
});
export type PublicKeys = Static<typeof PublicKeysSchema>;
