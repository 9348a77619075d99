import type { FastifyInstance } from 'fastify';
import { READERS } from '../auth';
import type { Defaulted } from '../schemas/bounds';
import { EntropyHistoryQuerySchema, EntropyHistorySchema, EntropyLatestSchema, type EntropyHistoryQuery } from '../schemas/entropy';
import type { EntropyService } from '../services/entropy';
import { routesOf } from './route-options';

const route = routesOf('entropy');

export function entropyRoutes(app: FastifyInstance, entropy: EntropyService): void {
  app.get('/entropy', {
    ...route(READERS, 'The newest harvest report of every node: pool health, sources, last assessment and battery results', { response: { 200: EntropyLatestSchema } }),
    handler: async () => ({ nodes: await entropy.latest() }),
  });

  app.get<{ Querystring: Defaulted<EntropyHistoryQuery, 'limit'> }>('/entropy/history', {
    ...route(READERS, 'Harvest reports, newest first (pass the oldest `at` as before for the next page)', {
      querystring: EntropyHistoryQuerySchema,
      response: { 200: EntropyHistorySchema },
    }),
    handler: async (request) => {
      const { node, limit, before } = request.query;
      return { reports: await entropy.history({ limit, ...(node ? { nodeId: node } : {}), ...(before ? { before } : {}) }) };
    },
  });
}
