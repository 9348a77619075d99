import { proxyActivities } from '@temporalio/workflow';
import type { PurgeResult, UsageActivities } from '../activities/usage-activities';

const { purgeRawUsageEvents } = proxyActivities<UsageActivities>({
  startToCloseTimeout: '1h',
  // One heartbeat per batch: a worker that died mid-purge is noticed quickly, and the retry goes on from what is left.
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 3 },
  summary: 'delete raw usage events past their retention, in batches',
});

const { purgeRiskEvaluations } = proxyActivities<UsageActivities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 3 },
  summary: 'delete risk evaluations past their retention, in batches, keeping each key\'s newest',
});

export interface UsageRetentionResult extends PurgeResult {
  /** Risk evaluations deleted. */
  evaluations: PurgeResult;
}

/** One pass of the usage and risk evaluation retention, started hourly by the `usage-retention` schedule. */
export async function usageRetentionWorkflow(input: { batchSize?: number }): Promise<UsageRetentionResult> {
  const raw = await purgeRawUsageEvents(input);
  return { ...raw, evaluations: await purgeRiskEvaluations(input) };
}
