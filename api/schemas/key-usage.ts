import { Type, type Static } from '@sinclair/typebox';
import { limitSchema } from './bounds';
import { USAGE_SOURCES } from '../../domain/usage/events';
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

const UsageSourceSchema = StringEnum([...USAGE_SOURCES], { description: 'app-report: an application said so (POST /usage); hsm-log: an HSM access log showed it (usage.accessLogs); envelope-api: keyrotor made it for a caller of the envelope API' });

export const KeyUsageSchema = Type.Object({
  key: Type.String(),
  actual: Type.Array(Type.Object({
    at: Type.String(),
    count: Type.Number({ description: 'the one series: per version and operation, the larger of the sources\' counts' }),
    bySource: Type.Object({ 'app-report': Type.Number(), 'hsm-log': Type.Number(), 'envelope-api': Type.Number() }, { description: 'private-key operations of the hour as each source counted them' }),
  })),
  uses: Type.Array(Type.Object({
    source: UsageSourceSchema,
    app: Type.String(),
    node: Nullable(Type.String()),
    version: Type.Integer(),
    op: Type.String(),
    count: Type.Number(),
    lastAt: Type.String(),
  }), { description: 'every operation in the hours shown, per source, application, node, version and operation' }),
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
