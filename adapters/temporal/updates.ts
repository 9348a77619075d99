import { WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';

/**
 * An Update's outcome, asked of the run that accepted it. `WorkflowHandle.executeUpdate` on a handle without a run id
 * (a key's workflow is addressed by its id alone) polls the workflow's current run when its first call returns before
 * the outcome, as a rotation that outlasts the server's long poll does; when the workflow continued as new in between,
 * that run does not know the Update ("update not found") and a rotation that completed was answered with a 500.
 * `startUpdate` to ACCEPTED keeps the accepting run's id, and the handle's `result()` polls that run.
 */
export async function executeUpdateOnItsRun<Ret, Args extends [unknown, ...unknown[]]>(
  handle: WorkflowHandle,
  update: UpdateDefinition<Ret, Args>,
  options: { args: Args; updateId?: string },
): Promise<Ret> {
  const accepted = await handle.startUpdate(update, { ...options, waitForStage: WorkflowUpdateStage.ACCEPTED });
  return accepted.result();
}
