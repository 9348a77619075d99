import type { FastifyInstance } from 'fastify';
import { ROLES } from '../../adapters/postgres/token-repository';
import { OPERATORS, READERS } from '../auth';
import { authErrors } from '../schemas/problem';

export function whoamiRoutes(app: FastifyInstance): void {
  app.get('/whoami', {
    config: { roles: READERS },
    schema: {
      tags: ['tokens'],
      summary: 'The calling token: its name and role, and whether that role may act on keys and alerts (rotate, grace, acknowledge)',
      security: [{ bearer: [] }],
      response: {
        200: {
          type: 'object',
          required: ['id', 'name', 'role', 'mayAct'],
          properties: {
            id: { type: 'string', format: 'uuid' },
            name: { type: 'string' },
            role: { type: 'string', enum: ROLES },
            mayAct: { type: 'boolean', description: 'true for the roles the action routes accept' },
          },
        },
        ...authErrors,
      },
    },
    handler: (request) => {
      // The auth hook has set the principal: this route declares roles.
      const principal = request.principal!;
      return { id: principal.id, name: principal.name, role: principal.role, mayAct: OPERATORS.includes(principal.role) };
    },
  });
}
