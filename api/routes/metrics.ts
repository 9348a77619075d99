import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { problemRef } from '../schemas/problem';

export function metricsRoutes(app: FastifyInstance, registry: Registry): void {
  app.get('/metrics', {
    schema: {
      tags: ['system'],
      summary: 'Prometheus metrics of the API process (the Temporal workers expose theirs on workerMetricsPort)',
      response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, 500: problemRef },
    },
    handler: async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  });
}
