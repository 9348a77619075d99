import { Type, type Static } from '@sinclair/typebox';
import type { AnchorStatus } from '../../domain/audit/anchor';
import { Limit, sequenceSchema, textFilterSchema } from './bounds';
import { DateTime, Json, Nullable, NullableDateTime, NullableString, OpenObject, StringEnum } from './typebox';

/** The audit log, its verification, and the audit anchors the nodes hold (also in the key map's node status). */

const ANCHOR_STATUSES = ['valid', 'missing', 'tampered', 'unverifiable', 'ahead-of-database', 'mismatch'] as const satisfies readonly AnchorStatus[];
export const AnchorStatusSchema = StringEnum(ANCHOR_STATUSES);

export const AuditEntrySchema = Type.Object({
  seq: Type.Integer(),
  at: DateTime(),
  actor: Type.String(),
  action: Type.String(),
  subject: Type.String(),
  details: OpenObject<Record<string, unknown>>(),
  prevHash: Type.String(),
  hash: Type.String(),
});

export const AuditPageSchema = Type.Object({ entries: Type.Array(AuditEntrySchema), nextAfterSeq: Type.Optional(Type.Integer()) });
export type AuditPage = Static<typeof AuditPageSchema>;

export const AuditQuerySchema = Type.Object(
  {
    afterSeq: Type.Optional(Json<number>(sequenceSchema('only entries after this seq (the last seq of a page, for the next one)'))),
    limit: Limit(1000, 100),
    subject: Type.Optional(Json<string>(textFilterSchema(200, 'only entries about this subject (a key name, threat-intel, …)'))),
    action: Type.Optional(Json<string>(textFilterSchema(100, 'only entries of this action (key.created, …)'))),
  },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuerySchema>;

export const AuditVerificationSchema = Type.Object({
  ok: Type.Boolean(),
  entries: Type.Integer(),
  firstSeq: Nullable(Type.Integer()),
  lastSeq: Nullable(Type.Integer()),
  headHash: Type.String(),
  problems: Type.Array(Type.Object({ seq: Type.Integer(), kind: StringEnum(['modified', 'missing', 'broken-link']), message: Type.String() })),
  anchored: Type.Boolean({
    description: 'the chain verifies, at least one node holds an anchor, and every node\'s anchor (as last checked) names an entry the log holds unchanged',
  }),
  anchors: Type.Array(
    Type.Object({
      node: Type.String(),
      seq: Nullable(Type.Integer()),
      hash: NullableString(),
      checkedAt: DateTime(),
      status: AnchorStatusSchema,
      problem: Type.Optional(NullableString()),
      writtenAt: Type.Optional(NullableDateTime()),
      matchesLog: Type.Optional(Type.Boolean({ description: 'the log holds the anchored entry with this hash now' })),
    }),
    { description: 'each node\'s audit anchor as the last key map sync checked it' },
  ),
});
export type AuditReport = Static<typeof AuditVerificationSchema>;
