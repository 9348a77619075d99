import type { WorkflowBundle } from '@temporalio/worker';
import { replayRuns, runsOfDeployment } from '../../adapters/temporal/replay-check';
import type { RunningSystem } from '../../workers/system';

/**
 * Every run of every workflow a test system ran (its control task queue, which is its own), replayed against the
 * current workflow code: those whose replay fails and those whose last workflow task failed, with the error. Either is
 * a workflow (a key's) that cannot go on, whatever the test itself checked.
 */
export async function unreplayableRuns(system: RunningSystem, workflowBundle: WorkflowBundle): Promise<string[]> {
  const { failed, failing } = await replayRuns(system.client, runsOfDeployment(system.config.temporal.controlTaskQueue, { openOnly: false }), { workflowBundle });
  return [
    ...failed.map((run) => `does not replay: ${run.workflowId} (run ${run.runId}): ${run.error}`),
    ...failing.map((run) => `its last workflow task failed: ${run.workflowId} (run ${run.runId}): ${run.error}`),
  ];
}
