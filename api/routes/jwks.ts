import { createPublicKey } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { publishedVersions } from '../../adapters/postgres/key-repository';
import type { Database } from '../../adapters/postgres/database';
import { NotFoundError } from '../../domain/errors';
import { JWS_ALGORITHM, validateKeyName, type KeyType } from '../../domain/keys/key-model';
import { keyNameParams } from '../schemas/bounds';
import { problemRef, publicErrors } from '../schemas/problem';

const jwkSchema = {
  type: 'object',
  required: ['kty', 'kid', 'alg', 'use'],
  properties: {
    kty: { type: 'string' }, kid: { type: 'string' }, alg: { type: 'string' }, use: { type: 'string' },
    crv: { type: 'string' }, x: { type: 'string' }, y: { type: 'string' }, n: { type: 'string' }, e: { type: 'string' },
  },
} as const;

function jwkOf(spki: string, kid: string, keyType: KeyType): Record<string, unknown> {
  const jwk = createPublicKey({ key: Buffer.from(spki, 'base64'), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  return { ...jwk, kid, alg: JWS_ALGORITHM[keyType], use: 'sig' };
}

/** Public keys for applications: no authentication, as a JWKS endpoint must be. */
export function jwksRoutes(app: FastifyInstance, db: Database): void {
  app.get('/.well-known/jwks.json', {
    schema: {
      tags: ['keys'],
      summary: 'Every active and retiring version of every key, as a JSON Web Key Set',
      response: { 200: { type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: jwkSchema } } }, ...publicErrors },
    },
    handler: async (_request, reply) => {
      const versions = await publishedVersions(db);
      // Short caching: a new version is published before it signs, and a cache must not hide it for long.
      void reply.header('cache-control', 'public, max-age=60');
      return { keys: versions.map((v) => jwkOf(v.spki, v.kid, v.keyType as KeyType)) };
    },
  });

  app.get<{ Params: { name: string } }>('/keys/:name/public', {
    schema: {
      tags: ['keys'],
      summary: 'The public keys of one key\'s active and retiring versions, as PEM and JWK',
      params: keyNameParams,
      response: {
        200: {
          type: 'object',
          required: ['name', 'versions'],
          properties: {
            name: { type: 'string' },
            versions: {
              type: 'array',
              items: {
                type: 'object',
                required: ['version', 'kid', 'state', 'fingerprint', 'pem', 'jwk'],
                properties: { version: { type: 'integer' }, kid: { type: 'string' }, state: { type: 'string' }, fingerprint: { type: 'string' }, pem: { type: 'string' }, jwk: jwkSchema },
              },
            },
          },
        },
        ...publicErrors,
        404: problemRef,
      },
    },
    handler: async (request) => {
      const name = validateKeyName(request.params.name);
      const versions = await publishedVersions(db, name);
      if (versions.length === 0) throw new NotFoundError('published key', name);
      return {
        name,
        versions: versions.map((v) => ({
          version: v.version,
          kid: v.kid,
          state: v.state,
          fingerprint: v.fingerprint,
          pem: createPublicKey({ key: Buffer.from(v.spki, 'base64'), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString(),
          jwk: jwkOf(v.spki, v.kid, v.keyType as KeyType),
        })),
      };
    },
  });
}
