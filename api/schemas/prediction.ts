import { Type, type Static } from '@sinclair/typebox';
import { CLEAN_TEXT_PATTERN, timestampSchema } from '../../domain/input-bounds';
import { AUTOMATIC_TRIGGERS } from '../../domain/keys/key-model';
import { MAX_KEY_LIST_LENGTH, MAX_LISTED_KEYS } from '../../domain/keys/key-name-list';
import { Limit } from './bounds';
import { DateTime, Dictionary, Json, Nullable, NullableStringEnum, NullableString } from './typebox';

/** Risk evaluations, risk trends and the global forecast models. */

const Trigger = () => NullableStringEnum(AUTOMATIC_TRIGGERS);

/** One risk evaluation of a key: score = 1 − Π(1 − weight × value) over its components, and the decision. */
export const RiskEvaluationSchema = Type.Object({
  evaluationId: Type.String(),
  evaluatedAt: Type.String(),
  version: Type.Integer(),
  score: Type.Number(),
  threshold: Type.Number(),
  rotate: Type.Boolean(),
  trigger: Type.Optional(Trigger()),
  heldTrigger: Type.Optional(Trigger()),
  predictedTrigger: Type.Optional(Trigger()),
  reason: Type.String(),
  predictedRotationAt: Type.Optional(Type.String()),
  nextEvaluationAt: Type.Optional(Type.String()),
  capacityExhaustedAt: Type.Optional(NullableString()),
  usedCount: Type.Optional(Type.Integer({ description: 'private-key operations the version had served' })),
  components: Type.Array(
    Type.Object({ name: Type.String(), value: Type.Number(), weight: Type.Number(), contribution: Type.Number(), detail: Type.String() }),
  ),
  weights: Type.Optional(Dictionary(Type.Number())),
  modelVersion: Type.Optional(NullableString()),
  forecastMethod: Type.Optional(Type.String()),
});

export const RiskHistorySchema = Type.Object({ key: Type.String(), items: Type.Array(RiskEvaluationSchema) });
export type RiskHistory = Static<typeof RiskHistorySchema>;

export const RiskHistoryQuerySchema = Type.Object(
  { limit: Limit(500, 50), before: Type.Optional(Json<string>(timestampSchema('only evaluations before this time (the oldest evaluatedAt of a page, for the next one)'))) },
  { additionalProperties: false },
);
export type RiskHistoryQuery = Static<typeof RiskHistoryQuerySchema>;

/** POST /keys/{name}/evaluate: what the evaluation the key ran now found. */
export const EvaluationSummarySchema = Type.Object({
  evaluationId: Type.String(),
  evaluatedAt: Type.String(),
  version: Type.Optional(Type.Integer()),
  score: Nullable(Type.Number()),
  threshold: Type.Number(),
  predictedTrigger: Type.Optional(Trigger()),
  predictedRotationAt: NullableString(),
  nextEvaluationAt: Type.String(),
  reason: Type.String(),
  failed: Type.Boolean(),
});

/** A week of hourly evaluations, the default evaluation interval. */
const MAX_POINTS = 168;

export const RiskTrendsQuerySchema = Type.Object(
  {
    keys: Type.String({ minLength: 1, maxLength: MAX_KEY_LIST_LENGTH, pattern: CLEAN_TEXT_PATTERN, description: `comma-separated key names, at most ${MAX_LISTED_KEYS}, each once` }),
    points: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_POINTS, default: 24, description: 'evaluations per key, the newest ones' })),
  },
  { additionalProperties: false },
);
export type RiskTrendsQuery = Static<typeof RiskTrendsQuerySchema>;

export const RiskTrendsSchema = Type.Object({
  trends: Type.Array(
    Type.Object({
      key: Type.String(),
      points: Type.Array(
        Type.Object({ evaluatedAt: DateTime(), score: Type.Number({ description: 'risk score 0–1, as in GET /keys/{name}/risk items[].score' }) }),
        { description: 'oldest first' },
      ),
    }),
  ),
  unknown: Type.Array(Type.String(), { description: 'names asked for that are no key' }),
});
export type RiskTrends = Static<typeof RiskTrendsSchema>;

/** A trained global forecast model. */
export const ModelSchema = Type.Object({ modelVersion: Type.String(), trainedAt: Type.String(), keys: Type.Integer(), trainingRows: Type.Integer(), trainMs: Type.Integer() });
export const ModelListSchema = Type.Object({ models: Type.Array(ModelSchema) });
export type ModelList = Static<typeof ModelListSchema>;
export const ModelListQuerySchema = Type.Object({ limit: Limit(100, 20) }, { additionalProperties: false });
export type ModelListQuery = Static<typeof ModelListQuerySchema>;

/** POST /models/retrain: the retraining's result. */
export const RetrainedSchema = Type.Object({
  trained: Type.Boolean(),
  modelVersion: NullableString(),
  keys: Type.Integer(),
  trainingRows: Type.Integer(),
  trainMs: Type.Integer(),
  reason: NullableString({ description: 'why nothing was trained' }),
});
export type Retrained = Static<typeof RetrainedSchema>;
