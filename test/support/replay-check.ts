import type { WorkflowBundle } from '@temporalio/worker';
import { replayRuns, runsOfDeployment } from '../../adapters/temporal/replay-check';
import type { RunningSystem } from '../../workers/system';

/**
 * Every run of every workflow a test system ran (its control task queue, which is its own), replayed against the
 * current workflow code: those whose replay fails, with the error: a workflow (a key's) that a restarted worker cannot go
 * on with, whatever the test itself checked. (A run whose last task failed is `keyrotor replay-check`'s business: a
 * test that stops its system may stop one mid-retry.)
 */
export async function unreplayableRuns(system: RunningSystem, workflowBundle: WorkflowBundle): Promise<string[]> {
  const { failed } = await replayRuns(system.client, runsOfDeployment(system.config.temporal.controlTaskQueue, { openOnly: false }), { workflowBundle });
  return failed.map((run) => `does not replay: ${run.workflowId} (run ${run.runId}): ${run.error}`);
}
