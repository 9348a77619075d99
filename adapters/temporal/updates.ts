import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { ExternalError } from '../../domain/errors';

/**
 * gRPC codes with which an Update call ends without saying anything of the Update: UNAVAILABLE is what the server
 * answers once its own retries of an Update it aborted are spent ("workflow update was aborted": the workflow's
 * in-memory context, which holds the Updates in flight, was evicted from the history cache or cleared after an error),
 * and what the client's retries of a dropped connection end with; the others are a call cut short.
 */
const UNDECIDED_GRPC_CODES = new Set([1 /* CANCELLED */, 4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 10 /* ABORTED */, 14 /* UNAVAILABLE */]);

/** Whether an Update call failed without an outcome, so that asking again under the same Update id can get one. */
export function isUndecidedUpdateError(error: unknown): boolean {
  if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  if (!(error instanceof ServiceError)) return false;
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' && UNDECIDED_GRPC_CODES.has(code);
}

/** A call of an Update that ended without its outcome, about to be made again: for the API's log and metrics. */
export interface UndecidedCall {
  update: string;
  workflowId: string;
  updateId: string;
  /** Calls made so far, this one included. */
  calls: number;
  /** Since the first call that ended without an outcome. */
  undecidedMs: number;
  /** Before the next call. */
  pauseMs: number;
  reason: string;
}
export type UndecidedListener = (call: UndecidedCall) => void;

/** How long an Update is asked again after calls that ended without its outcome, before the caller is told so. */
export const UPDATE_OUTCOME_PATIENCE_MS = 120_000;
/** What a client told that an Update's outcome is not known yet should wait before asking again (Retry-After). */
export const UPDATE_RETRY_AFTER_SECONDS = 10;

/**
 * An Update's outcome, asked of the run that accepted it. `WorkflowHandle.executeUpdate` on a handle without a run id
 * (a key's workflow is addressed by its id alone) polls the workflow's current run when its first call returns before
 * the outcome, as a rotation that outlasts the server's long poll does; when the workflow continued as new in between,
 * that run does not know the Update ("update not found") and a rotation that completed was answered with a 500.
 * `startUpdate` to ACCEPTED keeps the accepting run's id, and the handle's `result()` polls that run.
 *
 * A call that ends without the outcome (isUndecidedUpdateError) is made again under the same Update id: the server
 * answers a known id with that Update's stage or outcome instead of running it again, and a key's workflow gives a
 * later run's caller the outcome it kept by id. Without that, a rotation whose workflow context the server evicted
 * while the call waited was answered 500 although it went on and completed. Past `patienceMs` of such calls the
 * caller gets `update_outcome_unknown` (503): the Update may still complete, and asking again with the same
 * Idempotency-Key gets its outcome.
 */
export async function executeUpdateOnItsRun<Ret, Args extends [unknown, ...unknown[]]>(
  handle: WorkflowHandle,
  update: UpdateDefinition<Ret, Args>,
  options: { args: Args; updateId?: string; patienceMs?: number; onUndecided?: UndecidedListener },
): Promise<Ret> {
  const updateId = options.updateId ?? randomUUID();
  const patienceMs = options.patienceMs ?? UPDATE_OUTCOME_PATIENCE_MS;
  let undecidedSince: number | undefined;
  for (let attempt = 0; ; attempt += 1) {
    try {
      const accepted = await handle.startUpdate(update, { args: options.args, updateId, waitForStage: WorkflowUpdateStage.ACCEPTED });
      return await accepted.result();
    } catch (error) {
      if (!isUndecidedUpdateError(error)) throw error;
      undecidedSince ??= Date.now();
      if (Date.now() - undecidedSince >= patienceMs) {
        throw new ExternalError('update_outcome_unknown', `Temporal ended the calls of Update ${update.name} (id ${updateId}) on ${handle.workflowId} without its outcome for ${Date.now() - undecidedSince} ms; it may still complete`, { cause: error });
      }
      const pauseMs = Math.min(500 * 2 ** attempt, 5_000);
      options.onUndecided?.({ update: update.name, workflowId: handle.workflowId, updateId, calls: attempt + 1, undecidedMs: Date.now() - undecidedSince, pauseMs, reason: error instanceof Error ? error.message : String(error) });
      await sleep(pauseMs);
    }
  }
}
