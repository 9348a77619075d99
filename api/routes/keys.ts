import type { FastifyInstance } from 'fastify';
import { OPERATORS, READERS, actorOf } from '../auth';
import { KeyNameParamsSchema, type Defaulted, type KeyNameParams } from '../schemas/bounds';
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
  MinDecryptionBodySchema,
  MinDecryptionRaisedSchema,
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
  type MinDecryptionBody,
  type ReasonBody,
  type RotateBody,
  type RotateHeaders,
} from '../schemas/keys';
import { problems } from '../schemas/problem';
import type { KeyService } from '../services/keys';
import { routesOf } from './route-options';

const route = routesOf('keys');
/** What an operation on a key may be refused with: no such key, a state that does not allow it, a node that failed it. */
const refusals = problems(404, 409, 502);

/** RFC 7240: whether a Prefer header asks for `respond-async` (preferences are comma-separated, names case-insensitive). */
function prefersRespondAsync(header: string | undefined): boolean {
  return (header ?? '').split(',').some((preference) => (preference.split(/[;=]/)[0] ?? '').trim().toLowerCase() === 'respond-async');
}

export function keyRoutes(app: FastifyInstance, keys: KeyService): void {
  app.post<{ Body: CreateKeyBody }>('/keys', {
    ...route(
      OPERATORS,
      'Create a managed key: starts its lifecycle workflow, which generates v1 on a healthy node and replicates it to every node',
      { body: CreateKeyBodySchema, response: { 202: CreatedKeySchema, ...refusals } },
      { 'body/name': 'invalid_key_name', 'body/type': 'invalid_key_type', 'body/policy': 'invalid_policy' },
    ),
    handler: async (request, reply) => reply.status(202).send(await keys.create({ ...request.body, actor: actorOf(request) })),
  });

  app.get<{ Querystring: Defaulted<KeyListQuery, 'limit' | 'offset'> }>('/keys', {
    ...route(
      READERS,
      'Managed keys, by name, a page at a time; filtered by phase and name prefix',
      { querystring: KeyListQuerySchema, response: { 200: KeyListSchema } },
    ),
    handler: async (request) => keys.list(request.query),
  });

  app.get<{ Params: KeyNameParams }>('/keys/:name', {
    ...route(
      READERS,
      'A key with its versions, lineage and deadlines',
      { params: KeyNameParamsSchema, response: { 200: KeyDetailSchema, ...refusals } },
    ),
    handler: async (request) => keys.describe(request.params.name),
  });

  app.patch<{ Params: KeyNameParams; Body: KeyPolicyFields }>('/keys/:name/policy', {
    ...route(
      OPERATORS,
      'Change some fields of a key\'s policy; the whole result is validated before it applies',
      { params: KeyNameParamsSchema, body: PolicyChangeSchema, response: { 200: KeyPolicySchema, ...refusals } },
      { body: 'invalid_policy' },
    ),
    handler: async (request) => keys.updatePolicy(request.params.name, { change: request.body, actor: actorOf(request) }),
  });

  app.delete<{ Params: KeyNameParams; Body: DecommissionBody }>('/keys/:name', {
    ...route(
      OPERATORS,
      'Decommission a key: destroys every version on every node; send the key\'s name as confirm',
      { params: KeyNameParamsSchema, body: DecommissionBodySchema, response: { 200: DecommissionedSchema, ...refusals } },
    ),
    handler: async (request) => keys.decommission(request.params.name, { ...request.body, actor: actorOf(request) }),
  });

  app.post<{ Params: KeyNameParams; Body: RotateBody; Headers: RotateHeaders }>('/keys/:name/rotate', {
    ...route(
      OPERATORS,
      'Rotate now and answer with the new version once it is active (200). emergency: the old version stops signing on every node before the answer, is marked compromised and archived without a grace period. '
        + 'With `Prefer: respond-async` (RFC 7240): 202 once the new version is recorded and published, active, or waiting for a node, with Preference-Applied and Location: /keys/{name}',
      { params: KeyNameParamsSchema, headers: RotateHeadersSchema, body: RotateBodySchema, response: { 200: RotatedSchema, 202: RotationAcceptedSchema, ...refusals, ...problems(422) } },
    ),
    handler: async (request, reply) => {
      const { name } = request.params;
      const input = { reason: request.body.reason, emergency: request.body.emergency ?? false, actor: actorOf(request) };
      const respondAsync = prefersRespondAsync(request.headers.prefer);
      void reply.header('Vary', 'Prefer');
      const answer = await keys.rotateOnce(name, input, { respondAsync, idempotencyKey: request.headers['idempotency-key'], tokenId: request.principal?.id, body: request.body });
      if (answer.replayed) void reply.header('Idempotency-Replayed', 'true');
      if (answer.status === 202) void reply.header('Preference-Applied', 'respond-async').header('Location', `/keys/${encodeURIComponent(name)}`);
      return reply.status(answer.status).send(answer.body);
    },
  });

  app.post<{ Params: KeyNameParams; Body: ExtendGraceBody }>('/keys/:name/grace', {
    ...route(
      OPERATORS,
      'Extend the running grace period (Update extendGrace): answers with the deadline the workflow applied; refused past maxGracePeriod',
      { params: KeyNameParamsSchema, body: ExtendGraceBodySchema, response: { 202: GraceExtendedSchema, ...refusals } },
      { 'body/extendBy': 'invalid_duration' },
    ),
    handler: async (request, reply) => reply.status(202).send(await keys.extendGrace(request.params.name, { ...request.body, actor: actorOf(request) })),
  });

  app.post<{ Params: KeyNameParams; Body: ReasonBody }>('/keys/:name/grace/complete', {
    ...route(
      OPERATORS,
      'End the grace period now (Update completeGrace): the retiring version is archived and verified before the answer',
      { params: KeyNameParamsSchema, body: ReasonBodySchema('why the grace period ends now (audit log)'), response: { 200: GraceCompletedSchema, ...refusals } },
    ),
    handler: async (request) => keys.completeGrace(request.params.name, { reason: request.body.reason, actor: actorOf(request) }),
  });

  app.post<{ Params: KeyNameParams; Body: MinDecryptionBody }>('/keys/:name/min-decryption-version', {
    ...route(
      OPERATORS,
      'Encryption keys: raise minDecryptionVersion (Update raiseMinDecryptionVersion): every decrypt-only version below it is archived and verified now, in use or not',
      { params: KeyNameParamsSchema, body: MinDecryptionBodySchema, response: { 200: MinDecryptionRaisedSchema, ...refusals } },
    ),
    handler: async (request) => keys.raiseMinDecryption(request.params.name, { version: request.body.version, ...(request.body.reason === undefined ? {} : { reason: request.body.reason }), actor: actorOf(request) }),
  });

  app.post<{ Params: KeyNameParams; Body: ReasonBody }>('/keys/:name/resume', {
    ...route(
      OPERATORS,
      'Resume a held key (Update resumeKey): the step it stopped at runs again; fix the cause (see held.reason) first',
      { params: KeyNameParamsSchema, body: ReasonBodySchema('why the key may go on: what was fixed'), response: { 200: ResumedSchema, ...refusals } },
    ),
    handler: async (request) => keys.resume(request.params.name, { reason: request.body.reason, actor: actorOf(request) }),
  });
}
