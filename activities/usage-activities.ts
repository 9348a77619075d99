import { Context } from '@temporalio/activity';
import type { Database } from '../adapters/postgres/database';
import { deleteRawUsageBatch } from '../adapters/postgres/usage-repository';
import type { KeyrotorConfig } from '../domain/config';
import { withTypedFailures } from './failures';

// Small enough that each DELETE holds its locks briefly beside a running ingest.
export const RETENTION_BATCH = 10_000;

/** Activities that keep the usage tables in shape; they run on the control task queue. */
export function createUsageActivities(deps: { db: Database; config: KeyrotorConfig }) {
  const { db, config } = deps;
  return withTypedFailures({
    /**
     * Deletes raw usage events older than `usage.rawRetention`, a bounded batch at a time, heartbeating between
     * batches. Idempotent: a retry deletes what is still there. The hourly aggregates are never touched.
     */
    async purgeRawUsageEvents(input: { batchSize?: number }): Promise<{ deleted: number; before: string; batches: number }> {
      const before = new Date(Date.now() - config.usage.rawRetentionMs);
      const limit = input.batchSize ?? RETENTION_BATCH;
      let deleted = 0;
      let batches = 0;
      for (;;) {
        const count = await deleteRawUsageBatch(db, { before, limit });
        deleted += count;
        batches += 1;
        Context.current().heartbeat({ deleted });
        if (count < limit) return { deleted, before: before.toISOString(), batches };
      }
    },
  });
}

export type UsageActivities = ReturnType<typeof createUsageActivities>;
