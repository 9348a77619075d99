import type { FastifyInstance } from 'fastify';
import { DATA_KEY_MAKERS, REWRAPPERS, UNWRAPPERS } from '../auth';
import { KeyNameParamsSchema, type KeyNameParams } from '../schemas/bounds';
import { DataKeyBodySchema, DataKeySchema, EnvelopeBodySchema, RewrapSchema, UnwrapSchema, type DataKeyBody, type EnvelopeBody } from '../schemas/envelope';
import { problems } from '../schemas/problem';
import type { EnvelopeService } from '../services/envelope';
import { routesOf } from './route-options';

const route = routesOf('envelope');
/** No such key or version; a version that no longer decrypts (409 archived or switched off, 410 purged); an HSM that failed. */
const refusals = problems(404, 409, 410, 502);

/** The application a call is recorded for in the key's usage: the token's name. */
const appOf = (request: { principal?: { name: string } }): string => request.principal?.name ?? 'anonymous';

export function envelopeRoutes(app: FastifyInstance, envelope: EnvelopeService): void {
  app.post<{ Params: KeyNameParams; Body: DataKeyBody }>('/keys/:name/datakey', {
    ...route(
      DATA_KEY_MAKERS,
      'A new data key, made in the HSM and wrapped under the active version of an aes-256 key; its plaintext only if asked, once',
      { params: KeyNameParamsSchema, body: DataKeyBodySchema, response: { 200: DataKeySchema, ...refusals } },
    ),
    handler: async (request) =>
      envelope.dataKey(request.params.name, { bytes: request.body.bytes ?? 32, plaintext: request.body.plaintext ?? false, ...(request.body.count === undefined ? {} : { count: request.body.count }), app: appOf(request) }),
  });

  app.post<{ Params: KeyNameParams; Body: EnvelopeBody }>('/keys/:name/unwrap', {
    ...route(
      UNWRAPPERS,
      'The plaintext data key of a ciphertext, opened in the HSM by the version it names while that version may decrypt',
      { params: KeyNameParamsSchema, body: EnvelopeBodySchema, response: { 200: UnwrapSchema, ...refusals } },
    ),
    handler: async (request) => envelope.unwrap(request.params.name, request.body, appOf(request)),
  });

  app.post<{ Params: KeyNameParams; Body: EnvelopeBody }>('/keys/:name/rewrap', {
    ...route(
      REWRAPPERS,
      'Moves wrapped data keys to the active version inside the HSM (unwrapped into a session object, wrapped again, destroyed): the plaintext never leaves it',
      { params: KeyNameParamsSchema, body: EnvelopeBodySchema, response: { 200: RewrapSchema, ...refusals } },
    ),
    handler: async (request) => envelope.rewrap(request.params.name, request.body, appOf(request)),
  });
}
