import type { FastifyInstance } from 'fastify';
import { temporalWebUiUrl, type KeyrotorConfig } from '../../domain/config';
import { READERS } from '../auth';
import { authErrors } from '../schemas/problem';

export function infoRoutes(app: FastifyInstance, config: KeyrotorConfig): void {
  app.get('/info', {
    config: { roles: READERS },
    schema: {
      tags: ['system'],
      summary: 'What this deployment is: the configured HSM nodes, the Temporal namespace and where its Web UI is (null when unknown)',
      security: [{ bearer: [] }],
      response: {
        200: {
          type: 'object',
          required: ['nodes', 'temporal', 'entropy'],
          properties: {
            nodes: { type: 'array', items: { type: 'string' } },
            temporal: {
              type: 'object',
              required: ['namespace', 'webUiUrl'],
              properties: { namespace: { type: 'string' }, webUiUrl: { type: ['string', 'null'], description: 'set KEYROTOR_TEMPORAL_UI_URL when Temporal is external' } },
            },
            entropy: {
              type: 'object',
              required: ['minimumCreditedBits', 'harvestIntervalSeconds'],
              properties: { minimumCreditedBits: { type: 'integer' }, harvestIntervalSeconds: { type: 'integer' } },
            },
          },
        },
        ...authErrors,
      },
    },
    handler: () => ({
      nodes: config.hsm.nodes.map((node) => node.id),
      temporal: { namespace: config.temporal.namespace, webUiUrl: temporalWebUiUrl(config) },
      entropy: { minimumCreditedBits: config.entropy.minimumCreditedBits, harvestIntervalSeconds: config.entropy.harvestIntervalSeconds },
    }),
  });
}
