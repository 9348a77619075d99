import type { FastifyInstance } from 'fastify';
import { MAX_LISTED_KEYS, parseKeyNameList } from '../../domain/keys/key-name-list';
import { READERS } from '../auth';
import type { Defaulted } from '../schemas/bounds';
import { RiskTrendsQuerySchema, RiskTrendsSchema, type RiskTrendsQuery } from '../schemas/prediction';
import type { KeyService } from '../services/keys';
import { routesOf } from './route-options';

const route = routesOf('prediction');

/**
 * Not under /keys: `risk-trends` is a valid key name, and GET /keys/risk-trends would hide that key's GET /keys/:name.
 */
export function riskTrendsRoutes(app: FastifyInstance, keys: KeyService): void {
  app.get<{ Querystring: Defaulted<RiskTrendsQuery, 'points'> }>('/risk-trends', {
    ...route(
      READERS,
      `The recent risk scores of many keys in one request (what a list of keys draws as trends): for each key named, its last \`points\` evaluations, oldest first (GET /keys/{name}/risk gives one key's full evaluations, newest first). Trends come in the order the keys were named; a key without evaluations has an empty list; a name that is no key is absent from trends and listed in unknown. Up to ${MAX_LISTED_KEYS} distinct names; a bad or repeated name refuses the request (400 invalid_key_list, naming it)`,
      { querystring: RiskTrendsQuerySchema, response: { 200: RiskTrendsSchema } },
    ),
    handler: async (request) => keys.riskTrends(parseKeyNameList(request.query.keys), request.query.points),
  });
}
