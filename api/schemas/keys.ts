import { Type, type Static } from '@sinclair/typebox';
import { durationSchema, textSchema } from '../../domain/input-bounds';
import { AUTOMATIC_TRIGGERS, KEY_NAME_RULE, KEY_TYPES, VERSION_STATES, type RotationEvidence, type TransitionVerdict } from '../../domain/keys/key-model';
import { SENSITIVITY_CLASS_PATTERN } from '../../domain/keys/policy';
import { EntropyProvenanceSchema } from './entropy';
import { Limit, Offset, keyNamePrefixSchema, keyNameSchema } from './bounds';
import { Json, Nullable, NullableOpenObject, NullableString, NullableStringEnum, OpenObject, StringEnum } from './typebox';

/**
 * The key objects of the API, each defined once: the routes validate and serialize with these schemas, the OpenAPI
 * document shows them, and the TypeScript types below (and the dashboard's, generated from the document) derive from them.
 */

const Duration = (description: string) => Json<string>(durationSchema(description));
const Reason = (description: string) => Json<string>(textSchema(description, 1));

/** A key's policy as clients send and read it; every field may be left out (the defaults and the current policy fill in). */
export const KeyPolicySchema = Type.Object(
  {
    gracePeriod: Type.Optional(Duration('how long a replaced version stays published (1s to 100 years; at most maxGracePeriod)')),
    maxGracePeriod: Type.Optional(Duration('the cap grace extensions cannot pass, from the moment the version started retiring (at most usage.rawRetention)')),
    retention: Type.Optional(Duration('archive to purge (1s to 100 years)')),
    maxAge: Type.Optional(Duration('hard cryptoperiod: the key rotates when its active version reaches it (1s to 100 years)')),
    minRotationInterval: Type.Optional(Duration('no automatic rotation sooner than this after an activation (1s up to maxAge)')),
    evaluationInterval: Type.Optional(Duration('how often the key\'s risk is evaluated (1s to 100 years)')),
    riskThreshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, not: { enum: [0] }, description: 'risk score at which the key rotates: greater than 0, at most 1' })),
    capacityLimit: Type.Optional(
      Nullable(
        Type.Integer({
          minimum: 1,
          maximum: Number.MAX_SAFE_INTEGER,
          description: 'the operations one version may serve, a positive safe integer: private-key operations (sign, decrypt, unwrap), or for aes-256 encryptions and wraps (default 2^32, SP 800-38D\'s bound for GCM with random IVs); null: no limit',
        }),
      ),
    ),
    capacityMargin: Type.Optional(Duration('rotate at least this long (plus one evaluation interval) before forecast use exhausts capacityLimit (0 to 100 years)')),
    sensitivity: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: SENSITIVITY_CLASS_PATTERN.source, description: 'a data class of prediction.sensitivityWeights' })),
    entropyPolicy: Type.Optional(NullableStringEnum(['hold', 'hsm-only'])),
    decryptAfterCompromise: Type.Optional(Type.Boolean({ description: 'encryption keys: whether an emergency rotation leaves the compromised version able to decrypt and unwrap (to recover and rewrap data), or switches those off too; encrypt and wrap go off either way (default true)' })),
    publicationLead: Type.Optional(Duration('how long a new version is in the JWKS before it signs (0s to 1h; longer than the cooldown of the verifiers\' cached key sets, 30 s for jose); an emergency rotation does not wait')),
  },
  { additionalProperties: false },
);
export type KeyPolicyFields = Static<typeof KeyPolicySchema>;

export const LineageSchema = Type.Object({
  previousVersion: Type.Optional(Nullable(Type.Integer())),
  trigger: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
  actor: Type.Optional(Type.String()),
  evidence: Type.Optional(
    Type.Object(
      {
        evaluationId: Type.Optional(Type.String()),
        score: Type.Optional(Type.Number()),
        threshold: Type.Optional(Type.Number()),
        components: Type.Optional(Type.Array(OpenObject<RotationEvidence['components'][number]>())),
        modelVersion: Type.Optional(Nullable(Type.String())),
        capacityExhaustedAt: Type.Optional(NullableString()),
      },
      { description: 'for a rotation a risk evaluation triggered: its score and components (GET /keys/{name}/risk has the evaluation)' },
    ),
  ),
});

export const KeyPredictionSchema = Type.Object(
  {
    riskScore: Nullable(Type.Number()),
    riskThreshold: Type.Number(),
    predictedRotationAt: NullableString(),
    predictedTrigger: NullableStringEnum(AUTOMATIC_TRIGGERS),
    nextEvaluationAt: NullableString(),
    evaluatedAt: NullableString(),
    reason: Nullable(Type.String()),
  },
  { description: 'the latest risk evaluation (GET /keys/{name}/risk has the history); before the first one, the maxAge date' },
);
export type KeyPredictionReply = Static<typeof KeyPredictionSchema>;

/** When a version entered each of its states, and its deadlines; the key map's versions show the same dates. */
export const versionDates = {
  publishedAt: Type.Optional(NullableString({ description: 'when the version entered the JWKS' })),
  activatesAt: Type.Optional(NullableString({ description: 'when a published pending version becomes the active one (publishedAt + the policy\'s publicationLead)' })),
  activatedAt: Type.Optional(NullableString()),
  retiringAt: Type.Optional(NullableString()),
  archivedAt: Type.Optional(NullableString()),
  purgedAt: Type.Optional(NullableString()),
  compromisedAt: Type.Optional(NullableString()),
  graceDeadline: Type.Optional(NullableString()),
  purgeAfter: Type.Optional(NullableString()),
};

export const KeyVersionSchema = Type.Object({
  version: Type.Integer(),
  kid: Type.String(),
  fingerprint: Type.String(),
  state: StringEnum(VERSION_STATES),
  generatedOn: Type.String(),
  createdAt: Type.String(),
  ...versionDates,
  mayEncrypt: Type.Optional(Type.Boolean({ description: 'encryption keys: whether the version encrypts and wraps on every node (only the active one does)' })),
  mayDecrypt: Type.Optional(Type.Boolean({ description: 'encryption keys: whether the version decrypts and unwraps on every node (the active one, and older ones until they are archived)' })),
  lineage: LineageSchema,
  verdict: Type.Optional(NullableOpenObject<TransitionVerdict>()),
  entropyProvenance: Type.Optional(Nullable(EntropyProvenanceSchema)),
});
export type KeyVersionReply = Static<typeof KeyVersionSchema>;

const keySummaryFields = {
  name: Type.String(),
  keyType: Type.String(),
  phase: Type.String(),
  policy: Type.Optional(KeyPolicySchema),
  activeVersion: Nullable(Type.Integer()),
  nextRotationAt: Type.Optional(NullableString()),
  createdAt: Type.String(),
  createdBy: Type.Optional(Type.String()),
  updatedAt: Type.Optional(Type.String()),
  prediction: Type.Optional(KeyPredictionSchema),
};

export const KeyListItemSchema = Type.Object({
  ...keySummaryFields,
  graceDeadline: Type.Optional(NullableString({ description: 'when the retiring version\'s grace period ends' })),
  nextPurgeAt: Type.Optional(NullableString({ description: 'the earliest purge of an archived version' })),
});
export type KeyListItem = Static<typeof KeyListItemSchema>;

export const KeyListSchema = Type.Object({
  keys: Type.Array(KeyListItemSchema),
  total: Type.Integer({ description: 'keys matching the filters' }),
});
export type KeyList = Static<typeof KeyListSchema>;

/** What a key waits for (domain/keys/node-wait.ts `Waiting`): GET /keys/:name and the early answer of a rotation. */
const WaitingSchema = Nullable(
  Type.Object(
    {
      for: Type.String({ description: '`nodes` when a step waits for HSM nodes whose workers are away; else what it waits for, in words' }),
      since: Type.String(),
      nodes: Type.Optional(Type.Array(Type.String(), { description: 'the nodes whose workers did not take the step' })),
      step: Type.Optional(Type.String({ description: 'the step that waits for them' })),
      alertedAt: Type.Optional(NullableString({ description: 'when the wait was reported by an alert (once it outlasted twice the heartbeat timeout)' })),
    },
    { description: 'what the key waits for that it expects to come (an HSM node\'s worker, a healthy entropy pool), and since when' },
  ),
);

export const KeyDetailSchema = Type.Object({
  ...keySummaryFields,
  activeVersion: Type.Optional(keySummaryFields.activeVersion),
  createdAt: Type.Optional(keySummaryFields.createdAt),
  workflowId: Type.Optional(Type.String()),
  versions: Type.Array(KeyVersionSchema),
  minDecryptionVersion: Type.Optional(Nullable(Type.Integer({ description: 'encryption keys: the lowest version that still decrypts; ciphertexts under older versions no longer open. It rises as versions are archived, or when raised (POST /keys/{name}/min-decryption-version)' }))),
  deadlines: Type.Object({
    graceDeadline: Type.Optional(NullableString()),
    graceCap: Type.Optional(NullableString()),
    nextRotationAt: Type.Optional(NullableString()),
    nextEvaluationAt: Type.Optional(NullableString()),
    nextEvaluation: Type.Optional(Nullable(Type.String())),
  }),
  held: Type.Optional(
    Nullable(
      Type.Object(
        { step: Type.String(), reason: Type.String(), since: Type.String() },
        { description: 'set when a step failed for good: the key waits at that step until POST /keys/{name}/resume (or an emergency rotation, or a decommission)' },
      ),
    ),
  ),
  waiting: Type.Optional(WaitingSchema),
  working: Type.Optional(Nullable(Type.String({ description: 'the procedure under way (a rotation, an archive, a purge, ...)' }))),
});
export type KeyDetail = Static<typeof KeyDetailSchema>;

// Requests and the replies of the key's operations.

export const CreateKeyBodySchema = Type.Object(
  {
    name: Json<string>(keyNameSchema(`the new key's name, never reused: ${KEY_NAME_RULE}`)),
    // Not an enum: ed25519 must reach the service, which says why it is refused.
    type: Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9-]+$', description: `one of ${KEY_TYPES.join(', ')} (ed25519 is refused: SoftHSM cannot wrap it)` }),
    policy: Type.Optional(KeyPolicySchema),
    reason: Type.Optional(Json<string>(textSchema('why the key is made (audit log and v1\'s lineage)'))),
  },
  { additionalProperties: false },
);
export type CreateKeyBody = Static<typeof CreateKeyBodySchema>;

export const CreatedKeySchema = Type.Object({ name: Type.String(), workflowId: Type.String(), policy: KeyPolicySchema });

export const KeyListQuerySchema = Type.Object(
  {
    phase: Type.Optional(
      Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z][a-z-]*$', description: 'only keys in this phase (creating, active, rotating, grace, decommissioning, decommissioned)' }),
    ),
    prefix: Type.Optional(Json<string>(keyNamePrefixSchema)),
    limit: Limit(500, 50),
    offset: Offset,
  },
  { additionalProperties: false },
);
export type KeyListQuery = Static<typeof KeyListQuerySchema>;

export const PolicyChangeSchema = Type.Object(KeyPolicySchema.properties, { additionalProperties: false, minProperties: 1 });

export const DecommissionBodySchema = Type.Object(
  { confirm: Json<string>(keyNameSchema('the key\'s name again')), reason: Reason('why the key is decommissioned (audit log)') },
  { additionalProperties: false },
);
export type DecommissionBody = Static<typeof DecommissionBodySchema>;
export const DecommissionedSchema = Type.Object({ destroyedVersions: Type.Array(Type.Integer()) });

export const RotateBodySchema = Type.Object(
  { reason: Reason('why the key rotates (audit log and the new version\'s lineage)'), emergency: Type.Optional(Type.Boolean({ default: false })) },
  { additionalProperties: false },
);
export type RotateBody = Static<typeof RotateBodySchema>;
/** RFC 7240: `Prefer: respond-async` asks for the early answer (202) of a rotation. */
export const RotateHeadersSchema = Type.Object({
  prefer: Type.Optional(Type.String({ maxLength: 256, description: '`respond-async`: answer 202 once the new version is recorded and published (or active, or waiting for a node), not once it is active' })),
  'idempotency-key': Type.Optional(Type.String({
    minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$',
    description: 'a key of the client\'s choosing (a UUID): a repeat of the same request with the same key, by the same token within a day, gets the first answer again (Idempotency-Replayed: true) instead of rotating again; the same key with another request is refused (422)',
  })),
});
export type RotateHeaders = Static<typeof RotateHeadersSchema>;
/** The early answer of a rotation (Update startRotation); the key's state (Location) shows the rest. */
export const RotationAcceptedSchema = Type.Object({
  version: Type.Integer(),
  kid: Type.String(),
  fingerprint: Type.String(),
  state: Type.String({ description: '`pending` until it activates (at once for an emergency rotation)' }),
  publishedAt: NullableString({ description: 'when the new version entered the JWKS' }),
  activatesAt: NullableString({ description: 'when it becomes the active version (null while its replicas wait for a node, before it is published)' }),
  waiting: WaitingSchema,
  previous: Nullable(Type.Object({ version: Type.Integer(), state: Type.String() })),
  signingDisabledOn: Type.Array(Type.String()),
});
export const RotatedSchema = Type.Object({
  version: Type.Integer(),
  kid: Type.String(),
  fingerprint: Type.String(),
  previous: Nullable(Type.Object({ version: Type.Optional(Type.Integer()), state: Type.Optional(Type.String()) })),
  signingDisabledOn: Type.Array(Type.String()),
});

export const ExtendGraceBodySchema = Type.Object(
  {
    extendBy: Duration('how much longer the grace period runs (1s to 100 years; refused past maxGracePeriod)'),
    reason: Reason('why the grace period is extended (audit log)'),
  },
  { additionalProperties: false },
);
export type ExtendGraceBody = Static<typeof ExtendGraceBodySchema>;
export const GraceExtendedSchema = Type.Object({ expectedDeadline: Type.String({ description: 'the grace deadline the workflow applied' }), cap: NullableString() });

/** A body that is only the reason for an operation. */
export const ReasonBodySchema = (description: string) => Type.Object({ reason: Reason(description) }, { additionalProperties: false });
export type ReasonBody = Static<ReturnType<typeof ReasonBodySchema>>;
export const GraceCompletedSchema = Type.Object({ version: Type.Integer(), state: Type.String(), verdictOk: Nullable(Type.Boolean()) });
export const MinDecryptionBodySchema = Type.Object(
  {
    version: Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'the new minDecryptionVersion: every decrypt-only version below it is archived now (at most the active version)' }),
    reason: Type.Optional(Reason('why (audit log)')),
  },
  { additionalProperties: false },
);
export type MinDecryptionBody = Static<typeof MinDecryptionBodySchema>;
export const MinDecryptionRaisedSchema = Type.Object({
  minDecryptionVersion: Nullable(Type.Integer()),
  archived: Type.Array(Type.Integer(), { description: 'the versions below it that are archived now' }),
});
export const ResumedSchema = Type.Object({ resumed: Type.String({ description: 'the step that runs again' }) });
