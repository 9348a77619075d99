import { ActivityFailure, ApplicationFailure, TimeoutFailure, proxyActivities } from '@temporalio/workflow';
import type { HsmActivities, PingHsmNodeResult } from '../activities/hsm-activities';
import { hsmTaskQueue } from '../domain/identifiers';

export interface HealthCheckInput {
  nodeIds: string[];
  /** How long a node's worker has to pick up and answer the ping. */
  timeoutMs: number;
}

export type NodeHealth =
  | ({ id: string; status: 'up' } & Omit<PingHsmNodeResult, 'nodeId'>)
  | { id: string; status: 'down'; reason: string };

export interface HealthCheckResult {
  nodes: NodeHealth[];
}

function describeFailure(error: unknown, timeoutMs: number): string {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof TimeoutFailure) {
    return cause.timeoutType === 'SCHEDULE_TO_START'
      ? `no worker picked up the ping within ${timeoutMs} ms (is the node's worker running?)`
      : `the node did not answer within ${timeoutMs} ms`;
  }
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'error'}: ${cause.message}`;
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * Pings every HSM node through its own task queue at once. A node whose worker is down shows as down once the
 * schedule-to-start timeout passes, instead of holding the whole check.
 */
export async function healthCheckWorkflow(input: HealthCheckInput): Promise<HealthCheckResult> {
  const nodes = await Promise.all(
    input.nodeIds.map(async (id): Promise<NodeHealth> => {
      const { pingHsmNode } = proxyActivities<HsmActivities>({
        taskQueue: hsmTaskQueue(id),
        scheduleToStartTimeout: input.timeoutMs,
        startToCloseTimeout: input.timeoutMs,
        retry: { maximumAttempts: 1 },
        summary: `ping ${id}: token info and random bytes`,
      });
      try {
        const { nodeId: _nodeId, ...result } = await pingHsmNode({ nodeId: id, randomBytes: 16 });
        return { id, status: 'up', ...result };
      } catch (error) {
        return { id, status: 'down', reason: describeFailure(error, input.timeoutMs) };
      }
    }),
  );
  return { nodes };
}
