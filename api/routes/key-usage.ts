import type { FastifyInstance } from 'fastify';
import { READERS } from '../auth';
import { KeyNameParamsSchema, type Defaulted, type KeyNameParams } from '../schemas/bounds';
import { KeyUsageQuerySchema, KeyUsageSchema, type KeyUsageQuery } from '../schemas/key-usage';
import { problems } from '../schemas/problem';
import type { KeyService } from '../services/keys';
import { routesOf } from './route-options';

const route = routesOf('prediction');

export function keyUsageRoutes(app: FastifyInstance, keys: KeyService): void {
  app.get<{ Params: KeyNameParams; Querystring: Defaulted<KeyUsageQuery, 'hours'> }>('/keys/:name/usage', {
    ...route(
      READERS,
      'Hourly private-key use (sign, decrypt, unwrap) of a key, the hour now running last; the forecast (mean and interval per hour) and the anomaly report of its latest risk evaluation',
      { params: KeyNameParamsSchema, querystring: KeyUsageQuerySchema, response: { 200: KeyUsageSchema, ...problems(404) } },
    ),
    handler: async (request) => keys.usage(request.params.name, request.query.hours),
  });
}
