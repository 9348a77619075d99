import type { FastifyInstance } from 'fastify';
import { OPERATORS, READERS, actorOf } from '../auth';
import { KeyNameParamsSchema, type Defaulted, type KeyNameParams } from '../schemas/bounds';
import { EvaluationSummarySchema, RiskHistoryQuerySchema, RiskHistorySchema, type RiskHistoryQuery } from '../schemas/prediction';
import { problems } from '../schemas/problem';
import type { KeyService } from '../services/keys';
import { routesOf } from './route-options';

const route = routesOf('prediction');

export function keyRiskRoutes(app: FastifyInstance, keys: KeyService): void {
  app.get<{ Params: KeyNameParams; Querystring: Defaulted<RiskHistoryQuery, 'limit'> }>('/keys/:name/risk', {
    ...route(
      READERS,
      'The risk evaluations of a key, newest first: score = 1 − Π(1 − weight × value) over the components (usage pressure, anomaly, sensitivity, threat, age, unreported use), each with why; the decision and the predicted rotation',
      { params: KeyNameParamsSchema, querystring: RiskHistoryQuerySchema, response: { 200: RiskHistorySchema, ...problems(404) } },
    ),
    handler: async (request) => keys.riskHistory(request.params.name, { limit: request.query.limit, ...(request.query.before ? { before: new Date(request.query.before) } : {}) }),
  });

  app.post<{ Params: KeyNameParams }>('/keys/:name/evaluate', {
    ...route(
      OPERATORS,
      'Evaluate the key now (Update evaluateKey): forecast, anomalies, risk and decision; a trigger that fires rotates the key as a scheduled evaluation would',
      { params: KeyNameParamsSchema, response: { 200: EvaluationSummarySchema, ...problems(404, 409, 502) } },
    ),
    handler: async (request) => keys.evaluate(request.params.name, { actor: actorOf(request) }),
  });
}
