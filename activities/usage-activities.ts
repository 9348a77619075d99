import { Context } from '@temporalio/activity';
import type { Database } from '../adapters/postgres/database';
import { deleteRiskEvaluationBatch } from '../adapters/postgres/prediction-repository';
import { deleteRawUsageBatch } from '../adapters/postgres/usage-repository';
import { accessLogPositions, storeAccessLogRead, versionsNamed, type StoreReadOutcome } from '../adapters/postgres/access-log-repository';
import type { LogPosition } from '../adapters/usage/log-tailer';
import type { AccessLogSource, KeyrotorConfig } from '../domain/config';
import { attributeUses, namesIn, type CountedUse, type Unattributed } from '../domain/usage/observed-usage';
import { withTypedFailures } from './failures';

// Small enough that each DELETE holds its locks briefly beside a running ingest.
export const RETENTION_BATCH = 10_000;
// An evaluation row is about 1.7 KB with its forecast, components and anomaly report, a raw event about 130 B (both
// measured): 1,000 evaluations per DELETE keep each statement about as large as a batch of raw events.
export const EVALUATION_RETENTION_BATCH = 1_000;

/** What one retention pass deleted: rows older than `before`, in `batches` statements. */
export interface PurgeResult {
  deleted: number;
  before: string;
  batches: number;
}

/** Deletes with `deleteBatch` until a batch comes back short, heartbeating after each one. */
async function purgeInBatches(deleteBatch: (input: { before: Date; limit: number }) => Promise<number>, before: Date, limit: number): Promise<PurgeResult> {
  let deleted = 0;
  let batches = 0;
  for (;;) {
    const count = await deleteBatch({ before, limit });
    deleted += count;
    batches += 1;
    Context.current().heartbeat({ deleted });
    if (count < limit) return { deleted, before: before.toISOString(), batches };
  }
}

/** Activities that keep the usage and prediction tables in shape; they run on the control task queue. */
export function createUsageActivities(deps: { db: Database; config: KeyrotorConfig }) {
  const { db, config } = deps;
  return withTypedFailures({
    /**
     * Deletes raw usage events older than `usage.rawRetention`, a bounded batch at a time, heartbeating between
     * batches. Idempotent: a retry deletes what is still there. The hourly aggregates are never touched.
     */
    async purgeRawUsageEvents(input: { batchSize?: number }): Promise<PurgeResult> {
      return purgeInBatches((batch) => deleteRawUsageBatch(db, batch), new Date(Date.now() - config.usage.rawRetentionMs), input.batchSize ?? RETENTION_BATCH);
    },

    /**
     * Deletes risk evaluations older than `prediction.evaluationRetention` the same way, keeping each key's newest and
     * those a version's lineage names as its rotation's evidence (deleteRiskEvaluationBatch). Idempotent likewise.
     */
    async purgeRiskEvaluations(input: { batchSize?: number }): Promise<PurgeResult> {
      return purgeInBatches((batch) => deleteRiskEvaluationBatch(db, batch), new Date(Date.now() - config.prediction.evaluationRetentionMs), input.batchSize ?? EVALUATION_RETENTION_BATCH);
    },
  });
}

/** One configured access log of a node and where it was read to. */
export interface AccessLogToRead extends AccessLogSource {
  from: LogPosition | null;
}

export type StoredAccessLogRead = StoreReadOutcome & { unattributed: Unattributed[] };

/** Activities of the access-log reads (workflows/access-log-read.ts) that touch PostgreSQL; they run on the control queue. */
export function createAccessLogActivities(deps: { db: Database; config: KeyrotorConfig }) {
  const { db, config } = deps;
  return withTypedFailures({
    /** The node's configured access logs, each with the position its last stored read ended at. */
    async accessLogsToRead(input: { nodeId: string }): Promise<AccessLogToRead[]> {
      const logs = config.usage.accessLogs.filter((log) => log.node === input.nodeId);
      const positions = await accessLogPositions(db, logs.map((log) => log.path));
      return logs.map((log) => ({ ...log, from: (positions.get(log.path) as LogPosition | undefined) ?? null }));
    },

    /**
     * Gives the read's uses to the versions their CKA_ID or label names and stores them as `hsm-log` uses of the log's
     * application, with the position the read ended at, in one transaction and only if the log's stored position is
     * still where the read started.
     */
    async storeAccessLogUses(input: { path: string; from: LogPosition | null; to: LogPosition; uses: CountedUse[] }): Promise<StoredAccessLogRead> {
      const log = config.usage.accessLogs.find((each) => each.path === input.path);
      if (!log) return { kind: 'moved', reason: `'${input.path}' is no longer a configured access log`, unattributed: [] };
      const { attributed, unattributed } = attributeUses(input.uses, await versionsNamed(db, namesIn(input.uses)));
      const outcome = await storeAccessLogRead(db, { path: log.path, node: log.node, app: log.app, from: input.from, to: input.to, uses: attributed });
      return { ...outcome, unattributed };
    },
  });
}

export type AccessLogActivities = ReturnType<typeof createAccessLogActivities>;

export type UsageActivities = ReturnType<typeof createUsageActivities>;
