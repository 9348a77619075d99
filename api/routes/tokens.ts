import type { FastifyInstance } from 'fastify';
import { ADMINS, actorOf } from '../auth';
import { IdParamsSchema, type IdParams } from '../schemas/bounds';
import { problems } from '../schemas/problem';
import { IssueTokenBodySchema, IssuedTokenSchema, TokenInfoSchema, TokenListSchema, type IssueTokenBody } from '../schemas/tokens';
import type { TokenService } from '../services/tokens';
import { routesOf } from './route-options';

const route = routesOf('tokens');

export function tokenRoutes(app: FastifyInstance, tokens: TokenService): void {
  app.post<{ Body: IssueTokenBody }>('/tokens', {
    ...route(ADMINS, 'Create an API token; the reply is the only time its value is shown', { body: IssueTokenBodySchema, response: { 201: IssuedTokenSchema } }),
    handler: async (request, reply) => reply.status(201).send(await tokens.issue({ ...request.body, actor: actorOf(request) })),
  });

  app.get('/tokens', {
    ...route(ADMINS, 'List API tokens (never their values)', { response: { 200: TokenListSchema } }),
    handler: async () => ({ tokens: await tokens.list() }),
  });

  app.delete<{ Params: IdParams }>('/tokens/:id', {
    ...route(ADMINS, 'Revoke an API token', { params: IdParamsSchema, response: { 200: TokenInfoSchema, ...problems(404) } }),
    handler: async (request) => tokens.revoke(request.params.id, actorOf(request)),
  });
}
