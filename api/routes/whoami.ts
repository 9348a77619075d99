import type { FastifyInstance } from 'fastify';
import { OPERATORS, TOKEN_HOLDERS } from '../auth';
import { WhoamiSchema, type Whoami } from '../schemas/tokens';
import { routesOf } from './route-options';

const route = routesOf('tokens');

export function whoamiRoutes(app: FastifyInstance): void {
  app.get('/whoami', {
    ...route(TOKEN_HOLDERS, 'The calling token: its name and role, and whether that role may act on keys and alerts (rotate, grace, acknowledge)', { response: { 200: WhoamiSchema } }),
    handler: (request): Whoami => {
      // The auth hook has set the principal: this route declares roles.
      const principal = request.principal!;
      return { id: principal.id, name: principal.name, role: principal.role, mayAct: OPERATORS.includes(principal.role) };
    },
  });
}
