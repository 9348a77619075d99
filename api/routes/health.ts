import type { FastifyInstance } from 'fastify';
import { problemRef } from '../schemas/problem';
import type { HealthService } from '../services/health';

const component = {
  type: 'object',
  required: ['status', 'latencyMs'],
  properties: { status: { type: 'string', enum: ['up', 'down'] }, latencyMs: { type: 'integer' }, reason: { type: 'string' } },
} as const;

const healthSchema = {
  type: 'object',
  required: ['status', 'checkedAt', 'components', 'nodes', 'entropy'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded', 'down'] },
    checkedAt: { type: 'string', format: 'date-time' },
    components: { type: 'object', required: ['temporal', 'postgres'], properties: { temporal: component, postgres: component } },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'status'],
        properties: {
          id: { type: 'string' },
          status: { type: 'string', enum: ['up', 'down'] },
          reason: { type: 'string' },
          tokenLabel: { type: 'string' },
          manufacturer: { type: 'string' },
          model: { type: 'string' },
          serialNumber: { type: 'string' },
          randomBytesDrawn: { type: 'integer' },
          hsmMs: { type: 'number' },
        },
      },
    },
    entropy: {
      type: 'array',
      description: "each node's entropy pool: stale (and the whole report degraded) once its newest harvest is older than two harvest intervals",
      items: {
        type: 'object',
        required: ['nodeId', 'status', 'lastHarvestAt', 'ageSeconds', 'reason'],
        properties: {
          nodeId: { type: 'string' },
          status: { type: 'string', enum: ['fresh', 'stale'] },
          lastHarvestAt: { type: ['string', 'null'], format: 'date-time' },
          ageSeconds: { type: 'integer' },
          reason: { type: ['string', 'null'] },
        },
      },
    },
  },
} as const;

export function healthRoutes(app: FastifyInstance, health: HealthService): void {
  app.get('/health', {
    schema: {
      tags: ['system'],
      summary: 'Health of Temporal, PostgreSQL and every HSM node (a real round trip through each node\'s task queue)',
      response: { 200: healthSchema, 500: problemRef, 503: healthSchema },
    },
    handler: async (_request, reply) => {
      const report = await health.check();
      return reply.status(report.status === 'ok' ? 200 : 503).send(report);
    },
  });
}
