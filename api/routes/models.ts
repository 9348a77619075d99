import type { FastifyInstance } from 'fastify';
import { OPERATORS, READERS } from '../auth';
import type { Defaulted } from '../schemas/bounds';
import { ModelListQuerySchema, ModelListSchema, RetrainedSchema, type ModelListQuery } from '../schemas/prediction';
import type { ForecastModelService } from '../services/models';
import { routesOf } from './route-options';

const route = routesOf('prediction');

export function modelRoutes(app: FastifyInstance, models: ForecastModelService): void {
  app.get<{ Querystring: Defaulted<ModelListQuery, 'limit'> }>('/models', {
    ...route(READERS, 'The global forecast models, newest (the one in use) first', { querystring: ModelListQuerySchema, response: { 200: ModelListSchema } }),
    handler: async (request) => models.list(request.query.limit),
  });

  app.post('/models/retrain', {
    ...route(OPERATORS, 'Retrain the global forecast model now (the forecastModelRetrain schedule does it on its own) and answer with the result', {
      response: { 200: RetrainedSchema },
    }),
    handler: async () => models.retrain(),
  });
}
