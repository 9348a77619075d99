import type { FastifyInstance } from 'fastify';
import { MAX_INDICATORS } from '../../domain/threat-intel/indicators';
import { AUDITORS, OPERATORS, actorOf } from '../auth';
import type { Defaulted } from '../schemas/bounds';
import { problems } from '../schemas/problem';
import {
  IndicatorIdParamsSchema,
  IndicatorListQuerySchema,
  IndicatorListSchema,
  IndicatorReportBodySchema,
  IndicatorsStoredSchema,
  type IndicatorIdParams,
  type IndicatorListQuery,
} from '../schemas/threat-intel';
import { NoContent } from '../schemas/typebox';
import type { ThreatIntelService } from '../services/threat-intel';
import { routesOf } from './route-options';

const route = routesOf('threat-intel');

export function threatIntelRoutes(app: FastifyInstance, threatIntel: ThreatIntelService): void {
  app.post<{ Body: unknown }>('/threat-intel', {
    ...route(
      OPERATORS,
      `Report threat indicators (up to ${MAX_INDICATORS}): {id, severity (0–1 or low|medium|high|critical), scope (key|app|all), target, expiresAt, source}. A batch with an invalid indicator is refused whole; re-posting an id updates it`,
      { body: IndicatorReportBodySchema, response: { 200: IndicatorsStoredSchema } },
    ),
    bodyLimit: 16 * 1024 * 1024,
    // The service checks the rows first and names every bad one; the schema's verdict comes second (ThreatIntelService.report).
    attachValidation: true,
    handler: async (request) =>
      threatIntel.report({
        body: request.body,
        shapeError: request.validationError,
        actor: actorOf(request),
        onReevaluationFailure: (key, error) => request.log.warn({ key, err: error }, 'could not ask a key to evaluate itself after new threat intelligence'),
      }),
  });

  app.get<{ Querystring: Defaulted<IndicatorListQuery, 'limit' | 'offset'> }>('/threat-intel', {
    ...route(
      AUDITORS,
      'Threat indicators, live ones only unless include=expired, filtered by scope and target; and how the last pull of the feed went',
      { querystring: IndicatorListQuerySchema, response: { 200: IndicatorListSchema } },
    ),
    handler: async (request) => {
      const { include, scope, target, limit, offset } = request.query;
      return threatIntel.list({ includeExpired: include === 'expired', ...(scope ? { scope } : {}), ...(target !== undefined ? { target } : {}), limit, offset });
    },
  });

  app.delete<{ Params: IndicatorIdParams }>('/threat-intel/:id', {
    ...route(OPERATORS, 'Withdraw a threat indicator (audited); it stops counting at once', { params: IndicatorIdParamsSchema, response: { 204: NoContent, ...problems(404) } }),
    handler: async (request, reply) => {
      await threatIntel.withdraw(request.params.id, actorOf(request));
      return reply.status(204).send();
    },
  });
}
