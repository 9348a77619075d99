import { Type, type Static } from '@sinclair/typebox';
import { CLEAN_TEXT_PATTERN } from '../../domain/input-bounds';
import { SENSITIVITY_CLASS_PATTERN } from '../../domain/keys/policy';
import { MAX_BATCH, MAX_VERSION, USAGE_FIELD_BOUNDS, USAGE_OPERATIONS } from '../../domain/usage/events';
import { keyNameSchema } from './bounds';
import { Json, OneOf, StringEnum } from './typebox';

/** POST /usage: a batch of HSM access-log events. */

const Text = (maxLength: number, description: string) => Type.String({ minLength: 1, maxLength, pattern: CLEAN_TEXT_PATTERN, description });

export const UsageEventSchema = Type.Object(
  {
    ts: Type.String({ minLength: 1, maxLength: USAGE_FIELD_BOUNDS.ts, description: 'when: an ISO 8601 time in the years 0001–9999, at most an hour ahead' }),
    key: Json<string>(keyNameSchema('the key used')),
    kid: Type.Optional(Text(USAGE_FIELD_BOUNDS.kid, 'the version used, by kid (give kid or version)')),
    version: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_VERSION, description: 'the version used, by number' })),
    op: StringEnum(USAGE_OPERATIONS),
    app: Text(USAGE_FIELD_BOUNDS.app, 'the application, as its access log names it'),
    node: Type.Optional(Type.String({ maxLength: USAGE_FIELD_BOUNDS.node, pattern: CLEAN_TEXT_PATTERN, description: 'the HSM node that served it' })),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: USAGE_FIELD_BOUNDS.maxCount, description: 'operations this event stands for (default 1)' })),
    sensitivity: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, pattern: SENSITIVITY_CLASS_PATTERN.source, description: 'the data class the operation served (one of prediction.sensitivityWeights)' }),
    ),
    eventId: Type.Optional(Text(USAGE_FIELD_BOUNDS.eventId, 'an id of the event: a repeated one is stored once')),
  },
  { additionalProperties: false },
);

const UsageBatchSchema = Type.Array(UsageEventSchema, { minItems: 1, maxItems: MAX_BATCH });
/** The events as an array, or as `{"events": [...]}`. */
export const UsageBodySchema = OneOf([UsageBatchSchema, Type.Object({ events: UsageBatchSchema }, { additionalProperties: false })]);

export const UsageStoredSchema = Type.Object({ stored: Type.Integer(), duplicates: Type.Integer() });
export type UsageStored = Static<typeof UsageStoredSchema>;
