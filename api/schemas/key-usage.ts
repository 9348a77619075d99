import { Type, type Static } from '@sinclair/typebox';
import { limitSchema } from './bounds';
import { Json, Nullable, StringEnum } from './typebox';

/** GET /keys/{name}/usage: a key's hourly use, and the forecast and anomaly report of its latest risk evaluation. */

const numbers = Type.Array(Type.Number());

/** The forecast as the evaluation stored it (domain/prediction/forecaster.ts KeyForecast); its other fields pass through. */
export const UsageForecastSchema = Type.Object({
  startAt: Type.String(),
  horizon: Type.Integer(),
  method: Type.String(),
  reason: Nullable(Type.String()),
  modelVersion: Nullable(Type.String()),
  mean: numbers,
  lower: numbers,
  upper: numbers,
  intervalLevel: Type.Number(),
  cumulative: Type.Optional(Type.Number()),
  cumulativeUpper: Type.Optional(Type.Number()),
});

export const AnomalySummarySchema = Type.Object({
  score: Type.Number(),
  noiseModel: Nullable(Type.String()),
  note: Nullable(Type.String()),
  flagged: Type.Array(
    Type.Object({ at: Type.String(), actual: Type.Number(), expected: Type.Number(), direction: StringEnum(['spike', 'drop']), pValue: Type.Number() }),
  ),
});

export const KeyUsageSchema = Type.Object({
  key: Type.String(),
  actual: Type.Array(Type.Object({ at: Type.String(), count: Type.Number() })),
  evaluatedAt: Nullable(Type.String({ description: 'when the forecast and anomaly report were made (null: never evaluated)' })),
  forecast: Nullable(UsageForecastSchema),
  anomalies: Nullable(AnomalySummarySchema),
});
export type KeyUsage = Static<typeof KeyUsageSchema>;

export const KeyUsageQuerySchema = Type.Object(
  { hours: Type.Optional(Json<number>({ ...limitSchema(840, 168), description: 'hours of use, the newest (at most five weeks)' })) },
  { additionalProperties: false },
);
export type KeyUsageQuery = Static<typeof KeyUsageQuerySchema>;
