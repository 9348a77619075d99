import type { FastifyInstance } from 'fastify';
import { ROLES, type Role } from '../../adapters/postgres/token-repository';
import { ADMINS, actorOf } from '../auth';
import { idParams } from '../schemas/bounds';
import { authErrors, problemRef } from '../schemas/problem';
import type { TokenService } from '../services/tokens';

const tokenInfoSchema = {
  type: 'object',
  required: ['id', 'name', 'role', 'createdAt', 'createdBy', 'revokedAt'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    role: { type: 'string', enum: ROLES },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: 'string' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

export function tokenRoutes(app: FastifyInstance, tokens: TokenService): void {
  app.post<{ Body: { name: string; role: Role } }>('/tokens', {
    config: { roles: ADMINS },
    schema: {
      tags: ['tokens'],
      summary: 'Create an API token; the reply is the only time its value is shown',
      security: [{ bearer: [] }],
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'role'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[\\w .@-]+$', description: 'what the token is for: letters, digits, _ . @ - and spaces' },
          role: { type: 'string', enum: ROLES },
        },
      },
      response: { 201: { type: 'object', required: ['token', 'info'], properties: { token: { type: 'string' }, info: tokenInfoSchema } }, ...authErrors },
    },
    handler: async (request, reply) => {
      return reply.status(201).send(await tokens.issue({ ...request.body, actor: actorOf(request) }));
    },
  });

  app.get('/tokens', {
    config: { roles: ADMINS },
    schema: {
      tags: ['tokens'],
      summary: 'List API tokens (never their values)',
      security: [{ bearer: [] }],
      response: { 200: { type: 'object', required: ['tokens'], properties: { tokens: { type: 'array', items: tokenInfoSchema } } }, ...authErrors },
    },
    handler: async () => ({ tokens: await tokens.list() }),
  });

  app.delete<{ Params: { id: string } }>('/tokens/:id', {
    config: { roles: ADMINS },
    schema: {
      tags: ['tokens'],
      summary: 'Revoke an API token',
      security: [{ bearer: [] }],
      params: idParams,
      response: { 200: tokenInfoSchema, 404: problemRef, ...authErrors },
    },
    handler: async (request) => tokens.revoke(request.params.id, actorOf(request)),
  });
}
