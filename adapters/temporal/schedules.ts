import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { ThreatIntelConfig } from '../../domain/config';
import { CONTROL_TASK_QUEUE, FORECAST_MODEL_RETRAIN_SCHEDULE_ID, THREAT_FEED_SCHEDULE_ID, USAGE_RETENTION_SCHEDULE_ID, entropyHarvestScheduleId } from '../../domain/identifiers';

/**
 * One `entropyHarvest` schedule per node (overlap SKIP: a slow harvest is never stacked), created or brought to the
 * configured interval, and triggered once so that a fresh start has a measured pool as soon as possible.
 */
export async function ensureEntropySchedules(client: Client, nodeIds: readonly string[], intervalSeconds: number): Promise<void> {
  for (const nodeId of nodeIds) {
    const scheduleId = entropyHarvestScheduleId(nodeId);
    const spec = { intervals: [{ every: `${intervalSeconds}s` }] };
    try {
      await client.schedule.create({
        scheduleId,
        spec,
        action: { type: 'startWorkflow', workflowType: 'entropyHarvestWorkflow', args: [{ nodeId }], taskQueue: CONTROL_TASK_QUEUE, workflowId: scheduleId },
        policies: { overlap: ScheduleOverlapPolicy.SKIP },
        memo: { purpose: `harvest and test the entropy of ${nodeId}` },
      });
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec }));
    }
    await client.schedule.getHandle(scheduleId).trigger(ScheduleOverlapPolicy.SKIP);
  }
}

/**
 * The forecastModelRetrain schedule (overlap SKIP), created or brought to the configured interval. Not triggered at
 * start: a model needs weeks of usage, and evaluations use the seasonal baseline until one exists.
 */
export async function ensurePredictionSchedules(client: Client, retrainIntervalHours: number): Promise<void> {
  const scheduleId = FORECAST_MODEL_RETRAIN_SCHEDULE_ID;
  const spec = { intervals: [{ every: `${retrainIntervalHours}h` }] };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action: { type: 'startWorkflow', workflowType: 'retrainForecastModelWorkflow', args: [], taskQueue: CONTROL_TASK_QUEUE, workflowId: scheduleId },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { purpose: 'retrain the global forecast model on every key\'s recent use' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec }));
  }
}

/**
 * The `threat-intel-feed` schedule (overlap SKIP) when a feed is configured, brought to the configured interval and
 * triggered once so that a fresh start has current indicators; when none is configured, a schedule left from an earlier
 * configuration is removed.
 */
export async function ensureThreatFeedSchedule(client: Client, threatIntel: ThreatIntelConfig): Promise<'scheduled' | 'removed' | 'none'> {
  const handle = client.schedule.getHandle(THREAT_FEED_SCHEDULE_ID);
  if (threatIntel.feedUrl === undefined) {
    try {
      await handle.delete();
      return 'removed';
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) return 'none';
      throw error;
    }
  }
  const spec = { intervals: [{ every: threatIntel.feedIntervalMs }] };
  try {
    await client.schedule.create({
      scheduleId: THREAT_FEED_SCHEDULE_ID,
      spec,
      action: { type: 'startWorkflow', workflowType: 'threatIntelFeedWorkflow', args: [{}], taskQueue: CONTROL_TASK_QUEUE, workflowId: THREAT_FEED_SCHEDULE_ID },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { purpose: 'pull the threat-intelligence feed into the indicators' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await handle.update((previous) => ({ ...previous, spec }));
  }
  await handle.trigger(ScheduleOverlapPolicy.SKIP);
  return 'scheduled';
}

/** The hourly `usage-retention` schedule (overlap SKIP): raw usage events past `usage.rawRetention` are deleted. */
export async function ensureUsageRetentionSchedule(client: Client): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: USAGE_RETENTION_SCHEDULE_ID,
      spec: { intervals: [{ every: '1h' }] },
      action: { type: 'startWorkflow', workflowType: 'usageRetentionWorkflow', args: [{}], taskQueue: CONTROL_TASK_QUEUE, workflowId: USAGE_RETENTION_SCHEDULE_ID },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { purpose: 'delete raw usage events past their retention; the hourly aggregates stay' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
}
