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
import { authErrors, problemRef } from '../schemas/problem';

const numbers = { type: 'array', items: { type: 'number' } } as const;

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
        200: {
          type: 'object',
          required: ['key', 'actual', 'forecast', 'anomalies', 'evaluatedAt'],
          properties: {
            key: { type: 'string' },
            actual: { type: 'array', items: { type: 'object', required: ['at', 'count'], properties: { at: { type: 'string' }, count: { type: 'number' } } } },
            evaluatedAt: { type: ['string', 'null'], description: 'when the forecast and anomaly report were made (null: never evaluated)' },
            forecast: {
              type: ['object', 'null'],
              properties: {
                startAt: { type: 'string' },
                horizon: { type: 'integer' },
                method: { type: 'string' },
                reason: { type: ['string', 'null'] },
                modelVersion: { type: ['string', 'null'] },
                mean: numbers,
                lower: numbers,
                upper: numbers,
                intervalLevel: { type: 'number' },
                cumulative: { type: 'number' },
                cumulativeUpper: { type: 'number' },
              },
            },
            anomalies: {
              type: ['object', 'null'],
              properties: {
                score: { type: 'number' },
                noiseModel: { type: ['string', 'null'] },
                note: { type: ['string', 'null'] },
                flagged: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: { at: { type: 'string' }, actual: { type: 'number' }, expected: { type: 'number' }, direction: { type: 'string', enum: ['spike', 'drop'] }, pValue: { type: 'number' } },
                  },
                },
              },
            },
          },
        },
        ...authErrors,
        404: problemRef,
      },
    },
    handler: async (request) => {
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
