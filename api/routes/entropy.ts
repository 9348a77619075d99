import type { FastifyInstance } from 'fastify';
import { READERS } from '../auth';
import { timestampSchema } from '../../domain/input-bounds';
import { limitSchema, nodeIdSchema } from '../schemas/bounds';
import { EntropyReportSchema } from '../schemas/entropy';
import { authErrors } from '../schemas/problem';
import type { EntropyService } from '../services/entropy';

const reportSchema = EntropyReportSchema;

export function entropyRoutes(app: FastifyInstance, entropy: EntropyService): void {
  app.get('/entropy', {
    config: { roles: READERS },
    schema: {
      tags: ['entropy'],
      summary: 'The newest harvest report of every node: pool health, sources, last assessment and battery results',
      security: [{ bearer: [] }],
      response: { 200: { type: 'object', required: ['nodes'], properties: { nodes: { type: 'array', items: reportSchema } } }, ...authErrors },
    },
    handler: async () => ({ nodes: await entropy.latest() }),
  });

  app.get<{ Querystring: { node?: string; limit?: number; before?: string } }>('/entropy/history', {
    config: { roles: READERS },
    schema: {
      tags: ['entropy'],
      summary: 'Harvest reports, newest first (pass the oldest `at` as before for the next page)',
      security: [{ bearer: [] }],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          node: nodeIdSchema('only this node\'s reports'),
          limit: limitSchema(500, 50),
          before: timestampSchema('only reports before this time (the oldest at of a page, for the next one)'),
        },
      },
      response: { 200: { type: 'object', required: ['reports'], properties: { reports: { type: 'array', items: reportSchema } } }, ...authErrors },
    },
    handler: async (request) => ({
      reports: await entropy.history({
        limit: request.query.limit ?? 50,
        ...(request.query.node ? { nodeId: request.query.node } : {}),
        ...(request.query.before ? { before: request.query.before } : {}),
      }),
    }),
  });
}
