import type { FastifyInstance } from 'fastify';
import { MAX_BATCH } from '../../domain/usage/events';
import { OPERATORS } from '../auth';
import { UsageBodySchema, UsageStoredSchema } from '../schemas/usage';
import type { UsageService } from '../services/usage';
import { routesOf } from './route-options';

const route = routesOf('usage');

export function usageRoutes(app: FastifyInstance, usage: UsageService): void {
  app.post<{ Body: unknown }>('/usage', {
    ...route(
      OPERATORS,
      `Report HSM access-log events (up to ${MAX_BATCH}): {ts, key, kid or version, op, app, node?, count?, sensitivity?, eventId?}. A batch with an invalid event is refused whole; a repeated eventId is stored once`,
      { body: UsageBodySchema, response: { 200: UsageStoredSchema } },
    ),
    bodyLimit: 16 * 1024 * 1024,
    // The service checks the rows first and names every bad one; the schema's verdict comes second (UsageService.report).
    attachValidation: true,
    handler: async (request) => usage.report({ body: request.body, shapeError: request.validationError }),
  });
}
