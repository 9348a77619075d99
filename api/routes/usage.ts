import type { FastifyInstance } from 'fastify';
import type { Database } from '../../adapters/postgres/database';
import { storeUsageBatch } from '../../adapters/postgres/usage-repository';
import { UserError } from '../../domain/errors';
import { MAX_BATCH, validateUsageBatch } from '../../domain/usage/events';
import { OPERATORS } from '../auth';
import { authErrors } from '../schemas/problem';

export function usageRoutes(app: FastifyInstance, db: Database, dataClasses: readonly string[]): void {
  app.post<{ Body: unknown }>('/usage', {
    config: { roles: OPERATORS },
    bodyLimit: 16 * 1024 * 1024,
    schema: {
      tags: ['usage'],
      summary: `Report HSM access-log events (up to ${MAX_BATCH}): {ts, key, kid or version, op, app, node?, count?, sensitivity?, eventId?}. A batch with an invalid event is refused whole; a repeated eventId is stored once`,
      security: [{ bearer: [] }],
      body: { oneOf: [{ type: 'array' }, { type: 'object', required: ['events'], properties: { events: { type: 'array' } } }] },
      response: { 200: { type: 'object', required: ['stored', 'duplicates'], properties: { stored: { type: 'integer' }, duplicates: { type: 'integer' } } }, ...authErrors },
    },
    handler: async (request) => {
      const body = request.body;
      const raw = Array.isArray(body) ? body : (body as { events: unknown[] }).events;
      const checked = validateUsageBatch(raw, Date.now(), dataClasses);
      const outcome = checked.problems.length > 0 ? { kind: 'refused' as const, problems: checked.problems } : await storeUsageBatch(db, checked.events);
      if (outcome.kind === 'refused') {
        const listed = outcome.problems.slice(0, 20).map((p) => (p.row < 0 ? p.problems.join('; ') : `row ${p.row}: ${p.problems.join('; ')}`));
        throw new UserError('invalid_usage_batch', `${outcome.problems.length} bad event(s), nothing stored: ${listed.join(' | ')}${outcome.problems.length > 20 ? ' | …' : ''}`, 400, { rows: outcome.problems });
      }
      return { stored: outcome.stored, duplicates: outcome.duplicates };
    },
  });
}
