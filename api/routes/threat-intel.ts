import type { FastifyInstance } from 'fastify';
import { CLEAN_TEXT_PATTERN, TIMESTAMP_MAX_LENGTH, TIMESTAMP_PATTERN } from '../../domain/input-bounds';
import {
  INDICATOR_ID_PATTERN,
  INDICATOR_TEXT_MAX_LENGTH,
  MAX_INDICATORS,
  SEVERITY_LEVELS,
  THREAT_SCOPES,
  type ThreatScope,
} from '../../domain/threat-intel/indicators';
import { AUDITORS, OPERATORS, actorOf } from '../auth';
import { keyNameSchema, limitSchema, offsetSchema, textFilterSchema } from '../schemas/bounds';
import { authErrors, problemRef } from '../schemas/problem';
import type { ThreatIntelService } from '../services/threat-intel';

const indicatorIdSchema = { type: 'string', minLength: 1, maxLength: 200, pattern: INDICATOR_ID_PATTERN.source } as const;
const indicatorText = (description: string) => ({ type: 'string', minLength: 1, maxLength: INDICATOR_TEXT_MAX_LENGTH, pattern: CLEAN_TEXT_PATTERN, description }) as const;

const indicatorFields = {
  id: { ...indicatorIdSchema, description: 'the indicator\'s id: re-posting it updates the indicator' },
  severity: {
    anyOf: [{ type: 'number', minimum: 0, maximum: 1 }, { type: 'string', enum: Object.keys(SEVERITY_LEVELS) }],
    description: `a number from 0 to 1 or a level (${Object.entries(SEVERITY_LEVELS).map(([level, value]) => `${level} ${value}`).join(', ')})`,
  },
  expiresAt: { type: 'string', minLength: 1, maxLength: TIMESTAMP_MAX_LENGTH, pattern: TIMESTAMP_PATTERN, description: 'ISO 8601 with its zone (years 0001–9999, offsets up to ±15:59)' },
  source: indicatorText('who reported it'),
} as const;
const indicatorOfScope = (scope: ThreatScope, target: Record<string, unknown> | null) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: ['id', 'severity', 'scope', 'expiresAt', 'source', ...(target ? ['target'] : [])],
    properties: { ...indicatorFields, scope: { type: 'string', enum: [scope] }, ...(target ? { target } : { target: { type: 'null' } }) },
  }) as const;

/** An indicator reaches one key, the keys an application uses, or every key (no target). */
const indicatorInputSchema = {
  oneOf: [
    indicatorOfScope('key', keyNameSchema('the key it concerns')),
    indicatorOfScope('app', indicatorText('the application it concerns, as usage events name it')),
    indicatorOfScope('all', null),
  ],
} as const;
const batchSchema = { type: 'array', minItems: 1, maxItems: MAX_INDICATORS, items: indicatorInputSchema } as const;

const indicatorSchema = {
  type: 'object',
  required: ['id', 'severity', 'severityLevel', 'scope', 'target', 'expiresAt', 'source', 'live', 'createdAt', 'createdBy', 'updatedAt', 'updatedBy'],
  properties: {
    id: { type: 'string' },
    severity: { type: 'number', minimum: 0, maximum: 1 },
    severityLevel: { type: ['string', 'null'], enum: [...Object.keys(SEVERITY_LEVELS), null] },
    scope: { type: 'string', enum: THREAT_SCOPES },
    target: { type: ['string', 'null'] },
    expiresAt: { type: 'string', format: 'date-time' },
    source: { type: 'string' },
    live: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
    updatedAt: { type: 'string', format: 'date-time' },
    updatedBy: { type: 'string' },
  },
} as const;

const feedPullSchema = {
  type: ['object', 'null'],
  required: ['at', 'ok', 'received', 'created', 'updated', 'unchanged', 'error'],
  properties: {
    at: { type: 'string', format: 'date-time' },
    ok: { type: 'boolean' },
    received: { type: 'integer' },
    created: { type: 'integer' },
    updated: { type: 'integer' },
    unchanged: { type: 'integer' },
    error: { type: ['string', 'null'] },
  },
} as const;

interface ListQuery {
  include?: 'expired';
  scope?: ThreatScope;
  target?: string;
  limit?: number;
  offset?: number;
}

export function threatIntelRoutes(app: FastifyInstance, threatIntel: ThreatIntelService): void {
  app.post<{ Body: unknown }>('/threat-intel', {
    config: { roles: OPERATORS },
    bodyLimit: 16 * 1024 * 1024,
    // The batch's own check names each bad row with every reason, as for the feed; the schema's verdict comes second,
    // for what the rows do not cover (the shape of the body around them).
    attachValidation: true,
    schema: {
      tags: ['threat-intel'],
      summary: `Report threat indicators (up to ${MAX_INDICATORS}): {id, severity (0–1 or low|medium|high|critical), scope (key|app|all), target, expiresAt, source}. A batch with an invalid indicator is refused whole; re-posting an id updates it`,
      security: [{ bearer: [] }],
      body: { oneOf: [batchSchema, { type: 'object', additionalProperties: false, required: ['indicators'], properties: { indicators: batchSchema } }] },
      response: {
        200: {
          type: 'object',
          required: ['created', 'updated', 'unchanged'],
          properties: { created: { type: 'integer' }, updated: { type: 'integer' }, unchanged: { type: 'integer', description: 'posted again exactly as stored' } },
        },
        ...authErrors,
      },
    },
    handler: async (request) =>
      threatIntel.report({
        body: request.body,
        shapeError: request.validationError,
        actor: actorOf(request),
        onReevaluationFailure: (key, error) => request.log.warn({ key, err: error }, 'could not ask a key to evaluate itself after new threat intelligence'),
      }),
  });

  app.get<{ Querystring: ListQuery }>('/threat-intel', {
    config: { roles: AUDITORS },
    schema: {
      tags: ['threat-intel'],
      summary: 'Threat indicators, live ones only unless include=expired, filtered by scope and target; and how the last pull of the feed went',
      security: [{ bearer: [] }],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          include: { type: 'string', enum: ['expired'] },
          scope: { type: 'string', enum: THREAT_SCOPES },
          target: textFilterSchema(INDICATOR_TEXT_MAX_LENGTH, 'only indicators with this target (a key name or an application)'),
          limit: limitSchema(1000, 100),
          offset: offsetSchema,
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['indicators', 'total', 'feed'],
          properties: {
            indicators: { type: 'array', items: indicatorSchema },
            total: { type: 'integer' },
            feed: { type: 'object', required: ['configured', 'lastPull'], properties: { configured: { type: 'boolean' }, lastPull: feedPullSchema } },
          },
        },
        ...authErrors,
      },
    },
    handler: async (request) => {
      const { include, scope, target, limit, offset } = request.query;
      return threatIntel.list({ includeExpired: include === 'expired', ...(scope ? { scope } : {}), ...(target !== undefined ? { target } : {}), limit: limit ?? 100, offset: offset ?? 0 });
    },
  });

  app.delete<{ Params: { id: string } }>('/threat-intel/:id', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['threat-intel'],
      summary: 'Withdraw a threat indicator (audited); it stops counting at once',
      security: [{ bearer: [] }],
      params: { type: 'object', required: ['id'], properties: { id: indicatorIdSchema } },
      response: { 204: { type: 'null' }, 404: problemRef, ...authErrors },
    },
    handler: async (request, reply) => {
      await threatIntel.withdraw(request.params.id, actorOf(request));
      return reply.status(204).send();
    },
  });
}
