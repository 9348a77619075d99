import type { FastifyInstance } from 'fastify';
import { AUDITORS } from '../auth';
import { AuditPageSchema, AuditQuerySchema, AuditVerificationSchema, type AuditQuery } from '../schemas/audit';
import type { Defaulted } from '../schemas/bounds';
import type { AuditService } from '../services/audit';
import { routesOf } from './route-options';

const route = routesOf('audit');

export function auditRoutes(app: FastifyInstance, audit: AuditService): void {
  app.get<{ Querystring: Defaulted<AuditQuery, 'limit'> }>('/audit', {
    ...route(AUDITORS, 'Audit entries in sequence order, a page at a time (pass the last seq as afterSeq for the next page)', {
      querystring: AuditQuerySchema,
      response: { 200: AuditPageSchema },
    }),
    handler: async (request) => audit.page(request.query),
  });

  app.get('/audit/verify', {
    ...route(
      AUDITORS,
      'Recomputes the hash chain of the whole audit log, lists every entry that was modified or removed, and checks it against the anchors the nodes held at the last key map sync',
      { response: { 200: AuditVerificationSchema } },
    ),
    handler: async () => audit.verify(),
  });
}
