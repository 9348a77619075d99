import type { FastifyInstance } from 'fastify';
import type { Database } from '../../adapters/postgres/database';
import { storeUsageBatch } from '../../adapters/postgres/usage-repository';
import { UserError } from '../../domain/errors';
import { CLEAN_TEXT_PATTERN } from '../../domain/input-bounds';
import { SENSITIVITY_CLASS_PATTERN } from '../../domain/keys/policy';
import { MAX_BATCH, MAX_VERSION, USAGE_FIELD_BOUNDS, USAGE_OPERATIONS, validateUsageBatch } from '../../domain/usage/events';
import { OPERATORS } from '../auth';
import { keyNameSchema } from '../schemas/bounds';
import { authErrors } from '../schemas/problem';

const text = (maxLength: number, description: string) => ({ type: 'string', minLength: 1, maxLength, pattern: CLEAN_TEXT_PATTERN, description }) as const;

const usageEventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ts', 'key', 'op', 'app'],
  properties: {
    ts: { type: 'string', minLength: 1, maxLength: USAGE_FIELD_BOUNDS.ts, description: 'when: an ISO 8601 time in the years 0001–9999, at most an hour ahead' },
    key: keyNameSchema('the key used'),
    kid: text(USAGE_FIELD_BOUNDS.kid, 'the version used, by kid (give kid or version)'),
    version: { type: 'integer', minimum: 1, maximum: MAX_VERSION, description: 'the version used, by number' },
    op: { type: 'string', enum: USAGE_OPERATIONS },
    app: text(USAGE_FIELD_BOUNDS.app, 'the application, as its access log names it'),
    node: { type: 'string', maxLength: USAGE_FIELD_BOUNDS.node, pattern: CLEAN_TEXT_PATTERN, description: 'the HSM node that served it' },
    count: { type: 'integer', minimum: 1, maximum: USAGE_FIELD_BOUNDS.maxCount, description: 'operations this event stands for (default 1)' },
    sensitivity: { type: 'string', minLength: 1, maxLength: 64, pattern: SENSITIVITY_CLASS_PATTERN.source, description: 'the data class the operation served (one of prediction.sensitivityWeights)' },
    eventId: text(USAGE_FIELD_BOUNDS.eventId, 'an id of the event: a repeated one is stored once'),
  },
} as const;
const batchSchema = { type: 'array', minItems: 1, maxItems: MAX_BATCH, items: usageEventSchema } as const;

/** The events of a body: an array, or `{"events": [...]}`. */
function eventsOf(body: unknown): unknown {
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { events?: unknown }).events : body;
}

export function usageRoutes(app: FastifyInstance, db: Database, dataClasses: readonly string[]): void {
  app.post<{ Body: unknown }>('/usage', {
    config: { roles: OPERATORS },
    bodyLimit: 16 * 1024 * 1024,
    // The batch's own check names each bad row with every reason, as for `keyrotor ingest`; the schema's verdict comes
    // second, for what the rows do not cover (the shape of the body around them).
    attachValidation: true,
    schema: {
      tags: ['usage'],
      summary: `Report HSM access-log events (up to ${MAX_BATCH}): {ts, key, kid or version, op, app, node?, count?, sensitivity?, eventId?}. A batch with an invalid event is refused whole; a repeated eventId is stored once`,
      security: [{ bearer: [] }],
      body: { oneOf: [batchSchema, { type: 'object', additionalProperties: false, required: ['events'], properties: { events: batchSchema } }] },
      response: { 200: { type: 'object', required: ['stored', 'duplicates'], properties: { stored: { type: 'integer' }, duplicates: { type: 'integer' } } }, ...authErrors },
    },
    handler: async (request) => {
      const checked = validateUsageBatch(eventsOf(request.body), Date.now(), dataClasses);
      if (checked.problems.length === 0 && request.validationError) throw request.validationError;
      const outcome = checked.problems.length > 0 ? { kind: 'refused' as const, problems: checked.problems } : await storeUsageBatch(db, checked.events);
      if (outcome.kind === 'refused') {
        const listed = outcome.problems.slice(0, 20).map((p) => (p.row < 0 ? p.problems.join('; ') : `row ${p.row}: ${p.problems.join('; ')}`));
        throw new UserError('invalid_usage_batch', `${outcome.problems.length} bad event(s), nothing stored: ${listed.join(' | ')}${outcome.problems.length > 20 ? ' | …' : ''}`, { rows: outcome.problems });
      }
      return { stored: outcome.stored, duplicates: outcome.duplicates };
    },
  });
}
