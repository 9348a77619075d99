import type { FastifyInstance } from 'fastify';
import { CLEAN_TEXT_PATTERN } from '../../domain/input-bounds';
import { MAX_KEY_LIST_LENGTH, MAX_LISTED_KEYS, parseKeyNameList } from '../../domain/keys/key-name-list';
import { READERS } from '../auth';
import { authErrors } from '../schemas/problem';
import type { KeyService } from '../services/keys';

/** A week of hourly evaluations, the default evaluation interval. */
const MAX_POINTS = 168;

/**
 * Not under /keys: `risk-trends` is a valid key name, and GET /keys/risk-trends would hide that key's GET /keys/:name.
 */
export function riskTrendsRoutes(app: FastifyInstance, keys: KeyService): void {
  app.get<{ Querystring: { keys: string; points?: number } }>('/risk-trends', {
    config: { roles: READERS },
    schema: {
      tags: ['prediction'],
      summary:
        `The recent risk scores of many keys in one request (what a list of keys draws as trends): for each key named, its last \`points\` evaluations, oldest first (GET /keys/{name}/risk gives one key's full evaluations, newest first). Trends come in the order the keys were named; a key without evaluations has an empty list; a name that is no key is absent from trends and listed in unknown. Up to ${MAX_LISTED_KEYS} distinct names; a bad or repeated name refuses the request (400 invalid_key_list, naming it)`,
      security: [{ bearer: [] }],
      querystring: {
        type: 'object',
        additionalProperties: false,
        required: ['keys'],
        properties: {
          keys: { type: 'string', minLength: 1, maxLength: MAX_KEY_LIST_LENGTH, pattern: CLEAN_TEXT_PATTERN, description: `comma-separated key names, at most ${MAX_LISTED_KEYS}, each once` },
          points: { type: 'integer', minimum: 1, maximum: MAX_POINTS, default: 24, description: 'evaluations per key, the newest ones' },
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['trends', 'unknown'],
          properties: {
            trends: {
              type: 'array',
              items: {
                type: 'object',
                required: ['key', 'points'],
                properties: {
                  key: { type: 'string' },
                  points: {
                    type: 'array',
                    description: 'oldest first',
                    items: {
                      type: 'object',
                      required: ['evaluatedAt', 'score'],
                      properties: { evaluatedAt: { type: 'string', format: 'date-time' }, score: { type: 'number', description: 'risk score 0–1, as in GET /keys/{name}/risk items[].score' } },
                    },
                  },
                },
              },
            },
            unknown: { type: 'array', items: { type: 'string' }, description: 'names asked for that are no key' },
          },
        },
        ...authErrors,
      },
    },
    handler: async (request) => keys.riskTrends(parseKeyNameList(request.query.keys), request.query.points ?? 24),
  });
}
