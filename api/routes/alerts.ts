import type { FastifyInstance } from 'fastify';
import { OPERATORS, READERS, actorOf } from '../auth';
import { AlertListQuerySchema, AlertListSchema, AlertSchema, type AlertListQuery } from '../schemas/alerts';
import { IdParamsSchema, type Defaulted, type IdParams } from '../schemas/bounds';
import { problems } from '../schemas/problem';
import type { AlertService } from '../services/alerts';
import { routesOf } from './route-options';

const route = routesOf('alerts');

export function alertRoutes(app: FastifyInstance, alerts: AlertService): void {
  app.get<{ Querystring: Defaulted<AlertListQuery, 'limit' | 'offset'> }>('/alerts', {
    ...route(READERS, 'Alerts, newest first, filtered by state, severity or source', { querystring: AlertListQuerySchema, response: { 200: AlertListSchema } }),
    handler: async (request) => alerts.list(request.query),
  });

  app.post<{ Params: IdParams }>('/alerts/:id/ack', {
    ...route(OPERATORS, 'Acknowledge an alert (idempotent); a later occurrence opens a new alert', { params: IdParamsSchema, response: { 200: AlertSchema, ...problems(404) } }),
    handler: async (request) => alerts.acknowledge(request.params.id, actorOf(request)),
  });
}
