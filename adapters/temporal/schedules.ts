import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { CONTROL_TASK_QUEUE, entropyHarvestScheduleId, FORECAST_MODEL_RETRAIN_SCHEDULE_ID } from '../../domain/identifiers';

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
