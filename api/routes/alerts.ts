import type { FastifyInstance } from 'fastify';
import { SEVERITIES } from '../../adapters/postgres/alert-repository';
import { OPERATORS, READERS, actorOf } from '../auth';
import { idParams, limitSchema, offsetSchema, textFilterSchema } from '../schemas/bounds';
import { authErrors, problemRef } from '../schemas/problem';
import type { AlertService } from '../services/alerts';

export const alertSchema = {
  type: 'object',
  required: ['id', 'dedupKey', 'severity', 'source', 'subject', 'message', 'firstSeen', 'lastSeen', 'count', 'acknowledgedBy', 'acknowledgedAt'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    dedupKey: { type: 'string' },
    severity: { type: 'string', enum: SEVERITIES },
    source: { type: 'string' },
    subject: { type: 'string' },
    message: { type: 'string' },
    firstSeen: { type: 'string', format: 'date-time' },
    lastSeen: { type: 'string', format: 'date-time' },
    count: { type: 'integer' },
    acknowledgedBy: { type: ['string', 'null'] },
    acknowledgedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

interface AlertsQuery {
  state?: 'open' | 'acknowledged';
  severity?: (typeof SEVERITIES)[number];
  source?: string;
  limit?: number;
  offset?: number;
}

export function alertRoutes(app: FastifyInstance, alerts: AlertService): void {
  app.get<{ Querystring: AlertsQuery }>('/alerts', {
    config: { roles: READERS },
    schema: {
      tags: ['alerts'],
      summary: 'Alerts, newest first, filtered by state, severity or source',
      security: [{ bearer: [] }],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          state: { type: 'string', enum: ['open', 'acknowledged'] },
          severity: { type: 'string', enum: SEVERITIES },
          source: textFilterSchema(100, 'only alerts from this source (audit, entropy, keymap, …)'),
          limit: limitSchema(500, 50),
          offset: offsetSchema,
        },
      },
      response: { 200: { type: 'object', required: ['alerts', 'total'], properties: { alerts: { type: 'array', items: alertSchema }, total: { type: 'integer' } } }, ...authErrors },
    },
    handler: async (request) => alerts.list({ ...request.query, limit: request.query.limit ?? 50, offset: request.query.offset ?? 0 }),
  });

  app.post<{ Params: { id: string } }>('/alerts/:id/ack', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['alerts'],
      summary: 'Acknowledge an alert (idempotent); a later occurrence opens a new alert',
      security: [{ bearer: [] }],
      params: idParams,
      response: { 200: alertSchema, 404: problemRef, ...authErrors },
    },
    handler: async (request) => alerts.acknowledge(request.params.id, actorOf(request)),
  });
}
