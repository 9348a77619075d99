import type { FastifyInstance } from 'fastify';
import { OPERATORS, READERS, actorOf } from '../auth';
import { idParams } from '../schemas/bounds';
import { authErrors, problemRef } from '../schemas/problem';
import type { SubscriptionService } from '../services/subscriptions';

const subscriptionSchema = {
  type: 'object',
  required: ['id', 'url', 'createdAt', 'createdBy'],
  properties: { id: { type: 'string', format: 'uuid' }, url: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' }, createdBy: { type: 'string' } },
} as const;

export function subscriptionRoutes(app: FastifyInstance, subscriptions: SubscriptionService): void {
  app.post<{ Body: { url: string } }>('/subscriptions', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['subscriptions'],
      summary: 'Subscribe an application to key rotations: signed POSTs (X-Keyrotor-Signature) with the new public key\'s kid; the secret is shown only in this reply. Internal addresses (loopback, private, link-local, metadata…) are refused (400 webhook_target_refused) unless allowlisted',
      security: [{ bearer: [] }],
      body: { type: 'object', additionalProperties: false, required: ['url'], properties: { url: { type: 'string', pattern: '^https?://[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$', maxLength: 2000 } } },
      response: { 201: { type: 'object', required: ['subscription', 'secret'], properties: { subscription: subscriptionSchema, secret: { type: 'string' } } }, ...authErrors },
    },
    handler: async (request, reply) => {
      return reply.status(201).send(await subscriptions.subscribe({ url: request.body.url, actor: actorOf(request) }));
    },
  });

  app.get('/subscriptions', {
    config: { roles: READERS },
    schema: {
      tags: ['subscriptions'],
      summary: 'Subscriptions (never their secrets)',
      security: [{ bearer: [] }],
      response: { 200: { type: 'object', required: ['subscriptions'], properties: { subscriptions: { type: 'array', items: subscriptionSchema } } }, ...authErrors },
    },
    handler: async () => ({ subscriptions: await subscriptions.list() }),
  });

  app.delete<{ Params: { id: string } }>('/subscriptions/:id', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['subscriptions'],
      summary: 'Remove a subscription',
      security: [{ bearer: [] }],
      params: idParams,
      response: { 204: { type: 'null' }, 404: problemRef, ...authErrors },
    },
    handler: async (request, reply) => {
      await subscriptions.remove(request.params.id, actorOf(request));
      return reply.status(204).send();
    },
  });
}
