import type { FastifyInstance } from 'fastify';
import { KeyNameParamsSchema, type KeyNameParams } from '../schemas/bounds';
import { JwksSchema, PublicKeysSchema } from '../schemas/jwks';
import { problems, publicErrors } from '../schemas/problem';
import type { PublicKeyService } from '../services/public-keys';
import { routesOf } from './route-options';

const route = routesOf('keys');

/** Public keys for applications: no authentication, as a JWKS endpoint must be. */
export function jwksRoutes(app: FastifyInstance, publicKeys: PublicKeyService): void {
  app.get('/.well-known/jwks.json', {
    ...route(null, 'Every active and retiring version of every key, as a JSON Web Key Set', { response: { 200: JwksSchema, ...publicErrors } }),
    handler: async (_request, reply) => {
      const jwks = await publicKeys.jwks();
      // Short caching: a new version is published before it signs, and a cache must not hide it for long.
      void reply.header('cache-control', 'public, max-age=60');
      return jwks;
    },
  });

  app.get<{ Params: KeyNameParams }>('/keys/:name/public', {
    ...route(null, 'The public keys of one key\'s active and retiring versions, as PEM and JWK', {
      params: KeyNameParamsSchema,
      response: { 200: PublicKeysSchema, ...publicErrors, ...problems(404) },
    }),
    handler: async (request) => publicKeys.ofKey(request.params.name),
  });
}
