import type { FastifyInstance } from 'fastify';
import { READERS } from '../auth';
import { InfoSchema } from '../schemas/system';
import type { InfoService } from '../services/info';
import { routesOf } from './route-options';

const route = routesOf('system');

export function infoRoutes(app: FastifyInstance, info: InfoService): void {
  app.get('/info', {
    ...route(READERS, 'What this deployment is: the configured HSM nodes, the Temporal namespace and where its Web UI is (null when unknown)', { response: { 200: InfoSchema } }),
    handler: () => info.describe(),
  });
}
