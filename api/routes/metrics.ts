import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { problems } from '../schemas/problem';
import { routesOf } from './route-options';

const route = routesOf('system');

export function metricsRoutes(app: FastifyInstance, registry: Registry): void {
  app.get('/metrics', {
    ...route(null, 'Prometheus metrics of the API process (the Temporal workers expose theirs on workerMetricsPort)', {
      response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...problems(500) },
    }),
    handler: async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  });
}
