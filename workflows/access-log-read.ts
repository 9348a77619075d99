import { log, proxyActivities } from '@temporalio/workflow';
import type { HsmAccessLogActivities } from '../activities/hsm-access-log-activities';
import type { AccessLogActivities } from '../activities/usage-activities';
import { hsmTaskQueue } from '../domain/identifiers';
import { STEP_HEARTBEAT_TIMEOUT_MS } from '../domain/step-timeouts';
import type { Unattributed } from '../domain/usage/observed-usage';

const { accessLogsToRead } = proxyActivities<AccessLogActivities>({ startToCloseTimeout: '30s', summary: 'the node\'s access logs and where each was read to' });
const { storeAccessLogUses } = proxyActivities<AccessLogActivities>({ startToCloseTimeout: '1m', summary: 'store the uses read and the position after them, in one transaction' });

/** Reads of one log per run at most: a log that grows faster than this is read on in the next run. */
const MAX_READS_PER_LOG = 16;

export interface AccessLogReadResult {
  logs: Array<{ path: string; stored: number; reads: number; problems: number; unattributed: Unattributed[]; events: string[]; moved: string | null }>;
}

/**
 * One read of a node's HSM access logs, started by its `access-logs-<node>` schedule: for each log, read on from the
 * stored position on the node's queue (where the file is), then store the uses and the new position in one
 * transaction; again while the log holds more. A read that fails is read again from the same position.
 */
export async function accessLogReadWorkflow(input: { nodeId: string }): Promise<AccessLogReadResult> {
  const { readAccessLog } = proxyActivities<HsmAccessLogActivities>({
    taskQueue: hsmTaskQueue(input.nodeId),
    // A node whose worker is down is read by the next run instead of queueing reads up.
    scheduleToStartTimeout: '1m',
    startToCloseTimeout: '2m',
    heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT_MS,
    retry: { maximumAttempts: 5 },
    summary: `read the access logs on ${input.nodeId}`,
  });
  const result: AccessLogReadResult = { logs: [] };
  for (const source of await accessLogsToRead({ nodeId: input.nodeId })) {
    const done: AccessLogReadResult['logs'][number] = { path: source.path, stored: 0, reads: 0, problems: 0, unattributed: [], events: [], moved: null };
    let from = source.from;
    for (let read = 0; read < MAX_READS_PER_LOG; read += 1) {
      const got = await readAccessLog({ path: source.path, format: source.format, ...(source.timeZone ? { timeZone: source.timeZone } : {}), from });
      const stored = await storeAccessLogUses({ path: source.path, from, to: got.to, uses: got.uses });
      done.reads += 1;
      done.problems += got.problems;
      done.events.push(...got.events.map((event) => event.kind));
      done.unattributed.push(...stored.unattributed);
      if (stored.kind === 'moved') {
        done.moved = stored.reason;
        break;
      }
      done.stored += stored.stored;
      from = got.to;
      if (!got.more) break;
    }
    if (done.problems > 0) log.warn('access log lines could not be read', { path: source.path, problems: done.problems });
    result.logs.push(done);
  }
  return result;
}
