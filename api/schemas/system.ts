import { Type, type Static } from '@sinclair/typebox';
import { NullableDateTime, NullableString, StringEnum } from './typebox';

/** GET /health and GET /info: the state of the deployment's parts, and what the deployment is. */

export const ComponentHealthSchema = Type.Object({ status: StringEnum(['up', 'down']), latencyMs: Type.Integer(), reason: Type.Optional(Type.String()) });

export const NodeHealthSchema = Type.Object({
  id: Type.String(),
  status: StringEnum(['up', 'down']),
  reason: Type.Optional(Type.String()),
  tokenLabel: Type.Optional(Type.String()),
  manufacturer: Type.Optional(Type.String()),
  model: Type.Optional(Type.String()),
  serialNumber: Type.Optional(Type.String()),
  randomBytesDrawn: Type.Optional(Type.Integer()),
  hsmMs: Type.Optional(Type.Number()),
});

export const HarvestFreshnessSchema = Type.Object({
  nodeId: Type.String(),
  status: StringEnum(['fresh', 'stale']),
  lastHarvestAt: NullableDateTime(),
  ageSeconds: Type.Integer(),
  reason: NullableString(),
});

export const HealthSchema = Type.Object({
  status: StringEnum(['ok', 'degraded', 'down']),
  checkedAt: Type.String({ format: 'date-time' }),
  components: Type.Object({ temporal: ComponentHealthSchema, postgres: ComponentHealthSchema }),
  nodes: Type.Array(NodeHealthSchema),
  entropy: Type.Array(HarvestFreshnessSchema, {
    description: "each node's entropy pool: stale (and the whole report degraded) once its newest harvest is older than two harvest intervals",
  }),
});
export type Health = Static<typeof HealthSchema>;

export const InfoSchema = Type.Object({
  nodes: Type.Array(Type.String()),
  temporal: Type.Object({ namespace: Type.String(), webUiUrl: NullableString({ description: 'set KEYROTOR_TEMPORAL_UI_URL when Temporal is external' }) }),
  entropy: Type.Object({ minimumCreditedBits: Type.Integer(), harvestIntervalSeconds: Type.Integer() }),
});
export type Info = Static<typeof InfoSchema>;
