import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, ParentClosePolicy, TimeoutFailure, isCancellation, patched, proxyActivities, proxyLocalActivities, startChild } from '@temporalio/workflow';
import { isErrorCode } from '../domain/error-codes';
import { hsmTaskQueue } from '../domain/identifiers';
import * as machine from '../domain/keys/lifecycle-machine';
import { STEP_HEARTBEAT_TIMEOUT_MS } from '../domain/step-timeouts';
import { webhookDeliveryWorkflow } from './webhook-delivery';

// How the key lifecycle's steps run on Temporal: which queue, which timeouts, and how a failure becomes an outcome.

type Activities = Record<string, (input: Record<string, unknown>) => Promise<unknown>>;
const retry = { initialInterval: '1s', maximumInterval: '15s' };
/**
 * HSM, control and prediction activities heartbeat every 2 s (activities/heartbeat.ts): an attempt whose worker died is
 * retried after this, not after its start-to-close timeout, which stays the bound of a live attempt. A control step
 * (a recording, an archive's storage) whose control worker was killed waited out its 30 s start-to-close before.
 */
const heartbeatTimeout = STEP_HEARTBEAT_TIMEOUT_MS;
/** Control and prediction activities name no task queue: they run on the queue this workflow runs on. */
const control = proxyActivities({ startToCloseTimeout: '30s', heartbeatTimeout, retry: { initialInterval: '1s', maximumInterval: '30s' } }) as Activities;
/**
 * The subscription ids, a rotation's last read before its answer, came from a local activity in runs that recorded
 * LOCAL_CONTROL_READS_PATCH (and not LOCAL_CONTROL_READS_WITHDRAWN); those histories replay so. New runs read them with
 * an activity again: a query answered while the local activity ran makes the worker end the workflow task with the
 * activity's result recorded but not yet given to the workflow, which then sees it in the next task, while a replay
 * gives it within the first task. What the workflow decides after that read (a patch, the time, whether Temporal
 * suggests a fresh run) then differed between the run and its replay: the replay failed with a non-determinism error
 * and the key's workflow could not go on (test/integration/replay.test.ts, keys rotated under queries).
 */
const LOCAL_CONTROL_READS: ReadonlySet<string> = new Set(['listSubscriptionIds']);
const localControl = proxyLocalActivities({ startToCloseTimeout: '30s', retry: { initialInterval: '1s', maximumInterval: '30s' } }) as Activities;
const LOCAL_CONTROL_READS_PATCH = 'subscription-ids-as-local-activity';
const LOCAL_CONTROL_READS_WITHDRAWN = 'subscription-ids-as-activity-again';
const prediction = proxyActivities({ startToCloseTimeout: '2m', heartbeatTimeout, retry: { ...retry, maximumInterval: '10s', maximumAttempts: 4 } }) as Activities;

/**
 * Runs before this patch scheduled HSM steps without a schedule-to-start timeout (they waited for an away node out of
 * sight); their histories replay without it.
 */
const NODE_TRIES_PATCH = 'hsm-step-tries-wait-visibly';

/** The patches of the steps a run started now follows (never LOCAL_CONTROL_READS_PATCH: a new run has no local activity). */
export const STEP_PATCHES: readonly string[] = [NODE_TRIES_PATCH, LOCAL_CONTROL_READS_WITHDRAWN];

/**
 * Where each call runs. A step that must happen on a node waits for that node's worker rather than leaving the cluster
 * inconsistent, visibly: each try has the schedule-to-start timeout the machine chose (a try that no worker took is the
 * `node_away` outcome, and the machine tries again), see domain/keys/node-wait.ts. A ping has one short attempt: a node
 * that does not answer is not chosen to generate.
 */
function activitiesFor(queue: machine.Queue, summary: string, activity: string): Activities {
  if (queue.kind === 'control') {
    // Asked in this order: a new run records the withdrawal and never asks for the local activity.
    const local = LOCAL_CONTROL_READS.has(activity) && !patched(LOCAL_CONTROL_READS_WITHDRAWN) && patched(LOCAL_CONTROL_READS_PATCH);
    return local ? localControl : control;
  }
  if (queue.kind === 'prediction') return prediction;
  if (queue.kind === 'ping') return proxyActivities({ taskQueue: hsmTaskQueue(queue.node), scheduleToStartTimeout: '5s', startToCloseTimeout: '10s', retry: { maximumAttempts: 1 }, summary });
  const tries = queue.tryTimeoutMs !== undefined && patched(NODE_TRIES_PATCH) ? { scheduleToStartTimeout: queue.tryTimeoutMs } : {};
  return proxyActivities({ taskQueue: hsmTaskQueue(queue.node), ...tries, startToCloseTimeout: queue.long ? '5m' : '30s', heartbeatTimeout, retry, summary });
}

function failureOf(error: unknown, queue?: machine.Queue): machine.Outcome {
  const cause = error instanceof ActivityFailure && error.cause ? error.cause : error;
  // Temporal does not retry a schedule-to-start timeout: no worker of the node took this try.
  if (queue?.kind === 'hsm' && cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_START') {
    return { ok: false, code: 'node_away', message: `no worker of ${queue.node} took the step within ${queue.tryTimeoutMs ?? 0} ms`, away: [queue.node] };
  }
  // An activity's failure type is a code of the table (activities/failures.ts); Temporal's own failures are not.
  return { ok: false, code: cause instanceof ApplicationFailure && isErrorCode(cause.type) ? cause.type : 'step_failed', message: cause instanceof Error ? cause.message : String(cause) };
}

async function invoke(call: machine.Call): Promise<machine.Outcome> {
  try {
    return { ok: true, value: await (activitiesFor(call.queue, call.summary, call.activity)[call.activity] as Activities[string])(call.input) };
  } catch (error) {
    if (isCancellation(error)) throw error;
    return failureOf(error, call.queue);
  }
}

/** Runs one step the lifecycle machine named and answers its outcome; it never throws for a failed activity. */
export async function runStep(step: machine.Step, waitUntil: (until: number | null, what: string) => Promise<void>): Promise<machine.Outcome> {
  switch (step.kind) {
    case 'call':
      return invoke(step.call);
    case 'calls': {
      return machine.outcomeOfCalls(step.calls, await Promise.all(step.calls.map(invoke)));
    }
    case 'notify':
      // Each subscriber gets its own child workflow: a failing subscriber never holds the rotation.
      for (const child of step.children) {
        try {
          await startChild(webhookDeliveryWorkflow, { workflowId: child.workflowId, parentClosePolicy: ParentClosePolicy.ABANDON, args: [child.input] });
        } catch (error) {
          if (!(error instanceof WorkflowExecutionAlreadyStartedError)) return failureOf(error);
        }
      }
      return { ok: true, value: null };
    default:
      await waitUntil(step.kind === 'wait' ? step.until : null, step.kind === 'wait' ? step.what : step.kind);
      return { ok: true, value: null };
  }
}

