import type { FastifyInstance } from 'fastify';
import { OPERATORS, READERS, actorOf } from '../auth';
import { IdParamsSchema, type IdParams } from '../schemas/bounds';
import { problems } from '../schemas/problem';
import { SubscribeBodySchema, SubscribedSchema, SubscriptionListSchema, type SubscribeBody } from '../schemas/subscriptions';
import { NoContent } from '../schemas/typebox';
import type { SubscriptionService } from '../services/subscriptions';
import { routesOf } from './route-options';

const route = routesOf('subscriptions');

export function subscriptionRoutes(app: FastifyInstance, subscriptions: SubscriptionService): void {
  app.post<{ Body: SubscribeBody }>('/subscriptions', {
    ...route(
      OPERATORS,
      'Subscribe an application to key rotations: signed POSTs (X-Keyrotor-Signature) with the new public key\'s kid; the secret is shown only in this reply. Internal addresses (loopback, private, link-local, metadata…) are refused (400 webhook_target_refused) unless allowlisted',
      { body: SubscribeBodySchema, response: { 201: SubscribedSchema } },
    ),
    handler: async (request, reply) => reply.status(201).send(await subscriptions.subscribe({ url: request.body.url, actor: actorOf(request) })),
  });

  app.get('/subscriptions', {
    ...route(READERS, 'Subscriptions (never their secrets)', { response: { 200: SubscriptionListSchema } }),
    handler: async () => ({ subscriptions: await subscriptions.list() }),
  });

  app.delete<{ Params: IdParams }>('/subscriptions/:id', {
    ...route(OPERATORS, 'Remove a subscription', { params: IdParamsSchema, response: { 204: NoContent, ...problems(404) } }),
    handler: async (request, reply) => {
      await subscriptions.remove(request.params.id, actorOf(request));
      return reply.status(204).send();
    },
  });
}
