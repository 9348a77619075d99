import { Type, type Static } from '@sinclair/typebox';
import { timestampSchema } from '../../domain/input-bounds';
import { Limit, nodeIdSchema } from './bounds';
import { Json, Nullable, StringEnum } from './typebox';

/**
 * A node's entropy as the API shows it: the pool snapshot of a harvest (also the entropy provenance of every key version)
 * and its sources. The objects stay open (additionalProperties): a harvest's report passes through whole, and the fields
 * named here are the ones clients read. The entropy routes' replies are typed with them, so that what the harvester
 * reports (adapters/entropy/node-harvester.ts) must fit them.
 */

const open = { additionalProperties: true } as const;

export const BatterySummarySchema = Type.Object(
  { at: Type.String(), bits: Type.Number(), passed: Type.Number(), failed: Type.Array(Type.String()), notApplicable: Type.Number() },
  { ...open, description: 'the latest SP 800-22 battery over the pool output' },
);

export const PoolSnapshotSchema = Type.Object(
  {
    nodeId: Type.String(),
    at: Type.String(),
    creditedBits: Type.Number(),
    minimumCreditedBits: Type.Number(),
    healthy: Type.Boolean(),
    drbg: Type.Object({ instantiated: Type.Boolean(), reseeds: Type.Number(), lastReseedAt: Nullable(Type.String()) }, open),
    sources: Type.Array(Type.Object({ name: Type.String(), state: Type.String(), minEntropy: Nullable(Type.Number()), assessedAt: Nullable(Type.String()) }, open)),
    battery: Nullable(BatterySummarySchema),
  },
  { ...open, description: 'credited bits, minimum, DRBG reseeds, source states, SP 800-22 battery summary' },
);

/** What a version's entropy provenance holds: the generating node's pool snapshot and how the seed was used. */
export const EntropyProvenanceSchema = Type.Partial(
  Type.Object({ ...PoolSnapshotSchema.properties, mode: StringEnum(['pool', 'hsm-only']) }),
  { ...open, description: 'pool snapshot of the generating node' },
);

export const SourceStatusSchema = Type.Object(
  {
    name: Type.String(),
    bitsPerSample: Type.Optional(Type.Number()),
    credit: Type.Optional(StringEnum(['assessed', 'none'])),
    state: Type.String(),
    assessment: Nullable(Type.Object({ minEntropy: Type.Number(), samples: Type.Number(), at: Type.String() }, open)),
    lastHealth: Nullable(Type.Object({ verdict: Type.String(), alerts: Type.Number(), failedAt: Nullable(Type.Number()), samples: Type.Number() }, open)),
    creditedBitsLastHarvest: Type.Optional(Type.Number()),
    error: Type.Optional(Nullable(Type.String())),
  },
  { ...open, description: 'per source: state, SP 800-90B assessment (every estimator), last health-test verdict, bits credited' },
);

export const EntropyReportSchema = Type.Object({
  nodeId: Type.String(),
  at: Type.String({ format: 'date-time' }),
  healthy: Type.Boolean(),
  snapshot: PoolSnapshotSchema,
  sources: Type.Array(SourceStatusSchema),
});
export type EntropyReport = Static<typeof EntropyReportSchema>;

export const EntropyLatestSchema = Type.Object({ nodes: Type.Array(EntropyReportSchema) });
export const EntropyHistorySchema = Type.Object({ reports: Type.Array(EntropyReportSchema) });

export const EntropyHistoryQuerySchema = Type.Object(
  {
    node: Type.Optional(Json<string>(nodeIdSchema('only this node\'s reports'))),
    limit: Limit(500, 50),
    before: Type.Optional(Json<string>(timestampSchema('only reports before this time (the oldest at of a page, for the next one)'))),
  },
  { additionalProperties: false },
);
export type EntropyHistoryQuery = Static<typeof EntropyHistoryQuerySchema>;
