import { Type, type Static } from '@sinclair/typebox';
import { SEVERITIES } from '../../adapters/postgres/alert-repository';
import { Limit, Offset, textFilterSchema } from './bounds';
import { DateTime, Json, NullableDateTime, Nullable, StringEnum } from './typebox';

/** An alert: raised by a component, folded with later occurrences while open, acknowledged by an operator. */
export const AlertSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  dedupKey: Type.String(),
  severity: StringEnum(SEVERITIES),
  source: Type.String(),
  subject: Type.String(),
  message: Type.String(),
  firstSeen: DateTime(),
  lastSeen: DateTime(),
  count: Type.Integer(),
  acknowledgedBy: Nullable(Type.String()),
  acknowledgedAt: NullableDateTime(),
});
export type AlertReply = Static<typeof AlertSchema>;

export const AlertListSchema = Type.Object({ alerts: Type.Array(AlertSchema), total: Type.Integer() });
export type AlertList = Static<typeof AlertListSchema>;

export const AlertListQuerySchema = Type.Object(
  {
    state: Type.Optional(StringEnum(['open', 'acknowledged'])),
    severity: Type.Optional(StringEnum(SEVERITIES)),
    source: Type.Optional(Json<string>(textFilterSchema(100, 'only alerts from this source (audit, entropy, keymap, …)'))),
    limit: Limit(500, 50),
    offset: Offset,
  },
  { additionalProperties: false },
);
export type AlertListQuery = Static<typeof AlertListQuerySchema>;
