import type { FastifyInstance } from 'fastify';
import { OPERATORS, READERS, actorOf } from '../auth';
import { keyNameParams } from '../schemas/bounds';
import {
  CreatedKeySchema,
  CreateKeyBodySchema,
  DecommissionBodySchema,
  DecommissionedSchema,
  ExtendGraceBodySchema,
  GraceCompletedSchema,
  GraceExtendedSchema,
  KeyDetailSchema,
  KeyListQuerySchema,
  KeyListSchema,
  KeyPolicySchema,
  PolicyChangeSchema,
  ReasonBodySchema,
  ResumedSchema,
  RotateBodySchema,
  RotateHeadersSchema,
  RotatedSchema,
  RotationAcceptedSchema,
  type CreateKeyBody,
  type DecommissionBody,
  type ExtendGraceBody,
  type KeyListQuery,
  type KeyPolicyFields,
  type ReasonBody,
  type RotateBody,
  type RotateHeaders,
} from '../schemas/keys';
import { authErrors, problemRef } from '../schemas/problem';
import type { KeyService } from '../services/keys';

/** RFC 7240: whether a Prefer header asks for `respond-async` (preferences are comma-separated, names case-insensitive). */
function prefersRespondAsync(header: string | undefined): boolean {
  return (header ?? '').split(',').some((preference) => (preference.split(/[;=]/)[0] ?? '').trim().toLowerCase() === 'respond-async');
}

const refusals = { ...authErrors, 404: problemRef, 409: problemRef, 502: problemRef } as const;

export function keyRoutes(app: FastifyInstance, keys: KeyService): void {
  app.post<{ Body: CreateKeyBody }>('/keys', {
    config: { roles: OPERATORS, problemCodes: { 'body/name': 'invalid_key_name', 'body/type': 'invalid_key_type', 'body/policy': 'invalid_policy' } },
    schema: {
      tags: ['keys'],
      summary: 'Create a managed key: starts its lifecycle workflow, which generates v1 on a healthy node and replicates it to every node',
      security: [{ bearer: [] }],
      body: CreateKeyBodySchema,
      response: { 202: CreatedKeySchema, ...refusals },
    },
    handler: async (request, reply) => reply.status(202).send(await keys.create({ ...request.body, actor: actorOf(request) })),
  });

  app.get<{ Querystring: KeyListQuery }>('/keys', {
    config: { roles: READERS },
    schema: {
      tags: ['keys'],
      summary: 'Managed keys, by name, a page at a time; filtered by phase and name prefix',
      security: [{ bearer: [] }],
      querystring: KeyListQuerySchema,
      response: { 200: KeyListSchema, ...authErrors },
    },
    handler: async (request) => keys.list(request.query),
  });

  app.get<{ Params: { name: string } }>('/keys/:name', {
    config: { roles: READERS },
    schema: {
      tags: ['keys'],
      summary: 'A key with its versions, lineage and deadlines',
      security: [{ bearer: [] }],
      params: keyNameParams,
      response: { 200: KeyDetailSchema, ...refusals },
    },
    handler: async (request) => keys.describe(request.params.name),
  });

  app.patch<{ Params: { name: string }; Body: KeyPolicyFields }>('/keys/:name/policy', {
    config: { roles: OPERATORS, problemCodes: { body: 'invalid_policy' } },
    schema: {
      tags: ['keys'],
      summary: 'Change some fields of a key\'s policy; the whole result is validated before it applies',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: PolicyChangeSchema,
      response: { 200: KeyPolicySchema, ...refusals },
    },
    handler: async (request) => keys.updatePolicy(request.params.name, { change: request.body, actor: actorOf(request) }),
  });

  app.delete<{ Params: { name: string }; Body: DecommissionBody }>('/keys/:name', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['keys'],
      summary: 'Decommission a key: destroys every version on every node; send the key\'s name as confirm',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: DecommissionBodySchema,
      response: { 200: DecommissionedSchema, ...refusals },
    },
    handler: async (request) => keys.decommission(request.params.name, { ...request.body, actor: actorOf(request) }),
  });

  app.post<{ Params: { name: string }; Body: RotateBody; Headers: RotateHeaders }>('/keys/:name/rotate', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['keys'],
      summary: 'Rotate now and answer with the new version once it is active (200). emergency: the old version stops signing on every node before the answer, is marked compromised and archived without a grace period. '
        + 'With `Prefer: respond-async` (RFC 7240): 202 once the new version is recorded and published, active, or waiting for a node, with Preference-Applied and Location: /keys/{name}',
      security: [{ bearer: [] }],
      params: keyNameParams,
      headers: RotateHeadersSchema,
      body: RotateBodySchema,
      response: { 200: RotatedSchema, 202: RotationAcceptedSchema, ...refusals },
    },
    handler: async (request, reply) => {
      const input = { reason: request.body.reason, emergency: request.body.emergency ?? false, actor: actorOf(request) };
      void reply.header('Vary', 'Prefer');
      if (!prefersRespondAsync(request.headers.prefer)) return keys.rotate(request.params.name, input);
      const accepted = await keys.startRotation(request.params.name, input);
      return reply.status(202).header('Preference-Applied', 'respond-async').header('Location', `/keys/${encodeURIComponent(request.params.name)}`).send(accepted);
    },
  });

  app.post<{ Params: { name: string }; Body: ExtendGraceBody }>('/keys/:name/grace', {
    config: { roles: OPERATORS, problemCodes: { 'body/extendBy': 'invalid_duration' } },
    schema: {
      tags: ['keys'],
      summary: 'Extend the running grace period (Update extendGrace): answers with the deadline the workflow applied; refused past maxGracePeriod',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: ExtendGraceBodySchema,
      response: { 202: GraceExtendedSchema, ...refusals },
    },
    handler: async (request, reply) => reply.status(202).send(await keys.extendGrace(request.params.name, { ...request.body, actor: actorOf(request) })),
  });

  app.post<{ Params: { name: string }; Body: ReasonBody }>('/keys/:name/grace/complete', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['keys'],
      summary: 'End the grace period now (Update completeGrace): the retiring version is archived and verified before the answer',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: ReasonBodySchema('why the grace period ends now (audit log)'),
      response: { 200: GraceCompletedSchema, ...refusals },
    },
    handler: async (request) => keys.completeGrace(request.params.name, { reason: request.body.reason, actor: actorOf(request) }),
  });

  app.post<{ Params: { name: string }; Body: ReasonBody }>('/keys/:name/resume', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['keys'],
      summary: 'Resume a held key (Update resumeKey): the step it stopped at runs again; fix the cause (see held.reason) first',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: ReasonBodySchema('why the key may go on: what was fixed'),
      response: { 200: ResumedSchema, ...refusals },
    },
    handler: async (request) => keys.resume(request.params.name, { reason: request.body.reason, actor: actorOf(request) }),
  });
}
