import { proxyActivities } from '@temporalio/workflow';
import type { UsageActivities } from '../activities/usage-activities';

const { purgeRawUsageEvents } = proxyActivities<UsageActivities>({
  startToCloseTimeout: '1h',
  // One heartbeat per batch: a worker that died mid-purge is noticed quickly, and the retry goes on from what is left.
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 3 },
  summary: 'delete raw usage events past their retention, in batches',
});

/** One pass of the raw usage retention, started hourly by the `usage-retention` schedule. */
export async function usageRetentionWorkflow(input: { batchSize?: number }): Promise<{ deleted: number; before: string; batches: number }> {
  return purgeRawUsageEvents(input);
}
