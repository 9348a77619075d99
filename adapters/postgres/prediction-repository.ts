import type { AutomaticTrigger } from '../../domain/keys/key-model';
import type { StoredPrediction } from '../../domain/keymap/types';
import type { KeyEvaluation } from '../../domain/prediction/evaluate';
import type { ForestModelJson } from '../../domain/prediction/forest-model';
import type { RiskWeights } from '../../domain/prediction/risk';
import { alignToHour, HOUR_MS, type HourlySeries } from '../../domain/prediction/series';
import { PRIVATE_KEY_OPERATIONS, type UsageOperation } from '../../domain/usage/events';
import type { Database, Queryable } from './database';
import { USAGE_HOURLY_ONE_SERIES } from './usage-repository';

/** History the forecasts read: the four weeks of the seasonal mean, plus one for the features' lags. */
export const HISTORY_HOURS = 5 * 168;

/**
 * A key's hourly private-key use from its first use or its creation (whichever is earlier, at most HISTORY_HOURS ago)
 * up to and including the hour now running. Hours without use are zeros.
 */
export async function keyUsageSeries(db: Queryable, input: { key: string; createdAt: string; nowMs: number; operations?: readonly UsageOperation[] }): Promise<HourlySeries> {
  const currentHour = alignToHour(input.nowMs);
  const earliest = currentHour - HISTORY_HOURS * HOUR_MS;
  const { rows } = await db.query<{ hour: Date; count: string }>(
    `SELECT hour, sum(count) AS count FROM ${USAGE_HOURLY_ONE_SERIES} AS hourly WHERE key = $1 AND op = ANY($2) AND hour >= $3 AND hour <= $4 GROUP BY hour ORDER BY hour`,
    [input.key, input.operations ?? PRIVATE_KEY_OPERATIONS, new Date(earliest), new Date(currentHour)],
  );
  const created = alignToHour(Date.parse(input.createdAt));
  const firstUse = rows.length > 0 ? rows[0]!.hour.getTime() : Infinity;
  const startMs = Math.max(earliest, Math.min(created, firstUse, currentHour));
  const counts = new Array<number>((currentHour - startMs) / HOUR_MS + 1).fill(0);
  for (const row of rows) {
    const index = (row.hour.getTime() - startMs) / HOUR_MS;
    if (index >= 0 && index < counts.length) counts[index] = Number(row.count);
  }
  return { startMs, counts };
}

/** The whole hours of every key with usage in the last HISTORY_HOURS: what the global model trains on. */
export async function allUsageSeries(db: Database, nowMs: number): Promise<Array<{ key: string; series: HourlySeries }>> {
  const currentHour = alignToHour(nowMs);
  const earliest = currentHour - HISTORY_HOURS * HOUR_MS;
  const { rows } = await db.query<{ key: string; hour: Date; count: string }>(
    `SELECT key, hour, sum(count) AS count FROM ${USAGE_HOURLY_ONE_SERIES} AS hourly
     WHERE op = ANY($1) AND hour >= $2 AND hour < $3 GROUP BY key, hour ORDER BY key, hour`,
    [PRIVATE_KEY_OPERATIONS, new Date(earliest), new Date(currentHour)],
  );
  const byKey = new Map<string, Array<{ hour: number; count: number }>>();
  for (const row of rows) {
    const list = byKey.get(row.key) ?? [];
    list.push({ hour: row.hour.getTime(), count: Number(row.count) });
    byKey.set(row.key, list);
  }
  return [...byKey].map(([key, hours]) => {
    const startMs = hours[0]!.hour;
    const counts = new Array<number>((currentHour - startMs) / HOUR_MS).fill(0);
    for (const { hour, count } of hours) counts[(hour - startMs) / HOUR_MS] = count;
    return { key, series: { startMs, counts } };
  });
}

/**
 * The live keys (active or in a grace period) a set of threat indicators reaches: named keys, keys the named
 * applications used in the last week, or all of them.
 */
export async function keysReachedBy(db: Database, indicators: ReadonlyArray<{ scope: string; target: string | null }>, now: Date): Promise<string[]> {
  if (indicators.length === 0) return [];
  const all = indicators.some((indicator) => indicator.scope === 'all');
  const named = indicators.filter((indicator) => indicator.scope === 'key').map((indicator) => indicator.target as string);
  const apps = indicators.filter((indicator) => indicator.scope === 'app').map((indicator) => indicator.target as string);
  const { rows } = await db.query<{ name: string }>(
    `SELECT name FROM keys WHERE phase IN ('active', 'grace') AND ($1 OR name = ANY($2)
       OR name IN (SELECT DISTINCT key FROM usage_events WHERE app = ANY($3) AND ts >= $4)) ORDER BY name`,
    [all, named, apps, new Date(now.getTime() - 7 * 86_400_000)],
  );
  return rows.map((row) => row.name);
}

/** The operations of a version that its capacity counts (capacityOperations), as reported or observed. */
export async function versionUsedCount(db: Database, key: string, version: number, operations: readonly UsageOperation[] = PRIVATE_KEY_OPERATIONS): Promise<number> {
  const { rows } = await db.query<{ used: string | null }>(`SELECT sum(count) AS used FROM ${USAGE_HOURLY_ONE_SERIES} AS hourly WHERE key = $1 AND version = $2 AND op = ANY($3)`, [
    key, version, operations,
  ]);
  return Number(rows[0]?.used ?? 0);
}

/** The applications that used a key since `appsSince`, and the data classes its events carried since `classesSince`. */
export async function recentUsageFacts(db: Database, input: { key: string; appsSince: Date; classesSince: Date }): Promise<{ apps: string[]; sensitivities: string[] }> {
  const apps = await db.query<{ app: string }>('SELECT DISTINCT app FROM usage_events WHERE key = $1 AND ts >= $2 ORDER BY app', [input.key, input.appsSince]);
  const classes = await db.query<{ sensitivity: string }>(
    'SELECT DISTINCT sensitivity FROM usage_events WHERE key = $1 AND ts >= $2 AND sensitivity IS NOT NULL ORDER BY sensitivity',
    [input.key, input.classesSince],
  );
  return { apps: apps.rows.map((row) => row.app), sensitivities: classes.rows.map((row) => row.sensitivity) };
}

export interface StoredEvaluation {
  evaluationId: string;
  key: string;
  version: number;
  usedCount: number;
  threshold: number;
  weights: RiskWeights;
  evaluation: KeyEvaluation;
}

/** Stores one evaluation; a retried activity stores it once. */
export async function storeEvaluation(db: Database, input: StoredEvaluation): Promise<void> {
  const { evaluation: e } = input;
  const forecast = { ...e.forecast };
  await db.query(
    `INSERT INTO risk_evaluations (evaluation_id, key, version, evaluated_at, score, threshold, rotate, trigger, held_trigger, predicted_trigger,
       reason, predicted_rotation_at, next_evaluation_at, capacity_exhausted_at, used_count, components, weights, model_version, forecast_method,
       forecast, anomaly)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
     ON CONFLICT (evaluation_id) DO NOTHING`,
    [
      input.evaluationId, input.key, input.version, e.risk.evaluatedAt, e.risk.score, input.threshold, e.decision.rotate, e.decision.trigger,
      e.decision.heldTrigger, e.decision.predictedTrigger, e.decision.reason, e.decision.predictedRotationAt, e.decision.nextEvaluationAt,
      e.decision.capacityExhaustedAt, input.usedCount, JSON.stringify(e.risk.components), JSON.stringify(input.weights), e.risk.modelVersion,
      e.forecast.method, JSON.stringify(forecast), JSON.stringify({ report: e.anomaly, note: e.anomalyNote }),
    ],
  );
  await db.query('UPDATE keys SET prediction = $2 WHERE name = $1 AND prediction IS DISTINCT FROM $2::jsonb', [input.key, JSON.stringify(mapPrediction(e))]);
}

/**
 * Deletes at most `limit` risk evaluations older than `before`, in one short statement, and says how many went. Kept
 * whatever their age: each key's newest evaluation (GET /keys and GET /keys/:name/usage read it; keys.prediction, which
 * the key map shows, is a copy of it) and any evaluation a version's lineage names as the evidence of its rotation
 * (GET /keys/:name shows its id). Walks the keys and, for each, its evaluations through the (key, evaluated_at) index,
 * so that a batch costs index probes, not a scan of the table.
 */
export async function deleteRiskEvaluationBatch(db: Queryable, input: { before: Date; limit: number }): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM risk_evaluations WHERE evaluation_id IN (
       SELECT old.evaluation_id
         FROM keys k
         CROSS JOIN LATERAL (
           SELECT r.evaluation_id FROM risk_evaluations r
            WHERE r.key = k.name
              AND r.evaluated_at < $1
              AND r.evaluated_at < (SELECT max(n.evaluated_at) FROM risk_evaluations n WHERE n.key = k.name)
              AND NOT EXISTS (SELECT 1 FROM key_versions v WHERE v.name = k.name AND v.lineage #>> '{evidence,evaluationId}' = r.evaluation_id)
            ORDER BY r.evaluated_at
            LIMIT $2
         ) old
        LIMIT $2)`,
    [input.before, input.limit],
  );
  return rowCount ?? 0;
}

const toMinute = (iso: string): string => `${iso.slice(0, 16)}:00.000Z`;

/**
 * What the key map keeps of an evaluation: the score to two decimals and the times to the minute, so that the map (and
 * the bytes a sync writes to every node) changes when an operator would see a difference, not at every evaluation.
 */
export function mapPrediction(e: KeyEvaluation): StoredPrediction {
  return {
    predictedRotationAt: toMinute(e.decision.predictedRotationAt),
    predictedTrigger: e.decision.predictedTrigger,
    nextEvaluationAt: toMinute(e.decision.nextEvaluationAt),
    lastRiskScore: Math.round(e.risk.score * 100) / 100,
  };
}

export interface RiskHistoryItem {
  evaluationId: string;
  evaluatedAt: string;
  version: number;
  score: number;
  threshold: number;
  rotate: boolean;
  trigger: AutomaticTrigger | null;
  heldTrigger: AutomaticTrigger | null;
  predictedTrigger: AutomaticTrigger | null;
  reason: string;
  predictedRotationAt: string;
  nextEvaluationAt: string;
  capacityExhaustedAt: string | null;
  usedCount: number;
  components: Array<{ name: string; value: number; weight: number; contribution: number; detail: string }>;
  weights: Record<string, number>;
  modelVersion: string | null;
  forecastMethod: string;
}

const HISTORY_COLUMNS = `evaluation_id, evaluated_at, version, score, threshold, rotate, trigger, held_trigger, predicted_trigger, reason,
  predicted_rotation_at, next_evaluation_at, capacity_exhausted_at, used_count, components, weights, model_version, forecast_method`;

interface HistoryRow {
  evaluation_id: string;
  evaluated_at: Date;
  version: number;
  score: number;
  threshold: number;
  rotate: boolean;
  trigger: AutomaticTrigger | null;
  held_trigger: AutomaticTrigger | null;
  predicted_trigger: AutomaticTrigger | null;
  reason: string;
  predicted_rotation_at: Date;
  next_evaluation_at: Date;
  capacity_exhausted_at: Date | null;
  used_count: string;
  components: RiskHistoryItem['components'];
  weights: Record<string, number>;
  model_version: string | null;
  forecast_method: string;
}

function historyItem(row: HistoryRow): RiskHistoryItem {
  return {
    evaluationId: row.evaluation_id,
    evaluatedAt: row.evaluated_at.toISOString(),
    version: row.version,
    score: row.score,
    threshold: row.threshold,
    rotate: row.rotate,
    trigger: row.trigger,
    heldTrigger: row.held_trigger,
    predictedTrigger: row.predicted_trigger,
    reason: row.reason,
    predictedRotationAt: row.predicted_rotation_at.toISOString(),
    nextEvaluationAt: row.next_evaluation_at.toISOString(),
    capacityExhaustedAt: row.capacity_exhausted_at?.toISOString() ?? null,
    usedCount: Number(row.used_count),
    components: row.components,
    weights: row.weights,
    modelVersion: row.model_version,
    forecastMethod: row.forecast_method,
  };
}

/** A key's evaluations, newest first. */
export async function riskHistory(db: Database, key: string, input: { limit: number; before?: Date }): Promise<RiskHistoryItem[]> {
  const { rows } = await db.query<HistoryRow>(
    `SELECT ${HISTORY_COLUMNS} FROM risk_evaluations WHERE key = $1 AND ($2::timestamptz IS NULL OR evaluated_at < $2)
     ORDER BY evaluated_at DESC LIMIT $3`,
    [key, input.before ?? null, input.limit],
  );
  return rows.map(historyItem);
}

/** The latest evaluation of each of `keys`. */
export async function latestEvaluations(db: Database, keys: readonly string[]): Promise<Map<string, RiskHistoryItem>> {
  if (keys.length === 0) return new Map();
  const { rows } = await db.query<HistoryRow & { key: string }>(
    `SELECT DISTINCT ON (key) key, ${HISTORY_COLUMNS} FROM risk_evaluations WHERE key = ANY($1) ORDER BY key, evaluated_at DESC`,
    [keys],
  );
  return new Map(rows.map((row) => [row.key, historyItem(row)]));
}

export interface RiskTrendPoint {
  evaluatedAt: string;
  score: number;
}

/**
 * The last `points` risk scores of each of `keys`, oldest first, in one query: a LATERAL subquery per key reads the
 * newest rows from the index (key, evaluated_at DESC) and stops at the limit, so the cost follows the points asked for,
 * not how long a key's history is. Keys that exist but have no evaluation get an empty list; names that are no key are
 * absent from the map.
 */
export async function riskTrends(db: Database, keys: readonly string[], points: number): Promise<Map<string, RiskTrendPoint[]>> {
  if (keys.length === 0) return new Map();
  const { rows } = await db.query<{ name: string; evaluated_at: Date | null; score: number | null }>(
    `SELECT k.name, e.evaluated_at, e.score
     FROM keys k
     LEFT JOIN LATERAL (
       SELECT evaluated_at, score FROM risk_evaluations r WHERE r.key = k.name ORDER BY r.evaluated_at DESC LIMIT $2
     ) e ON true
     WHERE k.name = ANY($1)
     ORDER BY k.name, e.evaluated_at`,
    [keys, points],
  );
  const trends = new Map<string, RiskTrendPoint[]>();
  for (const row of rows) {
    const trend = trends.get(row.name) ?? [];
    if (row.evaluated_at !== null && row.score !== null) trend.push({ evaluatedAt: row.evaluated_at.toISOString(), score: row.score });
    trends.set(row.name, trend);
  }
  return trends;
}

/** The stored forecast and anomaly report of a key's latest evaluation. */
export async function latestForecast(db: Database, key: string): Promise<{ evaluatedAt: string; forecast: unknown; anomaly: unknown } | null> {
  const { rows } = await db.query<{ evaluated_at: Date; forecast: unknown; anomaly: unknown }>(
    'SELECT evaluated_at, forecast, anomaly FROM risk_evaluations WHERE key = $1 ORDER BY evaluated_at DESC LIMIT 1',
    [key],
  );
  const row = rows[0];
  return row ? { evaluatedAt: row.evaluated_at.toISOString(), forecast: row.forecast, anomaly: row.anomaly } : null;
}

export interface ModelSummary {
  modelVersion: string;
  trainedAt: string;
  keys: number;
  trainingRows: number;
  trainMs: number;
}

export async function storeModel(db: Database, input: ModelSummary & { model: ForestModelJson }): Promise<void> {
  await db.query(
    `INSERT INTO forecast_models (model_version, trained_at, keys, training_rows, train_ms, model) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (model_version) DO NOTHING`,
    [input.modelVersion, input.trainedAt, input.keys, input.trainingRows, input.trainMs, JSON.stringify(input.model)],
  );
}

/** The newest model's version, cheap to poll; the model itself is read only when it changed. */
export async function newestModelVersion(db: Database): Promise<string | null> {
  const { rows } = await db.query<{ model_version: string }>('SELECT model_version FROM forecast_models ORDER BY trained_at DESC LIMIT 1');
  return rows[0]?.model_version ?? null;
}

export async function loadModel(db: Database, modelVersion: string): Promise<unknown> {
  const { rows } = await db.query<{ model: unknown }>('SELECT model FROM forecast_models WHERE model_version = $1', [modelVersion]);
  return rows[0]?.model ?? null;
}

export async function listModels(db: Database, limit: number): Promise<ModelSummary[]> {
  const { rows } = await db.query<{ model_version: string; trained_at: Date; keys: number; training_rows: number; train_ms: number }>(
    'SELECT model_version, trained_at, keys, training_rows, train_ms FROM forecast_models ORDER BY trained_at DESC LIMIT $1',
    [limit],
  );
  return rows.map((row) => ({ modelVersion: row.model_version, trainedAt: row.trained_at.toISOString(), keys: row.keys, trainingRows: row.training_rows, trainMs: row.train_ms }));
}
