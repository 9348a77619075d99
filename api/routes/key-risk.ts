import type { FastifyInstance } from 'fastify';
import { timestampSchema } from '../../domain/input-bounds';
import { AUTOMATIC_TRIGGERS } from '../../domain/keys/key-model';
import { OPERATORS, READERS, actorOf } from '../auth';
import { keyNameParams, limitSchema } from '../schemas/bounds';
import { authErrors, problemRef } from '../schemas/problem';
import type { KeyService } from '../services/keys';

const trigger = { type: ['string', 'null'], enum: [...AUTOMATIC_TRIGGERS, null] } as const;

const evaluationSchema = {
  type: 'object',
  required: ['evaluationId', 'evaluatedAt', 'version', 'score', 'threshold', 'rotate', 'reason', 'components'],
  properties: {
    evaluationId: { type: 'string' },
    evaluatedAt: { type: 'string' },
    version: { type: 'integer' },
    score: { type: 'number' },
    threshold: { type: 'number' },
    rotate: { type: 'boolean' },
    trigger,
    heldTrigger: trigger,
    predictedTrigger: trigger,
    reason: { type: 'string' },
    predictedRotationAt: { type: 'string' },
    nextEvaluationAt: { type: 'string' },
    capacityExhaustedAt: { type: ['string', 'null'] },
    usedCount: { type: 'integer', description: 'private-key operations the version had served' },
    components: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'value', 'weight', 'contribution', 'detail'],
        properties: { name: { type: 'string' }, value: { type: 'number' }, weight: { type: 'number' }, contribution: { type: 'number' }, detail: { type: 'string' } },
      },
    },
    weights: { type: 'object', additionalProperties: { type: 'number' } },
    modelVersion: { type: ['string', 'null'] },
    forecastMethod: { type: 'string' },
  },
} as const;

export function keyRiskRoutes(app: FastifyInstance, keys: KeyService): void {
  app.get<{ Params: { name: string }; Querystring: { limit?: number; before?: string } }>('/keys/:name/risk', {
    config: { roles: READERS },
    schema: {
      tags: ['prediction'],
      summary:
        'The risk evaluations of a key, newest first: score = 1 − Π(1 − weight × value) over the components (usage pressure, anomaly, sensitivity, threat, age), each with why; the decision and the predicted rotation',
      security: [{ bearer: [] }],
      params: keyNameParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { limit: limitSchema(500, 50), before: timestampSchema('only evaluations before this time (the oldest evaluatedAt of a page, for the next one)') },
      },
      response: { 200: { type: 'object', required: ['key', 'items'], properties: { key: { type: 'string' }, items: { type: 'array', items: evaluationSchema } } }, ...authErrors, 404: problemRef },
    },
    handler: async (request) =>
      keys.riskHistory(request.params.name, { limit: request.query.limit ?? 50, ...(request.query.before ? { before: new Date(request.query.before) } : {}) }),
  });

  app.post<{ Params: { name: string } }>('/keys/:name/evaluate', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['prediction'],
      summary: 'Evaluate the key now (Update evaluateKey): forecast, anomalies, risk and decision; a trigger that fires rotates the key as a scheduled evaluation would',
      security: [{ bearer: [] }],
      params: keyNameParams,
      response: {
        200: {
          type: 'object',
          required: ['evaluationId', 'evaluatedAt', 'score', 'threshold', 'predictedRotationAt', 'nextEvaluationAt', 'reason', 'failed'],
          properties: {
            evaluationId: { type: 'string' },
            evaluatedAt: { type: 'string' },
            version: { type: 'integer' },
            score: { type: ['number', 'null'] },
            threshold: { type: 'number' },
            predictedTrigger: trigger,
            predictedRotationAt: { type: ['string', 'null'] },
            nextEvaluationAt: { type: 'string' },
            reason: { type: 'string' },
            failed: { type: 'boolean' },
          },
        },
        ...authErrors,
        404: problemRef,
        409: problemRef,
        502: problemRef,
      },
    },
    handler: async (request) => keys.evaluate(request.params.name, { actor: actorOf(request) }),
  });
}
