import type { Client } from '@temporalio/client';
import type { HistoryAndWorkflowId } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';

/** A workflow run whose history the current workflow code cannot replay: a worker that has to replay it fails its tasks. */
export interface UnreplayableRun {
  workflowId: string;
  runId: string;
  error: string;
}

/** The workflow code to replay against: a bundle, or the path of the workflows to bundle. */
export type ReplayCode = Pick<ReplayWorkerOptions, 'workflowBundle' | 'workflowsPath'>;

/** The query of the runs of one keyrotor deployment: its control task queue, where all its workflows run. */
export function runsOfDeployment(controlTaskQueue: string, options: { openOnly: boolean }): string {
  if (controlTaskQueue.includes("'")) throw new Error(`the control task queue ${JSON.stringify(controlTaskQueue)} holds a quote: its runs cannot be listed`);
  const queue = `TaskQueue = '${controlTaskQueue}'`;
  return options.openOnly ? `${queue} AND ExecutionStatus = 'Running'` : queue;
}

const Cause = temporal.api.enums.v1.WorkflowTaskFailedCause;
/**
 * Failures the server gives a workflow task for its own reasons and follows with a fresh task at once: an event that
 * came while the worker closed the run (UNHANDLED_COMMAND), a lost sticky worker, a reset. They say nothing of the code.
 */
const SERVER_RETRIES: ReadonlySet<number> = new Set([Cause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND, Cause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE, Cause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW]);

/**
 * The failure of a run's last workflow task, when the worker failed it: the run makes no progress until a worker can
 * complete one (a replay repeats a failure its history holds, so only this shows a run that fails today).
 */
export function lastTaskFailure(history: temporal.api.history.v1.IHistory): string | null {
  const tasks = (history.events ?? []).filter((event) => event.workflowTaskCompletedEventAttributes || event.workflowTaskFailedEventAttributes);
  const last = tasks.at(-1)?.workflowTaskFailedEventAttributes;
  if (!last || SERVER_RETRIES.has(Number(last.cause ?? 0))) return null;
  return last.failure?.message ?? `the workflow task failed (${Cause[Number(last.cause ?? 0)] ?? String(last.cause)})`;
}

/**
 * Every run `query` lists, its history fetched and replayed against `code`: how many were replayed, those whose replay
 * failed, and those whose last workflow task failed, with the error. Replaying changes nothing on the server.
 */
export async function replayRuns(client: Client, query: string, code: ReplayCode): Promise<{ replayed: number; failed: UnreplayableRun[]; failing: UnreplayableRun[] }> {
  const runs: Array<HistoryAndWorkflowId & { runId: string }> = [];
  for await (const run of client.workflow.list({ query })) {
    runs.push({ workflowId: run.workflowId, runId: run.runId, history: await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory() });
  }
  const failed: UnreplayableRun[] = [];
  const failing = runs.flatMap((run) => {
    const failure = lastTaskFailure(run.history as temporal.api.history.v1.IHistory);
    return failure === null ? [] : [{ workflowId: run.workflowId, runId: run.runId, error: failure }];
  });
  if (runs.length === 0) return { replayed: 0, failed, failing };
  for await (const result of Worker.runReplayHistories(code, runs)) {
    if (result.error) failed.push({ workflowId: result.workflowId, runId: result.runId, error: String(result.error) });
  }
  return { replayed: runs.length, failed, failing };
}
