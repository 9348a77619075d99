import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Database } from '../../adapters/postgres/database';
import { listModels } from '../../adapters/postgres/prediction-repository';
import { FORECAST_MODEL_RETRAIN_SCHEDULE_ID, WORKFLOW_TYPES } from '../../domain/identifiers';
import type { retrainForecastModelWorkflow } from '../../workflows/forecast-model';
import { OPERATORS, READERS } from '../auth';
import { limitSchema } from '../schemas/bounds';
import { authErrors } from '../schemas/problem';

const modelSchema = {
  type: 'object',
  required: ['modelVersion', 'trainedAt', 'keys', 'trainingRows', 'trainMs'],
  properties: { modelVersion: { type: 'string' }, trainedAt: { type: 'string' }, keys: { type: 'integer' }, trainingRows: { type: 'integer' }, trainMs: { type: 'integer' } },
} as const;

export function modelRoutes(app: FastifyInstance, db: Database, temporal: Client, controlTaskQueue: string): void {
  app.get<{ Querystring: { limit?: number } }>('/models', {
    config: { roles: READERS },
    schema: {
      tags: ['prediction'],
      summary: 'The global forecast models, newest (the one in use) first',
      security: [{ bearer: [] }],
      querystring: { type: 'object', additionalProperties: false, properties: { limit: limitSchema(100, 20) } },
      response: { 200: { type: 'object', required: ['models'], properties: { models: { type: 'array', items: modelSchema } } }, ...authErrors },
    },
    handler: async (request) => ({ models: await listModels(db, request.query.limit ?? 20) }),
  });

  app.post('/models/retrain', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['prediction'],
      summary: 'Retrain the global forecast model now (the forecastModelRetrain schedule does it on its own) and answer with the result',
      security: [{ bearer: [] }],
      response: {
        200: {
          type: 'object',
          required: ['trained', 'modelVersion', 'keys', 'trainingRows', 'trainMs', 'reason'],
          properties: {
            trained: { type: 'boolean' },
            modelVersion: { type: ['string', 'null'] },
            keys: { type: 'integer' },
            trainingRows: { type: 'integer' },
            trainMs: { type: 'integer' },
            reason: { type: ['string', 'null'], description: 'why nothing was trained' },
          },
        },
        ...authErrors,
      },
    },
    handler: async () =>
      temporal.workflow.execute<typeof retrainForecastModelWorkflow>(WORKFLOW_TYPES.retrainForecastModel, {
        taskQueue: controlTaskQueue,
        workflowId: `${FORECAST_MODEL_RETRAIN_SCHEDULE_ID}/manual-${crypto.randomUUID()}`,
        args: [],
        staticSummary: 'retrain the forecast model (requested through the API)',
      }),
  });
}
