import type { FastifyInstance } from 'fastify';
import { READERS } from '../auth';
import { keyNameParams, limitSchema } from '../schemas/bounds';
import { KeyUsageSchema } from '../schemas/key-usage';
import { authErrors, problemRef } from '../schemas/problem';
import type { KeyService } from '../services/keys';

export function keyUsageRoutes(app: FastifyInstance, keys: KeyService): void {
  app.get<{ Params: { name: string }; Querystring: { hours?: number } }>('/keys/:name/usage', {
    config: { roles: READERS },
    schema: {
      tags: ['prediction'],
      summary:
        'Hourly private-key use (sign, decrypt, unwrap) of a key, the hour now running last; the forecast (mean and interval per hour) and the anomaly report of its latest risk evaluation',
      security: [{ bearer: [] }],
      params: keyNameParams,
      querystring: { type: 'object', additionalProperties: false, properties: { hours: { ...limitSchema(840, 168), description: 'hours of use, the newest (at most five weeks)' } } },
      response: {
        200: KeyUsageSchema,
        ...authErrors,
        404: problemRef,
      },
    },
    handler: async (request) => keys.usage(request.params.name, request.query.hours ?? 168),
  });
}
