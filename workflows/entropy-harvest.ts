import { proxyActivities } from '@temporalio/workflow';
import type { HsmKeyActivities } from '../activities/hsm-key-activities';
import type { KeyControlActivities } from '../activities/key-control-activities';
import { hsmTaskQueue } from '../domain/identifiers';

const { recordEntropyReport } = proxyActivities<KeyControlActivities>({
  startToCloseTimeout: '30s',
  summary: 'store the report and raise alerts',
});

/**
 * One harvest on one node, started by that node's `entropyHarvest` schedule: collect from every source, health-test,
 * assess when due, condition, reseed the DRBG, run the SP 800-22 battery on its output; then store and alert.
 */
export async function entropyHarvestWorkflow(input: { nodeId: string }): Promise<{ healthy: boolean; creditedBits: number }> {
  const { harvestEntropy } = proxyActivities<HsmKeyActivities>({
    taskQueue: hsmTaskQueue(input.nodeId),
    // A node whose worker is down is reported by /health; its harvest waits for the next run instead of queueing up.
    scheduleToStartTimeout: '1m',
    // An SP 800-90B assessment of 1,000,000 samples per source takes a while on a small machine.
    startToCloseTimeout: '30m',
    // It heartbeats while it runs: a harvest whose worker died is retried after this, not after 30 minutes. Wider than
    // the key steps' 10 s: the collection and health tests of its sources run on the worker's event loop, between
    // heartbeats (the SP 800-90B assessment and the SP 800-22 battery run in a thread of their own).
    heartbeatTimeout: '20s',
    // Each death of the node's worker costs an attempt. With two, a harvest whose worker was killed twice (npm start
    // SIGKILLed twice in a row) failed without a report, and the schedule's start trigger had been skipped while it
    // waited: no report until an interval and a whole harvest later.
    retry: { maximumAttempts: 5 },
    summary: `harvest, test and pool the entropy of ${input.nodeId}`,
  });
  const report = await harvestEntropy({ nodeId: input.nodeId });
  await recordEntropyReport({ nodeId: input.nodeId, report });
  return { healthy: report.snapshot.healthy, creditedBits: report.snapshot.creditedBits };
}
