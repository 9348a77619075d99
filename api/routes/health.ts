import type { FastifyInstance } from 'fastify';
import { problems } from '../schemas/problem';
import { HealthSchema } from '../schemas/system';
import type { HealthService } from '../services/health';
import { routesOf } from './route-options';

const route = routesOf('system');

export function healthRoutes(app: FastifyInstance, health: HealthService): void {
  app.get('/health', {
    ...route(null, 'Health of Temporal, PostgreSQL and every HSM node (a real round trip through each node\'s task queue)', {
      response: { 200: HealthSchema, ...problems(500), 503: HealthSchema },
    }),
    handler: async (_request, reply) => {
      const report = await health.check();
      return reply.status(report.status === 'ok' ? 200 : 503).send(report);
    },
  });
}
