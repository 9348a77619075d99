import type { FastifyInstance } from 'fastify';
import type { Database } from '../../adapters/postgres/database';
import { getKey } from '../../adapters/postgres/key-repository';
import { keyUsageSeries, latestForecast } from '../../adapters/postgres/prediction-repository';
import { NotFoundError } from '../../domain/errors';
import { validateKeyName } from '../../domain/keys/key-model';
import type { AnomalyReport } from '../../domain/prediction/anomaly';
import type { KeyForecast } from '../../domain/prediction/forecaster';
import { HOUR_MS } from '../../domain/prediction/series';
import { READERS } from '../auth';
import { keyNameParams, limitSchema } from '../schemas/bounds';
import { KeyUsageSchema, type KeyUsage } from '../schemas/key-usage';
import { authErrors, problemRef } from '../schemas/problem';

export function keyUsageRoutes(app: FastifyInstance, db: Database): void {
  app.get<{ Params: { name: string }; Querystring: { hours?: number } }>('/keys/:name/usage', {
    config: { roles: READERS },
    schema: {
      tags: ['prediction'],
      summary:
        'Hourly private-key use (sign, decrypt, unwrap) of a key, the hour now running last; the forecast (mean and interval per hour) and the anomaly report of its latest risk evaluation',
      security: [{ bearer: [] }],
      params: keyNameParams,
      querystring: { type: 'object', additionalProperties: false, properties: { hours: { ...limitSchema(840, 168), description: 'hours of use, the newest (at most five weeks)' } } },
      response: {
        200: KeyUsageSchema,
        ...authErrors,
        404: problemRef,
      },
    },
    handler: async (request): Promise<KeyUsage> => {
      const name = validateKeyName(request.params.name);
      const found = await getKey(db, name);
      if (!found) throw new NotFoundError('key', name);
      const nowMs = Date.now();
      const series = await keyUsageSeries(db, { key: name, createdAt: found.key.createdAt, nowMs });
      const hours = request.query.hours ?? 168;
      const from = Math.max(0, series.counts.length - hours);
      const actual = series.counts.slice(from).map((count, i) => ({ at: new Date(series.startMs + (from + i) * HOUR_MS).toISOString(), count }));
      const latest = await latestForecast(db, name);
      if (!latest) return { key: name, actual, evaluatedAt: null, forecast: null, anomalies: null };
      const forecast = latest.forecast as KeyForecast;
      const anomaly = latest.anomaly as { report: AnomalyReport | null; note: string | null };
      return {
        key: name,
        actual,
        evaluatedAt: latest.evaluatedAt,
        forecast,
        anomalies: {
          score: anomaly.report?.score ?? 0,
          noiseModel: anomaly.report?.noiseModel ?? null,
          note: anomaly.note,
          flagged: (anomaly.report?.flagged ?? []).map((f) => ({ at: f.at, actual: f.observed, expected: f.expected, direction: f.direction, pValue: f.pValue })),
        },
      };
    },
  });
}
