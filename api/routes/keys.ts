import type { FastifyInstance } from 'fastify';
import type { Database } from '../../adapters/postgres/database';
import { listKeys } from '../../adapters/postgres/key-repository';
import { latestEvaluations, type RiskHistoryItem } from '../../adapters/postgres/prediction-repository';
import { durationSchema, textSchema } from '../../domain/input-bounds';
import { KEY_TYPES, VERSION_STATES } from '../../domain/keys/key-model';
import { predictionOf } from '../../domain/keys/prediction';
import { SENSITIVITY_CLASS_PATTERN, type KeyPolicy } from '../../domain/keys/policy';
import { OPERATORS, READERS, actorOf } from '../auth';
import { keyNameParams, keyNamePrefixSchema, keyNameSchema, limitSchema, offsetSchema } from '../schemas/bounds';
import { authErrors, problemRef } from '../schemas/problem';
import type { KeyService } from '../services/keys';

const refusals = { ...authErrors, 404: problemRef, 409: problemRef, 502: problemRef } as const;
const reasonSchema = (description: string) => textSchema(description, 1);

const policySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    gracePeriod: durationSchema('how long a replaced version stays published (1s to 100 years; at most maxGracePeriod)'),
    maxGracePeriod: durationSchema('the cap grace extensions cannot pass, from the moment the version started retiring (at most usage.rawRetention)'),
    retention: durationSchema('archive to purge (1s to 100 years)'),
    maxAge: durationSchema('hard cryptoperiod: the key rotates when its active version reaches it (1s to 100 years)'),
    minRotationInterval: durationSchema('no automatic rotation sooner than this after an activation (1s up to maxAge)'),
    evaluationInterval: durationSchema('how often the key\'s risk is evaluated (1s to 100 years)'),
    riskThreshold: { type: 'number', minimum: 0, maximum: 1, not: { enum: [0] }, description: 'risk score at which the key rotates: greater than 0, at most 1' },
    capacityLimit: {
      type: ['integer', 'null'],
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'private-key operations (sign, decrypt, unwrap) one version may serve, a positive safe integer; null: no limit',
    },
    capacityMargin: durationSchema('rotate at least this long (plus one evaluation interval) before forecast use exhausts capacityLimit (0 to 100 years)'),
    sensitivity: { type: 'string', minLength: 1, maxLength: 64, pattern: SENSITIVITY_CLASS_PATTERN.source, description: 'a data class of prediction.sensitivityWeights' },
    entropyPolicy: { type: ['string', 'null'], enum: ['hold', 'hsm-only', null] },
  },
} as const;

const lineageSchema = {
  type: 'object',
  properties: {
    previousVersion: { type: ['integer', 'null'] },
    trigger: { type: 'string' },
    reason: { type: 'string' },
    actor: { type: 'string' },
    evidence: {
      type: 'object',
      description: 'for a rotation a risk evaluation triggered: its score and components (GET /keys/{name}/risk has the evaluation)',
      properties: {
        evaluationId: { type: 'string' },
        score: { type: 'number' },
        threshold: { type: 'number' },
        components: { type: 'array', items: { type: 'object', additionalProperties: true } },
        modelVersion: { type: ['string', 'null'] },
        capacityExhaustedAt: { type: ['string', 'null'] },
      },
    },
  },
} as const;

const predictionSchema = {
  type: 'object',
  description: 'the latest risk evaluation (GET /keys/{name}/risk has the history); before the first one, the maxAge date',
  required: ['riskScore', 'riskThreshold', 'predictedRotationAt', 'predictedTrigger', 'nextEvaluationAt', 'evaluatedAt', 'reason'],
  properties: {
    riskScore: { type: ['number', 'null'] },
    riskThreshold: { type: 'number' },
    predictedRotationAt: { type: ['string', 'null'] },
    predictedTrigger: { type: ['string', 'null'], enum: ['risk', 'capacity', 'age', null] },
    nextEvaluationAt: { type: ['string', 'null'] },
    evaluatedAt: { type: ['string', 'null'] },
    reason: { type: ['string', 'null'] },
  },
} as const;

/** The prediction block of a key: its latest evaluation, or what the policy alone says. */
function keyPrediction(key: { policy: Record<string, unknown>; nextRotationAt: string | null }, latest: RiskHistoryItem | undefined) {
  const evaluated = latest && { riskScore: latest.score, predictedRotationAt: latest.predictedRotationAt, predictedTrigger: latest.predictedTrigger, nextEvaluationAt: latest.nextEvaluationAt, evaluatedAt: latest.evaluatedAt, reason: latest.reason };
  return { ...predictionOf(key, evaluated ?? null), riskThreshold: latest?.threshold ?? (key.policy.riskThreshold as number) };
}

const versionSchema = {
  type: 'object',
  required: ['version', 'kid', 'fingerprint', 'state', 'generatedOn', 'createdAt', 'lineage'],
  properties: {
    version: { type: 'integer' },
    kid: { type: 'string' },
    fingerprint: { type: 'string' },
    state: { type: 'string', enum: VERSION_STATES },
    generatedOn: { type: 'string' },
    createdAt: { type: 'string' },
    activatedAt: { type: ['string', 'null'] },
    retiringAt: { type: ['string', 'null'] },
    archivedAt: { type: ['string', 'null'] },
    purgedAt: { type: ['string', 'null'] },
    compromisedAt: { type: ['string', 'null'] },
    graceDeadline: { type: ['string', 'null'] },
    purgeAfter: { type: ['string', 'null'] },
    lineage: lineageSchema,
    verdict: { type: ['object', 'null'], additionalProperties: true },
    entropyProvenance: { type: ['object', 'null'], additionalProperties: true, description: 'pool snapshot of the generating node' },
  },
} as const;

const keySummarySchema = {
  type: 'object',
  required: ['name', 'keyType', 'phase', 'activeVersion', 'createdAt'],
  properties: {
    name: { type: 'string' },
    keyType: { type: 'string' },
    phase: { type: 'string' },
    policy: policySchema,
    activeVersion: { type: ['integer', 'null'] },
    nextRotationAt: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
    createdBy: { type: 'string' },
    updatedAt: { type: 'string' },
    prediction: predictionSchema,
  },
} as const;

const keyListItemSchema = {
  ...keySummarySchema,
  properties: {
    ...keySummarySchema.properties,
    graceDeadline: { type: ['string', 'null'], description: 'when the retiring version\'s grace period ends' },
    nextPurgeAt: { type: ['string', 'null'], description: 'the earliest purge of an archived version' },
  },
} as const;

const keyDetailSchema = {
  type: 'object',
  required: ['name', 'keyType', 'phase', 'versions', 'deadlines'],
  properties: {
    ...keySummarySchema.properties,
    workflowId: { type: 'string' },
    versions: { type: 'array', items: versionSchema },
    deadlines: {
      type: 'object',
      properties: {
        graceDeadline: { type: ['string', 'null'] },
        graceCap: { type: ['string', 'null'] },
        nextRotationAt: { type: ['string', 'null'] },
        nextEvaluationAt: { type: ['string', 'null'] },
        nextEvaluation: { type: ['string', 'null'] },
      },
    },
    held: {
      type: ['object', 'null'],
      description: 'set when a step failed for good: the key waits at that step until POST /keys/{name}/resume (or an emergency rotation, or a decommission)',
      required: ['step', 'reason', 'since'],
      properties: { step: { type: 'string' }, reason: { type: 'string' }, since: { type: 'string' } },
    },
    waiting: {
      type: ['object', 'null'],
      description: 'what the key waits for that it expects to come (an HSM node, a healthy entropy pool), and since when',
      required: ['for', 'since'],
      properties: { for: { type: 'string' }, since: { type: 'string' } },
    },
    working: { type: ['string', 'null'], description: 'the procedure under way (a rotation, an archive, a purge, ...)' },
  },
} as const;

export function keyRoutes(app: FastifyInstance, db: Database, keys: KeyService): void {
  app.post<{ Body: { name: string; type: string; policy?: Partial<KeyPolicy>; reason?: string } }>('/keys', {
    config: { roles: OPERATORS, problemCodes: { 'body/name': 'invalid_key_name', 'body/type': 'invalid_key_type', 'body/policy': 'invalid_policy' } },
    schema: {
      tags: ['keys'],
      summary: 'Create a managed key: starts its lifecycle workflow, which generates v1 on a healthy node and replicates it to every node',
      security: [{ bearer: [] }],
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'type'],
        properties: {
          name: keyNameSchema('the new key\'s name, never reused: 1–64 of a-z, 0-9, \'.\', \'_\' and \'-\', starting with a letter or digit'),
          // Not an enum: ed25519 must reach the service, which says why it is refused.
          type: { type: 'string', minLength: 1, maxLength: 32, pattern: '^[a-z0-9-]+$', description: `one of ${KEY_TYPES.join(', ')} (ed25519 is refused: SoftHSM cannot wrap it)` },
          policy: policySchema,
          reason: textSchema('why the key is made (audit log and v1\'s lineage)'),
        },
      },
      response: {
        202: { type: 'object', required: ['name', 'workflowId', 'policy'], properties: { name: { type: 'string' }, workflowId: { type: 'string' }, policy: policySchema } },
        ...refusals,
      },
    },
    handler: async (request, reply) => reply.status(202).send(await keys.create({ ...request.body, actor: actorOf(request) })),
  });

  app.get<{ Querystring: { phase?: string; prefix?: string; limit?: number; offset?: number } }>('/keys', {
    config: { roles: READERS },
    schema: {
      tags: ['keys'],
      summary: 'Managed keys, by name, a page at a time; filtered by phase and name prefix',
      security: [{ bearer: [] }],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          phase: { type: 'string', minLength: 1, maxLength: 32, pattern: '^[a-z][a-z-]*$', description: 'only keys in this phase (creating, active, rotating, grace, decommissioning, decommissioned)' },
          prefix: keyNamePrefixSchema,
          limit: limitSchema(500, 50),
          offset: offsetSchema,
        },
      },
      response: { 200: { type: 'object', required: ['keys', 'total'], properties: { keys: { type: 'array', items: keyListItemSchema }, total: { type: 'integer', description: 'keys matching the filters' } } }, ...authErrors },
    },
    handler: async (request) => {
      const page = await listKeys(db, { ...request.query, limit: request.query.limit ?? 50, offset: request.query.offset ?? 0 });
      const latest = await latestEvaluations(db, page.keys.map((key) => key.name));
      return { ...page, keys: page.keys.map((key) => ({ ...key, prediction: keyPrediction(key, latest.get(key.name)) })) };
    },
  });

  app.get<{ Params: { name: string } }>('/keys/:name', {
    config: { roles: READERS },
    schema: {
      tags: ['keys'],
      summary: 'A key with its versions, lineage and deadlines',
      security: [{ bearer: [] }],
      params: keyNameParams,
      response: { 200: keyDetailSchema, ...refusals },
    },
    handler: async (request) => {
      const { recorded, live } = await keys.get(request.params.name);
      const latest = await latestEvaluations(db, [recorded.key.name]);
      return {
        ...recorded.key,
        prediction: keyPrediction(recorded.key, latest.get(recorded.key.name)),
        workflowId: `key/${recorded.key.name}`,
        versions: recorded.versions,
        deadlines: {
          graceDeadline: live?.graceDeadline ?? recorded.versions.find((v) => v.state === 'retiring')?.graceDeadline ?? null,
          graceCap: live?.graceCap ?? null,
          nextRotationAt: live?.nextRotationAt ?? recorded.key.nextRotationAt,
          nextEvaluationAt: live?.nextEvaluationAt ?? null,
          nextEvaluation: live?.nextEvaluation ?? null,
        },
        held: live?.held ?? null,
        waiting: live?.waiting ?? null,
        working: live?.working ?? null,
      };
    },
  });

  app.patch<{ Params: { name: string }; Body: Partial<KeyPolicy> }>('/keys/:name/policy', {
    config: { roles: OPERATORS, problemCodes: { body: 'invalid_policy' } },
    schema: {
      tags: ['keys'],
      summary: 'Change some fields of a key\'s policy; the whole result is validated before it applies',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: { ...policySchema, minProperties: 1 },
      response: { 200: policySchema, ...refusals },
    },
    handler: async (request) => keys.updatePolicy(request.params.name, { change: request.body, actor: actorOf(request) }),
  });

  app.delete<{ Params: { name: string }; Body: { confirm: string; reason: string } }>('/keys/:name', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['keys'],
      summary: 'Decommission a key: destroys every version on every node; send the key\'s name as confirm',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['confirm', 'reason'],
        properties: { confirm: keyNameSchema('the key\'s name again'), reason: reasonSchema('why the key is decommissioned (audit log)') },
      },
      response: { 200: { type: 'object', required: ['destroyedVersions'], properties: { destroyedVersions: { type: 'array', items: { type: 'integer' } } } }, ...refusals },
    },
    handler: async (request) => keys.decommission(request.params.name, { ...request.body, actor: actorOf(request) }),
  });

  app.post<{ Params: { name: string }; Body: { reason: string; emergency?: boolean } }>('/keys/:name/rotate', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['keys'],
      summary: 'Rotate now and answer with the new version. emergency: the old version stops signing on every node before the answer, is marked compromised and archived without a grace period',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['reason'],
        properties: { reason: reasonSchema('why the key rotates (audit log and the new version\'s lineage)'), emergency: { type: 'boolean', default: false } },
      },
      response: {
        200: {
          type: 'object',
          required: ['version', 'kid', 'fingerprint', 'previous', 'signingDisabledOn'],
          properties: {
            version: { type: 'integer' },
            kid: { type: 'string' },
            fingerprint: { type: 'string' },
            previous: { type: ['object', 'null'], properties: { version: { type: 'integer' }, state: { type: 'string' } } },
            signingDisabledOn: { type: 'array', items: { type: 'string' } },
          },
        },
        ...refusals,
      },
    },
    handler: async (request) => keys.rotate(request.params.name, { reason: request.body.reason, emergency: request.body.emergency ?? false, actor: actorOf(request) }),
  });

  app.post<{ Params: { name: string }; Body: { extendBy: string; reason: string } }>('/keys/:name/grace', {
    config: { roles: OPERATORS, problemCodes: { 'body/extendBy': 'invalid_duration' } },
    schema: {
      tags: ['keys'],
      summary: 'Extend the running grace period (Update extendGrace): answers with the deadline the workflow applied; refused past maxGracePeriod',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['extendBy', 'reason'],
        properties: {
          extendBy: durationSchema('how much longer the grace period runs (1s to 100 years; refused past maxGracePeriod)'),
          reason: reasonSchema('why the grace period is extended (audit log)'),
        },
      },
      response: { 202: { type: 'object', required: ['expectedDeadline', 'cap'], properties: { expectedDeadline: { type: 'string', description: 'the grace deadline the workflow applied' }, cap: { type: ['string', 'null'] } } }, ...refusals },
    },
    handler: async (request, reply) => reply.status(202).send(await keys.extendGrace(request.params.name, { ...request.body, actor: actorOf(request) })),
  });

  app.post<{ Params: { name: string }; Body: { reason: string } }>('/keys/:name/grace/complete', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['keys'],
      summary: 'End the grace period now (Update completeGrace): the retiring version is archived and verified before the answer',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: reasonSchema('why the grace period ends now (audit log)') } },
      response: { 200: { type: 'object', required: ['version', 'state', 'verdictOk'], properties: { version: { type: 'integer' }, state: { type: 'string' }, verdictOk: { type: ['boolean', 'null'] } } }, ...refusals },
    },
    handler: async (request) => keys.completeGrace(request.params.name, { reason: request.body.reason, actor: actorOf(request) }),
  });

  app.post<{ Params: { name: string }; Body: { reason: string } }>('/keys/:name/resume', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['keys'],
      summary: 'Resume a held key (Update resumeKey): the step it stopped at runs again; fix the cause (see held.reason) first',
      security: [{ bearer: [] }],
      params: keyNameParams,
      body: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: reasonSchema('why the key may go on: what was fixed') } },
      response: { 200: { type: 'object', required: ['resumed'], properties: { resumed: { type: 'string', description: 'the step that runs again' } } }, ...refusals },
    },
    handler: async (request) => keys.resume(request.params.name, { reason: request.body.reason, actor: actorOf(request) }),
  });
}
