import { Type, type Static } from '@sinclair/typebox';
import { CLEAN_TEXT_PATTERN, TIMESTAMP_MAX_LENGTH, TIMESTAMP_PATTERN } from '../../domain/input-bounds';
import { INDICATOR_ID_PATTERN, INDICATOR_TEXT_MAX_LENGTH, MAX_INDICATORS, SEVERITY_LEVELS, THREAT_SCOPES, type ThreatScope } from '../../domain/threat-intel/indicators';
import { Limit, Offset, keyNameSchema, textFilterSchema } from './bounds';
import { DateTime, Json, Nullable, NullableStringEnum, NullableString, OneOf, StringEnum } from './typebox';

/** Threat indicators as clients report them and read them back, and the feed's last pull. */

const SEVERITY_LEVEL_NAMES = Object.keys(SEVERITY_LEVELS) as Array<keyof typeof SEVERITY_LEVELS>;

const IndicatorId = (options: { description?: string } = {}) => Type.String({ minLength: 1, maxLength: 200, pattern: INDICATOR_ID_PATTERN.source, ...options });
const IndicatorText = (description: string) => Type.String({ minLength: 1, maxLength: INDICATOR_TEXT_MAX_LENGTH, pattern: CLEAN_TEXT_PATTERN, description });

const indicatorFields = {
  id: IndicatorId({ description: 'the indicator\'s id: re-posting it updates the indicator' }),
  severity: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), StringEnum(SEVERITY_LEVEL_NAMES)], {
    description: `a number from 0 to 1 or a level (${Object.entries(SEVERITY_LEVELS).map(([level, value]) => `${level} ${value}`).join(', ')})`,
  }),
  expiresAt: Type.String({ minLength: 1, maxLength: TIMESTAMP_MAX_LENGTH, pattern: TIMESTAMP_PATTERN, description: 'ISO 8601 with its zone (years 0001–9999, offsets up to ±15:59)' }),
  source: IndicatorText('who reported it'),
};

/** An indicator reaches one key, the keys an application uses, or every key (no target). */
const IndicatorInputSchema = OneOf([
  Type.Object({ ...indicatorFields, scope: StringEnum(['key'] satisfies ThreatScope[]), target: Json<string>(keyNameSchema('the key it concerns')) }, { additionalProperties: false }),
  Type.Object(
    { ...indicatorFields, scope: StringEnum(['app'] satisfies ThreatScope[]), target: IndicatorText('the application it concerns, as usage events name it') },
    { additionalProperties: false },
  ),
  Type.Object({ ...indicatorFields, scope: StringEnum(['all'] satisfies ThreatScope[]), target: Type.Optional(Type.Null()) }, { additionalProperties: false }),
]);
const IndicatorBatchSchema = Type.Array(IndicatorInputSchema, { minItems: 1, maxItems: MAX_INDICATORS });
/** The indicators as an array, or as `{"indicators": [...]}`. */
export const IndicatorReportBodySchema = OneOf([IndicatorBatchSchema, Type.Object({ indicators: IndicatorBatchSchema }, { additionalProperties: false })]);

export const IndicatorsStoredSchema = Type.Object({
  created: Type.Integer(),
  updated: Type.Integer(),
  unchanged: Type.Integer({ description: 'posted again exactly as stored' }),
});

export const IndicatorSchema = Type.Object({
  id: Type.String(),
  severity: Type.Number({ minimum: 0, maximum: 1 }),
  severityLevel: NullableStringEnum(SEVERITY_LEVEL_NAMES),
  scope: StringEnum(THREAT_SCOPES),
  target: NullableString(),
  expiresAt: DateTime(),
  source: Type.String(),
  live: Type.Boolean(),
  createdAt: DateTime(),
  createdBy: Type.String(),
  updatedAt: DateTime(),
  updatedBy: Type.String(),
});

export const FeedPullSchema = Nullable(
  Type.Object({
    at: DateTime(),
    ok: Type.Boolean(),
    received: Type.Integer(),
    created: Type.Integer(),
    updated: Type.Integer(),
    unchanged: Type.Integer(),
    error: NullableString(),
  }),
);

export const IndicatorListSchema = Type.Object({
  indicators: Type.Array(IndicatorSchema),
  total: Type.Integer(),
  feed: Type.Object({ configured: Type.Boolean(), lastPull: FeedPullSchema }),
});
export type IndicatorList = Static<typeof IndicatorListSchema>;

export const IndicatorListQuerySchema = Type.Object(
  {
    include: Type.Optional(StringEnum(['expired'])),
    scope: Type.Optional(StringEnum(THREAT_SCOPES)),
    target: Type.Optional(Json<string>(textFilterSchema(INDICATOR_TEXT_MAX_LENGTH, 'only indicators with this target (a key name or an application)'))),
    limit: Limit(1000, 100),
    offset: Offset,
  },
  { additionalProperties: false },
);
export type IndicatorListQuery = Static<typeof IndicatorListQuerySchema>;

export const IndicatorIdParamsSchema = Type.Object({ id: IndicatorId() });
export type IndicatorIdParams = Static<typeof IndicatorIdParamsSchema>;
