import type { FastifyInstance } from 'fastify';
import { VERSION_STATES, type VersionState } from '../../domain/keys/key-model';
import { OPERATORS, READERS, actorOf } from '../auth';
import { keyNameSchema, limitSchema, nodeIdSchema, offsetSchema } from '../schemas/bounds';
import { authErrors } from '../schemas/problem';
import type { KeymapService } from '../services/keymap';

const nullableString = { type: ['string', 'null'] } as const;
const hex64 = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;

const entropyHealthSchema = {
  type: 'object',
  required: ['status', 'unhealthySources'],
  properties: {
    status: { type: 'string', enum: ['healthy', 'degraded', 'low', 'unknown'] },
    unhealthySources: { type: 'array', items: { type: 'string' } },
  },
} as const;

const holdingSchema = {
  type: 'object',
  required: ['privateKey', 'publicKey', 'canSign'],
  properties: { privateKey: { type: 'boolean' }, publicKey: { type: 'boolean' }, canSign: { type: ['boolean', 'null'] } },
} as const;

const mapVersionSchema = {
  type: 'object',
  required: ['version', 'kid', 'fingerprint', 'label', 'state', 'lineage', 'nodes'],
  properties: {
    version: { type: 'integer' },
    kid: { type: 'string' },
    fingerprint: { type: 'string' },
    label: { type: 'string', description: 'CKA_LABEL of its objects on every node' },
    state: { type: 'string', enum: VERSION_STATES },
    generatedOn: { type: 'string' },
    createdAt: { type: 'string' },
    publishedAt: { type: ['string', 'null'], description: 'when the version entered the JWKS' },
    activatesAt: { type: ['string', 'null'], description: 'when a published pending version becomes the active one: applications switch to it then' },
    activatedAt: nullableString,
    retiringAt: nullableString,
    archivedAt: nullableString,
    purgedAt: nullableString,
    compromisedAt: nullableString,
    graceDeadline: nullableString,
    purgeAfter: { type: ['string', 'null'], description: 'the retention deadline' },
    lineage: {
      type: 'object',
      properties: { parentVersion: { type: ['integer', 'null'] }, trigger: { type: 'string' }, reason: { type: 'string' }, actor: { type: 'string' } },
    },
    entropyProvenance: { type: ['object', 'null'], additionalProperties: true, description: 'pool snapshot of the generating node: credited bits, DRBG, each source state and estimate, battery' },
    nodes: { type: 'object', additionalProperties: holdingSchema, description: 'the nodes holding objects of this version, as the last sync found them' },
  },
} as const;

const mapKeySchema = {
  type: 'object',
  required: ['name', 'keyType', 'phase', 'activeVersion', 'prediction', 'versions'],
  properties: {
    name: { type: 'string' },
    keyType: { type: 'string' },
    phase: { type: 'string' },
    activeVersion: { type: ['integer', 'null'] },
    policy: { type: 'object', additionalProperties: true },
    nextRotationAt: { type: ['string', 'null'], description: 'the maxAge deadline' },
    prediction: {
      type: 'object',
      required: ['predictedRotationAt', 'nextEvaluationAt', 'lastRiskScore'],
      properties: { predictedRotationAt: nullableString, predictedTrigger: nullableString, nextEvaluationAt: nullableString, lastRiskScore: { type: ['number', 'null'] } },
    },
    versions: { type: 'array', items: mapVersionSchema },
  },
} as const;

const mapNodeSchema = { type: 'object', required: ['id', 'entropy'], properties: { id: { type: 'string' }, entropy: entropyHealthSchema } } as const;

const driftItemSchema = {
  type: 'object',
  properties: {
    kind: { type: 'string' }, key: nullableString, version: { type: ['integer', 'null'] }, class: nullableString, id: { type: 'string' }, label: { type: 'string' }, detail: { type: 'string' },
  },
} as const;

const driftSummarySchema = {
  type: 'object',
  properties: {
    inventory: { type: 'string', enum: ['matched', 'listed', 'unreachable'], description: 'matched: the inventory digest was the expected one; listed: the buckets that differed were listed' },
    total: { type: 'integer' },
    byKind: { type: 'object', additionalProperties: { type: 'integer' } },
    items: { type: 'array', items: driftItemSchema, description: 'the first 100' },
  },
} as const;

const ANCHOR_STATUS = { type: 'string', enum: ['valid', 'missing', 'tampered', 'unverifiable', 'ahead-of-database', 'mismatch'] } as const;

const nodeStatusSchema = {
  type: 'object',
  required: ['id', 'member', 'entropy', 'acknowledged', 'inSync', 'stale'],
  properties: {
    id: { type: 'string' },
    member: { type: 'boolean', description: 'configured in the cluster' },
    entropy: entropyHealthSchema,
    acknowledged: {
      type: ['object', 'null'],
      description: 'the epoch and digest of the snapshot the node holds, as its last sync read back',
      properties: { epoch: { type: 'integer' }, digest: { type: 'string' }, at: nullableString },
    },
    inSync: { type: 'boolean', description: 'acknowledged the current epoch and digest' },
    epochsBehind: { type: ['integer', 'null'] },
    stale: { type: 'boolean', description: 'the last sync could not reach the node' },
    staleSince: nullableString,
    staleReason: nullableString,
    lastSyncAt: nullableString,
    lastSeenAt: nullableString,
    snapshot: {
      type: 'object',
      properties: { status: { type: ['string', 'null'], description: 'valid, missing, tampered or unverifiable when last checked' }, problem: nullableString, checkedAt: nullableString, tamperedAt: nullableString },
    },
    drift: { ...driftSummarySchema, type: ['object', 'null'] },
    auditAnchor: {
      type: ['object', 'null'],
      description: 'the last check of the node\'s audit anchor (the signed audit chain head it holds); null before the first',
      properties: { seq: { type: ['integer', 'null'] }, hash: nullableString, status: ANCHOR_STATUS, problem: nullableString, checkedAt: { type: 'string' }, writtenAt: nullableString },
    },
  },
} as const;

const repairsSchema = {
  type: 'object',
  properties: {
    replicated: { type: 'integer' }, publicKeysRestored: { type: 'integer' }, destroyed: { type: 'integer' }, signingDisabled: { type: 'integer' }, bytesWritten: { type: 'integer' },
    failures: { type: 'array', items: { type: 'object', properties: { what: { type: 'string' }, error: { type: 'string' } } } },
  },
} as const;

const syncResultSchema = {
  type: 'object',
  required: ['runId', 'trigger', 'epoch', 'digest', 'nodes', 'skippedKeys', 'unknownObjects', 'problems'],
  properties: {
    runId: { type: 'string' },
    trigger: { type: 'string' },
    actor: { type: 'string' },
    startedAt: { type: 'string' },
    finishedAt: { type: 'string' },
    epoch: { type: 'integer' },
    digest: hex64,
    signingKey: { type: ['object', 'null'], properties: { fingerprint: { type: 'string' }, created: { type: 'boolean' } } },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          nodeId: { type: 'string' },
          status: { type: 'string', enum: ['in-sync', 'repaired', 'drift', 'stale'] },
          reason: nullableString,
          inventory: { type: 'string', enum: ['matched', 'listed', 'unreachable'] },
          objects: { type: ['integer', 'null'] },
          drift: driftSummarySchema,
          repairs: repairsSchema,
          snapshot: {
            type: 'object',
            properties: {
              found: nullableString, problem: nullableString, action: { type: 'string', enum: ['unchanged', 'written', 'rewritten', 'not-written'] },
              headWritten: { type: 'boolean' }, shardsWritten: { type: 'integer' }, bytesWritten: { type: 'integer' }, bytesRead: { type: 'integer' },
            },
          },
          auditAnchor: {
            type: 'object',
            description: 'absent for a node the sync did not reach',
            properties: {
              status: ANCHOR_STATUS, problem: nullableString,
              found: { type: ['object', 'null'], properties: { seq: { type: 'integer' }, hash: { type: 'string' } } },
              action: { type: 'string', enum: ['unchanged', 'written', 'rewritten', 'kept', 'not-written'] },
              written: { type: ['object', 'null'], properties: { seq: { type: 'integer' }, hash: { type: 'string' } } },
              bytesWritten: { type: 'integer' },
            },
          },
          bytesWritten: { type: 'integer' },
          acknowledged: { type: ['object', 'null'], properties: { epoch: { type: 'integer' }, digest: { type: 'string' } } },
        },
      },
    },
    skippedKeys: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, why: { type: 'string' } } } },
    unknownObjects: { type: 'array', items: { type: 'object', properties: { nodeId: { type: 'string' }, class: { type: 'string' }, id: { type: 'string' }, label: { type: 'string' } } } },
    problems: { type: 'array', items: { type: 'string' } },
  },
} as const;

export function keymapRoutes(app: FastifyInstance, keymap: KeymapService): void {
  app.get<{ Querystring: { key?: string; state?: VersionState; node?: string; limit?: number; offset?: number } }>('/keymap', {
    config: { roles: READERS },
    schema: {
      tags: ['keymap'],
      summary: 'The cluster key map (PostgreSQL is its source of truth): per key and version the state, fingerprint, holding nodes, prediction, entropy provenance, lineage and deadlines; the epoch and digest of the whole map',
      security: [{ bearer: [] }],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          key: keyNameSchema('only this key'),
          state: { type: 'string', enum: VERSION_STATES },
          node: nodeIdSchema('versions held on this node, with only its holdings'),
          limit: limitSchema(1000, 100),
          offset: offsetSchema,
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['epoch', 'digest', 'total', 'keys', 'nodes'],
          properties: {
            epoch: { type: 'integer', description: 'bumped by every change to the map' },
            digest: { ...hex64, description: 'SHA-256 of the canonical JSON of the whole map (filters do not change it)' },
            total: { type: 'integer', description: 'keys matching the filters' },
            keys: { type: 'array', items: mapKeySchema },
            nodes: { type: 'array', items: mapNodeSchema },
          },
        },
        ...authErrors,
      },
    },
    handler: async (request) => keymap.keymap({ ...request.query, limit: request.query.limit ?? 100, offset: request.query.offset ?? 0 }),
  });

  app.get('/keymap/nodes', {
    config: { roles: READERS },
    schema: {
      tags: ['keymap'],
      summary: 'Each node against the map: the epoch and digest it acknowledged, drift found, staleness, snapshot check, entropy health',
      security: [{ bearer: [] }],
      response: {
        200: {
          type: 'object',
          required: ['epoch', 'digest', 'nodes'],
          properties: {
            epoch: { type: 'integer' },
            digest: hex64,
            lastSync: { type: ['object', 'null'], properties: { runId: { type: 'string' }, trigger: { type: 'string' }, actor: { type: 'string' }, startedAt: { type: 'string' }, finishedAt: nullableString } },
            nodes: { type: 'array', items: nodeStatusSchema },
          },
        },
        ...authErrors,
      },
    },
    handler: async () => keymap.nodes(),
  });

  app.post('/keymap/sync', {
    config: { roles: OPERATORS },
    schema: {
      tags: ['keymap'],
      summary: 'Run a key map sync now and answer with its result (waits for a sync already running to finish first)',
      security: [{ bearer: [] }],
      response: { 200: syncResultSchema, ...authErrors },
    },
    handler: async (request) => keymap.sync(actorOf(request)),
  });
}
