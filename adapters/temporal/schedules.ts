import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { KeyrotorConfig, ThreatIntelConfig, UsageConfig } from '../../domain/config';
import { formatDuration } from '../../domain/keys/durations';
import { FORECAST_MODEL_RETRAIN_SCHEDULE_ID, KEYMAP_SYNC_SCHEDULE_ID, THREAT_FEED_SCHEDULE_ID, USAGE_RETENTION_SCHEDULE_ID, WORKFLOW_TYPES, accessLogScheduleId, deploymentScheduleId, entropyHarvestScheduleId, type WorkflowType } from '../../domain/identifiers';
import type { KeymapSyncInput } from '../../domain/keymap/sync';

interface ScheduledWorkflow {
  scheduleId: string;
  /** The interval, as Temporal takes it ('300s', '24h', or milliseconds). */
  every: string | number;
  workflowType: WorkflowType;
  args: unknown[];
  /** The configured control queue (temporal.controlTaskQueue). */
  taskQueue: string;
  purpose: string;
  /** Run once now (overlap SKIP), so that a fresh start does not wait one interval. */
  triggerNow: boolean;
  /** A deployment-wide schedule's base name (deploymentScheduleId), which it had before ids were scoped by queue. */
  unscopedId?: string;
}

/**
 * Every keyrotor schedule: overlap SKIP (a slow run is never stacked), its runs' workflow id the schedule id. An
 * existing schedule is brought to the current interval and control queue, so a changed configuration takes effect at
 * the next start.
 */
async function upsertSchedule(client: Client, schedule: ScheduledWorkflow): Promise<void> {
  const { scheduleId } = schedule;
  // A deployment on another control queue than the default kept this schedule under its base name before: the one it
  // made (aimed at its own queue) is deleted so that it does not run beside this one; another deployment's stays.
  if (schedule.unscopedId !== undefined && schedule.unscopedId !== scheduleId) await deleteScheduleAimedAt(client, schedule.unscopedId, schedule.taskQueue);
  const spec = { intervals: [{ every: schedule.every }] };
  const action = { type: 'startWorkflow' as const, workflowType: schedule.workflowType, args: schedule.args, taskQueue: schedule.taskQueue, workflowId: scheduleId };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP }, memo: { purpose: schedule.purpose } });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
  }
  if (schedule.triggerNow) await client.schedule.getHandle(scheduleId).trigger(ScheduleOverlapPolicy.SKIP);
}

/** Deletes schedule `scheduleId` if its action starts workflows on `taskQueue`; answers whether it did. */
async function deleteScheduleAimedAt(client: Client, scheduleId: string, taskQueue: string): Promise<boolean> {
  const handle = client.schedule.getHandle(scheduleId);
  try {
    const description = await handle.describe();
    if (description.action.type !== 'startWorkflow' || description.action.taskQueue !== taskQueue) return false;
    await handle.delete();
    return true;
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return false;
    throw error;
  }
}

/** One `entropyHarvest` schedule per node, triggered at once so that a fresh start has a measured pool soon. */
export async function ensureEntropySchedules(client: Client, taskQueue: string, nodeIds: readonly string[], intervalSeconds: number): Promise<void> {
  for (const nodeId of nodeIds) {
    await upsertSchedule(client, {
      scheduleId: entropyHarvestScheduleId(nodeId), every: `${intervalSeconds}s`, workflowType: WORKFLOW_TYPES.entropyHarvest, args: [{ nodeId }], taskQueue,
      purpose: `harvest and test the entropy of ${nodeId}`, triggerNow: true,
    });
  }
}

/**
 * One `access-logs/<node>` schedule per node with configured access logs (usage.accessLogs), triggered at once; the
 * schedule of a node whose logs were all removed from the configuration is deleted. The positions stay stored.
 */
export async function ensureAccessLogSchedules(client: Client, taskQueue: string, nodeIds: readonly string[], usage: UsageConfig): Promise<string[]> {
  const reading = nodeIds.filter((nodeId) => usage.accessLogs.some((log) => log.node === nodeId));
  for (const nodeId of nodeIds) {
    if (reading.includes(nodeId)) {
      await upsertSchedule(client, {
        scheduleId: accessLogScheduleId(nodeId), every: usage.accessLogIntervalMs, workflowType: WORKFLOW_TYPES.accessLogRead, args: [{ nodeId }], taskQueue,
        purpose: `read the HSM access logs on ${nodeId} into the usage`, triggerNow: true,
      });
      continue;
    }
    try {
      await client.schedule.getHandle(accessLogScheduleId(nodeId)).delete();
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    }
  }
  return reading;
}

/**
 * The forecastModelRetrain schedule. Not triggered at start: a model needs weeks of usage, and evaluations use the
 * seasonal baseline until one exists.
 */
export async function ensurePredictionSchedules(client: Client, taskQueue: string, retrainIntervalHours: number): Promise<void> {
  await upsertSchedule(client, {
    scheduleId: deploymentScheduleId(FORECAST_MODEL_RETRAIN_SCHEDULE_ID, taskQueue), unscopedId: FORECAST_MODEL_RETRAIN_SCHEDULE_ID, every: `${retrainIntervalHours}h`, workflowType: WORKFLOW_TYPES.retrainForecastModel, args: [], taskQueue,
    purpose: 'retrain the global forecast model on every key\'s recent use', triggerNow: false,
  });
}

/**
 * The `threat-intel-feed` schedule when a feed is configured, triggered at once so that a fresh start has current
 * indicators; when none is configured, a schedule left from an earlier configuration is removed.
 */
export async function ensureThreatFeedSchedule(client: Client, taskQueue: string, threatIntel: ThreatIntelConfig): Promise<'scheduled' | 'removed' | 'none'> {
  if (threatIntel.feedUrl === undefined) {
    // This deployment's schedule only: under its own id, or under the base name if it made it there (see upsertSchedule).
    const scoped = deploymentScheduleId(THREAT_FEED_SCHEDULE_ID, taskQueue);
    const unscoped = scoped !== THREAT_FEED_SCHEDULE_ID && (await deleteScheduleAimedAt(client, THREAT_FEED_SCHEDULE_ID, taskQueue));
    try {
      await client.schedule.getHandle(scoped).delete();
      return 'removed';
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) return unscoped ? 'removed' : 'none';
      throw error;
    }
  }
  await upsertSchedule(client, {
    scheduleId: deploymentScheduleId(THREAT_FEED_SCHEDULE_ID, taskQueue), unscopedId: THREAT_FEED_SCHEDULE_ID, every: threatIntel.feedIntervalMs, workflowType: WORKFLOW_TYPES.threatIntelFeed, args: [{}], taskQueue,
    purpose: 'pull the threat-intelligence feed into the indicators', triggerNow: true,
  });
  return 'scheduled';
}

/**
 * The hourly `usage-retention` schedule: raw usage events past `usage.rawRetention` are deleted, then risk evaluations
 * past `prediction.evaluationRetention`.
 */
export async function ensureUsageRetentionSchedule(client: Client, taskQueue: string): Promise<void> {
  await upsertSchedule(client, {
    scheduleId: deploymentScheduleId(USAGE_RETENTION_SCHEDULE_ID, taskQueue), unscopedId: USAGE_RETENTION_SCHEDULE_ID, every: '1h', workflowType: WORKFLOW_TYPES.usageRetention, args: [{}], taskQueue,
    purpose: 'delete raw usage events and risk evaluations past their retention; the hourly aggregates and each key\'s newest evaluation stay', triggerNow: false,
  });
}

/** How often the key map is synced; a lifecycle step also asks for a run at once. */
export const KEYMAP_SYNC_INTERVAL_SECONDS = 60;

/** The `keymapSync` schedule, every minute, triggered at once so that a fresh start has a map on every node. */
export async function ensureKeymapSyncSchedule(client: Client, taskQueue: string, nodeIds: readonly string[]): Promise<void> {
  await upsertSchedule(client, {
    scheduleId: deploymentScheduleId(KEYMAP_SYNC_SCHEDULE_ID, taskQueue), unscopedId: KEYMAP_SYNC_SCHEDULE_ID, every: `${KEYMAP_SYNC_INTERVAL_SECONDS}s`, workflowType: WORKFLOW_TYPES.keymapSync,
    args: [{ trigger: 'schedule', actor: 'system', cluster: [...nodeIds] } satisfies KeymapSyncInput], taskQueue,
    purpose: 'compare every HSM node with the key map, repair drift, write the signed snapshot', triggerNow: true,
  });
}

/**
 * Asks for a key map sync now (after a lifecycle step). BUFFER_ONE: a sync already running is followed by exactly one
 * more, which sees the step, however many steps ask meanwhile. False when the schedule does not exist.
 */
export async function requestKeymapSync(client: Client, taskQueue: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(deploymentScheduleId(KEYMAP_SYNC_SCHEDULE_ID, taskQueue)).trigger(ScheduleOverlapPolicy.BUFFER_ONE);
    return true;
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return false;
    throw error;
  }
}

/**
 * Every schedule of the configuration, as `keyrotor start` and `keyrotor provision` set them up, each said in one line:
 * the entropy harvest and the access-log reads of each node, the forecast model's retraining, the usage retention, the
 * threat feed (removed when none is configured) and the key map sync.
 */
export async function ensureEverySchedule(client: Client, config: KeyrotorConfig, say: (line: string) => void): Promise<void> {
  const taskQueue = config.temporal.controlTaskQueue;
  const nodeIds = config.hsm.nodes.map((node) => node.id);
  await ensureEntropySchedules(client, taskQueue, nodeIds, config.entropy.harvestIntervalSeconds);
  await ensurePredictionSchedules(client, taskQueue, config.prediction.retrainIntervalHours);
  say(`entropy harvest scheduled every ${config.entropy.harvestIntervalSeconds} s on each node (first run now); forecast model retrained every ${config.prediction.retrainIntervalHours} h`);
  await ensureUsageRetentionSchedule(client, taskQueue);
  say(`raw usage events kept ${formatDuration(config.usage.rawRetentionMs)}, risk evaluations ${formatDuration(config.prediction.evaluationRetentionMs)} (checked hourly)`);
  const feed = await ensureThreatFeedSchedule(client, taskQueue, config.threatIntel);
  if (feed === 'scheduled') say(`threat-intelligence feed pulled every ${formatDuration(config.threatIntel.feedIntervalMs)} (first pull now)`);
  if (feed === 'removed') say('no threat-intelligence feed is configured: its schedule was removed');
  const reading = await ensureAccessLogSchedules(client, taskQueue, nodeIds, config.usage);
  if (reading.length > 0) say(`HSM access logs read every ${formatDuration(config.usage.accessLogIntervalMs)} on ${reading.join(', ')} (first read now)`);
  await ensureKeymapSyncSchedule(client, taskQueue, nodeIds);
  say('key map sync scheduled every minute and after each lifecycle step (first run now)');
}
