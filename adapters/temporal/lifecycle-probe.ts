import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { keyWorkflowId } from '../../domain/identifiers';
import { LIFECYCLE_MARGIN_MS } from '../../domain/keymap/build';
import { keyStateQuery } from '../../workflows/key-messages';

/**
 * Asks the lifecycle workflows themselves whether they are at work on their key: what they recorded in PostgreSQL
 * lags behind them (a rotation is recorded only after its key is generated). A key is busy while its workflow has an
 * activity scheduled or running, is creating, rotating or decommissioning, or wakes up for a step within the margin.
 * A workflow that cannot be asked counts as busy: the sync leaves the key for the next round rather than guess.
 */
export async function lifecycleBusyReasons(client: Client, names: readonly string[], nowMs: number, concurrency = 8): Promise<Map<string, string>> {
  const busy = new Map<string, string>();
  const queue = [...names];
  const probe = async (name: string): Promise<void> => {
    const handle = client.workflow.getHandle(keyWorkflowId(name));
    try {
      const description = await handle.describe();
      if (description.status.name !== 'RUNNING') return;
      const pending = description.raw.pendingActivities ?? [];
      if (pending.length > 0) {
        busy.set(name, `its lifecycle has a step running (${pending.map((activity) => activity.activityType?.name ?? 'activity').join(', ')})`);
        return;
      }
      const view = await handle.query(keyStateQuery);
      if (view.phase === 'creating' || view.phase === 'rotating' || view.phase === 'decommissioning') {
        busy.set(name, `its lifecycle is ${view.phase} it`);
      } else if (view.nextEvaluationAt && Date.parse(view.nextEvaluationAt) <= nowMs + LIFECYCLE_MARGIN_MS) {
        busy.set(name, `its lifecycle wakes up at ${view.nextEvaluationAt} (${view.nextEvaluation ?? 'a step'})`);
      }
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return;
      busy.set(name, `its lifecycle workflow could not be asked (${error instanceof Error ? error.message : String(error)})`);
    }
  };
  const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) await probe(name);
  });
  await Promise.all(workers);
  return busy;
}
