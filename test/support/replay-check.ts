import { Worker, type WorkflowBundle } from '@temporalio/worker';
import type { RunningSystem } from '../../workers/system';

/**
 * Every run of every workflow a test system ran (its control task queue, which is its own), replayed against the
 * current workflow code: the ids of those whose replay fails, with the error. A run whose replay fails is a key whose
 * workflow a restarted worker cannot go on with, whatever the test itself checked.
 */
export async function unreplayableRuns(system: RunningSystem, workflowBundle: WorkflowBundle): Promise<string[]> {
  const histories: Array<{ workflowId: string; history: Awaited<ReturnType<ReturnType<RunningSystem['client']['workflow']['getHandle']>['fetchHistory']>> }> = [];
  for await (const run of system.client.workflow.list({ query: `TaskQueue = '${system.config.temporal.controlTaskQueue}'` })) {
    histories.push({ workflowId: `${run.workflowId} (run ${run.runId})`, history: await system.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory() });
  }
  if (histories.length === 0) return [];
  const failed: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle }, histories)) {
    if (result.error) failed.push(`${result.workflowId}: ${String(result.error)}`);
  }
  return failed;
}
