import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { ThreatIntelConfig } from '../../domain/config';
import { FORECAST_MODEL_RETRAIN_SCHEDULE_ID, KEYMAP_SYNC_SCHEDULE_ID, THREAT_FEED_SCHEDULE_ID, USAGE_RETENTION_SCHEDULE_ID, entropyHarvestScheduleId } from '../../domain/identifiers';
import type { KeymapSyncInput } from '../../domain/keymap/sync';

// Every schedule starts its workflow on the configured control queue (temporal.controlTaskQueue); an existing schedule
// is brought to the current queue and interval, so a changed configuration takes effect at the next start.

/**
 * One `entropyHarvest` schedule per node (overlap SKIP: a slow harvest is never stacked), created or brought to the
 * configured interval, and triggered once so that a fresh start has a measured pool as soon as possible.
 */
export async function ensureEntropySchedules(client: Client, taskQueue: string, nodeIds: readonly string[], intervalSeconds: number): Promise<void> {
  for (const nodeId of nodeIds) {
    const scheduleId = entropyHarvestScheduleId(nodeId);
    const spec = { intervals: [{ every: `${intervalSeconds}s` }] };
    const action = { type: 'startWorkflow' as const, workflowType: 'entropyHarvestWorkflow', args: [{ nodeId }], taskQueue, workflowId: scheduleId };
    try {
      await client.schedule.create({
        scheduleId,
        spec,
        action,
        policies: { overlap: ScheduleOverlapPolicy.SKIP },
        memo: { purpose: `harvest and test the entropy of ${nodeId}` },
      });
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
    }
    await client.schedule.getHandle(scheduleId).trigger(ScheduleOverlapPolicy.SKIP);
  }
}

/**
 * The forecastModelRetrain schedule (overlap SKIP), created or brought to the configured interval. Not triggered at
 * start: a model needs weeks of usage, and evaluations use the seasonal baseline until one exists.
 */
export async function ensurePredictionSchedules(client: Client, taskQueue: string, retrainIntervalHours: number): Promise<void> {
  const scheduleId = FORECAST_MODEL_RETRAIN_SCHEDULE_ID;
  const spec = { intervals: [{ every: `${retrainIntervalHours}h` }] };
  const action = { type: 'startWorkflow' as const, workflowType: 'retrainForecastModelWorkflow', args: [], taskQueue, workflowId: scheduleId };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { purpose: 'retrain the global forecast model on every key\'s recent use' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
  }
}

/**
 * The `threat-intel-feed` schedule (overlap SKIP) when a feed is configured, brought to the configured interval and
 * triggered once so that a fresh start has current indicators; when none is configured, a schedule left from an earlier
 * configuration is removed.
 */
export async function ensureThreatFeedSchedule(client: Client, taskQueue: string, threatIntel: ThreatIntelConfig): Promise<'scheduled' | 'removed' | 'none'> {
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
  const action = { type: 'startWorkflow' as const, workflowType: 'threatIntelFeedWorkflow', args: [{}], taskQueue, workflowId: THREAT_FEED_SCHEDULE_ID };
  try {
    await client.schedule.create({
      scheduleId: THREAT_FEED_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { purpose: 'pull the threat-intelligence feed into the indicators' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await handle.update((previous) => ({ ...previous, spec, action }));
  }
  await handle.trigger(ScheduleOverlapPolicy.SKIP);
  return 'scheduled';
}

/**
 * The hourly `usage-retention` schedule (overlap SKIP): raw usage events past `usage.rawRetention` are deleted, then
 * risk evaluations past `prediction.evaluationRetention`.
 */
export async function ensureUsageRetentionSchedule(client: Client, taskQueue: string): Promise<void> {
  const action = { type: 'startWorkflow' as const, workflowType: 'usageRetentionWorkflow', args: [{}], taskQueue, workflowId: USAGE_RETENTION_SCHEDULE_ID };
  try {
    await client.schedule.create({
      scheduleId: USAGE_RETENTION_SCHEDULE_ID,
      spec: { intervals: [{ every: '1h' }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { purpose: 'delete raw usage events and risk evaluations past their retention; the hourly aggregates and each key\'s newest evaluation stay' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(USAGE_RETENTION_SCHEDULE_ID).update((previous) => ({ ...previous, action }));
  }
}

/** How often the key map is synced; a lifecycle step also asks for a run at once. */
export const KEYMAP_SYNC_INTERVAL_SECONDS = 60;

/**
 * The `keymapSync` schedule: every minute, overlap SKIP (a slow sync is never stacked), created or brought to its
 * interval, and triggered once so that a fresh start has a map on every node without waiting a minute.
 */
export async function ensureKeymapSyncSchedule(client: Client, taskQueue: string, nodeIds: readonly string[]): Promise<void> {
  const spec = { intervals: [{ every: `${KEYMAP_SYNC_INTERVAL_SECONDS}s` }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'keymapSyncWorkflow',
    args: [{ trigger: 'schedule', actor: 'system', cluster: [...nodeIds] } satisfies KeymapSyncInput],
    taskQueue,
    workflowId: KEYMAP_SYNC_SCHEDULE_ID,
  };
  try {
    await client.schedule.create({
      scheduleId: KEYMAP_SYNC_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { purpose: 'compare every HSM node with the key map, repair drift, write the signed snapshot' },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(KEYMAP_SYNC_SCHEDULE_ID).update((previous) => ({ ...previous, spec, action }));
  }
  await client.schedule.getHandle(KEYMAP_SYNC_SCHEDULE_ID).trigger(ScheduleOverlapPolicy.SKIP);
}

/**
 * Asks for a key map sync now (after a lifecycle step). BUFFER_ONE: a sync already running is followed by exactly one
 * more, which sees the step, however many steps ask meanwhile. False when the schedule does not exist.
 */
export async function requestKeymapSync(client: Client): Promise<boolean> {
  try {
    await client.schedule.getHandle(KEYMAP_SYNC_SCHEDULE_ID).trigger(ScheduleOverlapPolicy.BUFFER_ONE);
    return true;
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return false;
    throw error;
  }
}
