import { Type, type Static } from '@sinclair/typebox';
import { VERSION_STATES } from '../../domain/keys/key-model';
import { AnchorStatusSchema } from './audit';
import { Limit, Offset, keyNameSchema, nodeIdSchema } from './bounds';
import { versionDates } from './keys';
import { Dictionary, Json, Nullable, NullableOpenObject, NullableString, OpenObject, StringEnum } from './typebox';

/** The cluster key map, each node against it, and the result of a key map sync. */

const Digest = (options: { description?: string } = {}) => Type.String({ pattern: '^[0-9a-f]{64}$', ...options });
/** An object whose fields are all optional: the parts of a sync result a step fills in as far as it got. */
const Partial = <T extends Parameters<typeof Type.Object>[0]>(properties: T, options: { description?: string } = {}) => Type.Partial(Type.Object(properties), options);
const Inventory = (options: { description?: string } = {}) => StringEnum(['matched', 'listed', 'unreachable'], options);

const EntropyHealthSchema = Type.Object({ status: StringEnum(['healthy', 'degraded', 'low', 'unknown']), unhealthySources: Type.Array(Type.String()) });

const HoldingSchema = Type.Object({ privateKey: Type.Boolean(), publicKey: Type.Boolean(), canSign: Nullable(Type.Boolean()) });

export const MapVersionSchema = Type.Object({
  version: Type.Integer(),
  kid: Type.String(),
  fingerprint: Type.String(),
  label: Type.String({ description: 'CKA_LABEL of its objects on every node' }),
  state: StringEnum(VERSION_STATES),
  generatedOn: Type.Optional(Type.String()),
  createdAt: Type.Optional(Type.String()),
  ...versionDates,
  activatesAt: Type.Optional(NullableString({ description: 'when a published pending version becomes the active one: applications switch to it then' })),
  purgeAfter: Type.Optional(NullableString({ description: 'the retention deadline' })),
  lineage: Partial({ parentVersion: Nullable(Type.Integer()), trigger: Type.String(), reason: Type.String(), actor: Type.String() }),
  entropyProvenance: Type.Optional(
    NullableOpenObject({ description: 'pool snapshot of the generating node: credited bits, DRBG, each source state and estimate, battery' }),
  ),
  nodes: Dictionary(HoldingSchema, { description: 'the nodes holding objects of this version, as the last sync found them' }),
  mayEncrypt: Type.Optional(Type.Boolean({ description: 'encryption keys: whether the version encrypts and wraps on every node (the active one only)' })),
  mayDecrypt: Type.Optional(Type.Boolean({ description: 'encryption keys: whether it decrypts and unwraps (until it is archived)' })),
});

export const MapKeySchema = Type.Object({
  name: Type.String(),
  keyType: Type.String(),
  phase: Type.String(),
  activeVersion: Nullable(Type.Integer()),
  policy: Type.Optional(OpenObject()),
  nextRotationAt: Type.Optional(NullableString({ description: 'the maxAge deadline' })),
  prediction: Type.Object({
    predictedRotationAt: NullableString(),
    predictedTrigger: Type.Optional(NullableString()),
    nextEvaluationAt: NullableString(),
    lastRiskScore: Nullable(Type.Number()),
  }),
  versions: Type.Array(MapVersionSchema),
  minDecryptionVersion: Type.Optional(Nullable(Type.Integer({ description: 'encryption keys: the lowest version that still decrypts' }))),
});

export const KeymapQuerySchema = Type.Object(
  {
    key: Type.Optional(Json<string>(keyNameSchema('only this key'))),
    state: Type.Optional(StringEnum(VERSION_STATES)),
    node: Type.Optional(Json<string>(nodeIdSchema('versions held on this node, with only its holdings'))),
    limit: Limit(1000, 100),
    offset: Offset,
  },
  { additionalProperties: false },
);
export type KeymapQuery = Static<typeof KeymapQuerySchema>;

export const KeymapSchema = Type.Object({
  epoch: Type.Integer({ description: 'bumped by every change to the map' }),
  digest: Digest({ description: 'SHA-256 of the canonical JSON of the whole map (filters do not change it)' }),
  total: Type.Integer({ description: 'keys matching the filters' }),
  keys: Type.Array(MapKeySchema),
  nodes: Type.Array(Type.Object({ id: Type.String(), entropy: EntropyHealthSchema })),
});
export type KeymapReply = Static<typeof KeymapSchema>;

const DriftSummarySchema = Partial({
  inventory: Inventory({ description: 'matched: the inventory digest was the expected one; listed: the buckets that differed were listed' }),
  total: Type.Integer(),
  byKind: Dictionary(Type.Integer()),
  items: Type.Array(
    Partial({
      kind: Type.String(),
      key: NullableString(),
      version: Nullable(Type.Integer()),
      class: NullableString(),
      id: Type.String(),
      label: Type.String(),
      detail: Type.String(),
    }),
    { description: 'the first 100' },
  ),
});

export const NodeStatusSchema = Type.Object({
  id: Type.String(),
  member: Type.Boolean({ description: 'configured in the cluster' }),
  entropy: EntropyHealthSchema,
  acknowledged: Nullable(
    Partial({ epoch: Type.Integer(), digest: Type.String(), at: NullableString() }, { description: 'the epoch and digest of the snapshot the node holds, as its last sync read back' }),
  ),
  inSync: Type.Boolean({ description: 'acknowledged the current epoch and digest' }),
  epochsBehind: Type.Optional(Nullable(Type.Integer())),
  stale: Type.Boolean({ description: 'the last sync could not reach the node' }),
  staleSince: Type.Optional(NullableString()),
  staleReason: Type.Optional(NullableString()),
  lastSyncAt: Type.Optional(NullableString()),
  lastSeenAt: Type.Optional(NullableString()),
  snapshot: Type.Optional(
    Partial({
      status: NullableString({ description: 'valid, missing, tampered or unverifiable when last checked' }),
      problem: NullableString(),
      checkedAt: NullableString(),
      tamperedAt: NullableString(),
    }),
  ),
  drift: Type.Optional(Nullable(DriftSummarySchema)),
  auditAnchor: Type.Optional(
    Nullable(
      Partial(
        { seq: Nullable(Type.Integer()), hash: NullableString(), status: AnchorStatusSchema, problem: NullableString(), checkedAt: Type.String(), writtenAt: NullableString() },
        { description: 'the last check of the node\'s audit anchor (the signed audit chain head it holds); null before the first' },
      ),
    ),
  ),
});

export const KeymapNodesSchema = Type.Object({
  epoch: Type.Integer(),
  digest: Digest(),
  lastSync: Type.Optional(
    Nullable(Partial({ runId: Type.String(), trigger: Type.String(), actor: Type.String(), startedAt: Type.String(), finishedAt: NullableString() })),
  ),
  nodes: Type.Array(NodeStatusSchema),
});
export type KeymapNodes = Static<typeof KeymapNodesSchema>;

const SeqAndHash = () => Nullable(Partial({ seq: Type.Integer(), hash: Type.String() }));

const NodeSyncSchema = Partial({
  nodeId: Type.String(),
  status: StringEnum(['in-sync', 'repaired', 'drift', 'stale']),
  reason: NullableString(),
  inventory: Inventory(),
  objects: Nullable(Type.Integer()),
  drift: DriftSummarySchema,
  repairs: Partial({
    replicated: Type.Integer(),
    publicKeysRestored: Type.Integer(),
    destroyed: Type.Integer(),
    signingDisabled: Type.Integer(),
    bytesWritten: Type.Integer(),
    failures: Type.Array(Partial({ what: Type.String(), error: Type.String() })),
  }),
  snapshot: Partial({
    found: NullableString(),
    problem: NullableString(),
    action: StringEnum(['unchanged', 'written', 'rewritten', 'not-written']),
    headWritten: Type.Boolean(),
    shardsWritten: Type.Integer(),
    bytesWritten: Type.Integer(),
    bytesRead: Type.Integer(),
  }),
  auditAnchor: Partial(
    {
      status: AnchorStatusSchema,
      problem: NullableString(),
      found: SeqAndHash(),
      action: StringEnum(['unchanged', 'written', 'rewritten', 'kept', 'not-written']),
      written: SeqAndHash(),
      bytesWritten: Type.Integer(),
    },
    { description: 'absent for a node the sync did not reach' },
  ),
  bytesWritten: Type.Integer(),
  acknowledged: Nullable(Partial({ epoch: Type.Integer(), digest: Type.String() })),
});

export const SyncResultSchema = Type.Object({
  runId: Type.String(),
  trigger: Type.String(),
  actor: Type.Optional(Type.String()),
  startedAt: Type.Optional(Type.String()),
  finishedAt: Type.Optional(Type.String()),
  epoch: Type.Integer(),
  digest: Digest(),
  signingKey: Type.Optional(Nullable(Partial({ fingerprint: Type.String(), created: Type.Boolean() }))),
  nodes: Type.Array(NodeSyncSchema),
  skippedKeys: Type.Array(Partial({ key: Type.String(), why: Type.String() })),
  unknownObjects: Type.Array(Partial({ nodeId: Type.String(), class: Type.String(), id: Type.String(), label: Type.String() })),
  problems: Type.Array(Type.String()),
});
