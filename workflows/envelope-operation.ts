import { ActivityFailure, ApplicationFailure, TimeoutFailure, proxyActivities } from '@temporalio/workflow';
import type { HsmEnvelopeActivities } from '../activities/hsm-envelope-activities';
import { isErrorCode, type ErrorCode } from '../domain/error-codes';
import { hsmTaskQueue } from '../domain/identifiers';

export type EnvelopeOperation = keyof HsmEnvelopeActivities;

export interface EnvelopeOperationInput {
  /** The nodes to try, in order: the next one when a node's worker does not take the operation or lacks the version. */
  nodes: string[];
  operation: EnvelopeOperation;
  input: Record<string, unknown>;
}

export type EnvelopeOperationResult = { ok: true; node: string; value: unknown } | { ok: false; code: ErrorCode; message: string };

/** How long a node's worker has to take an operation before the next node is asked. */
const NODE_TAKES_MS = 5_000;

/**
 * One envelope operation of the API on an HSM node. Every version of a key is on every node, so any node will do: a
 * node whose worker does not take the operation in time, or that lacks the version (hsm_key_not_found), passes it on
 * to the next. The operation's refusal (a ciphertext that does not open, a version whose usage forbids it) is the
 * answer, not a failure of this workflow. What it carries is ciphertext: data keys wrapped under a KEK version, or
 * sealed to the API's transport key.
 */
export async function envelopeOperationWorkflow(input: EnvelopeOperationInput): Promise<EnvelopeOperationResult> {
  let last: EnvelopeOperationResult = { ok: false, code: 'node_away', message: 'no HSM node is configured' };
  for (const node of input.nodes) {
    const activities = proxyActivities<HsmEnvelopeActivities>({
      taskQueue: hsmTaskQueue(node),
      scheduleToStartTimeout: NODE_TAKES_MS,
      startToCloseTimeout: '30s',
      retry: { initialInterval: '200ms', maximumInterval: '2s', maximumAttempts: 3 },
      summary: `${input.operation} on ${node}`,
    });
    try {
      const value = await (activities[input.operation] as unknown as (request: Record<string, unknown>) => Promise<unknown>)(input.input);
      return { ok: true, node, value };
    } catch (error) {
      const cause = error instanceof ActivityFailure ? error.cause : error;
      if (cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_START') {
        last = { ok: false, code: 'node_away', message: `no worker of ${node} took the operation within ${NODE_TAKES_MS} ms` };
        continue;
      }
      const code: ErrorCode = cause instanceof ApplicationFailure && isErrorCode(cause.type) ? cause.type : 'step_failed';
      const message = cause instanceof Error ? cause.message : String(cause);
      last = { ok: false, code, message };
      if (code === 'hsm_key_not_found') continue;
      return last;
    }
  }
  return last;
}
