import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { keyWorkflowId } from '../../domain/identifiers';
import { reevaluateKeySignal } from '../../workflows/key-messages';

/** What waking the keys reached by changed threat intelligence did; counts only, so that it fits any history. */
export interface ReevaluationOutcome {
  /** Live keys (active or in a grace period) the indicators reach: the keys asked. */
  reached: number;
  signalled: number;
  /** Keys without a running lifecycle workflow (terminated by hand, for instance): nothing to wake. */
  notRunning: number;
  /** Signals Temporal refused or that failed otherwise; those keys see the indicators at their next scheduled evaluation. */
  failed: number;
}

// Signals in flight at once: a scope-all indicator reaches every key, and thousands of parallel calls would crowd the
// Temporal frontend the lifecycle workflows themselves depend on.
const SIGNAL_CONCURRENCY = 8;

export const NO_REEVALUATION: ReevaluationOutcome = { reached: 0, signalled: 0, notRunning: 0, failed: 0 };

/**
 * Asks each named key's lifecycle workflow to evaluate itself now rather than at its next scheduled evaluation (the
 * `reevaluateKey` signal). POST /threat-intel and the feed pull name the live keys that created or changed indicators
 * reach (keysReachedBy in adapters/postgres/prediction-repository.ts). Never throws for a key: a key that cannot be
 * signalled keeps its schedule.
 */
export async function signalKeyReevaluation(
  client: Client,
  names: readonly string[],
  input: { why: string; onFailure?: (key: string, error: unknown) => void },
): Promise<ReevaluationOutcome> {
  const outcome: ReevaluationOutcome = { reached: names.length, signalled: 0, notRunning: 0, failed: 0 };
  const queue = [...names];
  const signalNext = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      try {
        await client.workflow.getHandle(keyWorkflowId(name)).signal(reevaluateKeySignal, { why: input.why });
        outcome.signalled += 1;
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) {
          outcome.notRunning += 1;
        } else {
          outcome.failed += 1;
          input.onFailure?.(name, error);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SIGNAL_CONCURRENCY, queue.length) }, signalNext));
  return outcome;
}
