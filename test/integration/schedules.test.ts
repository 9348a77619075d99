import { ScheduleNotFoundError } from '@temporalio/client';
import { ensureKeymapSyncSchedule, ensureThreatFeedSchedule } from '../../adapters/temporal/schedules';
import { KEYMAP_SYNC_SCHEDULE_ID, THREAT_FEED_SCHEDULE_ID, WORKFLOW_TYPES, deploymentScheduleId } from '../../domain/identifiers';
import type { RunningSystem } from '../../workers/system';
import { startTestSystem } from '../support/system';

/** Two deployments on one Temporal namespace, on different control queues: each keeps its own schedules. */
describe('schedules of deployments that share a namespace', () => {
  let system: RunningSystem;
  let mine: string;
  let other: string;

  beforeAll(async () => {
    system = await startTestSystem();
    mine = system.config.temporal.controlTaskQueue;
    other = `${mine}-other`;
  });

  afterAll(async () => {
    for (const id of [KEYMAP_SYNC_SCHEDULE_ID, THREAT_FEED_SCHEDULE_ID].flatMap((base) => [deploymentScheduleId(base, mine), deploymentScheduleId(base, other)])) {
      await system?.client.schedule.getHandle(id).delete().catch(() => undefined);
    }
    // The other deployment has no worker: its triggered runs would wait for ever on the shared server.
    for await (const run of system.client.workflow.list({ query: `TaskQueue = '${other}' AND ExecutionStatus = 'Running'` })) {
      await system.client.workflow.getHandle(run.workflowId, run.runId).terminate('test over').catch(() => undefined);
    }
    await system?.stop();
  });

  const aimOf = async (scheduleId: string): Promise<string | undefined> => {
    try {
      const { action } = await system.client.schedule.getHandle(scheduleId).describe();
      return action.type === 'startWorkflow' ? action.taskQueue : undefined;
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) return undefined;
      throw error;
    }
  };
  /** A schedule under the base name, as a deployment on `taskQueue` made it before the ids were scoped; paused. */
  const unscoped = async (taskQueue: string): Promise<void> => {
    await system.client.schedule.create({
      scheduleId: KEYMAP_SYNC_SCHEDULE_ID,
      spec: { intervals: [{ every: '1h' }] },
      action: { type: 'startWorkflow', workflowType: WORKFLOW_TYPES.keymapSync, args: [], taskQueue, workflowId: KEYMAP_SYNC_SCHEDULE_ID },
      state: { paused: true },
    });
  };

  it('scopes the ids by control queue, retires a deployment\'s unscoped schedule and leaves the other\'s alone', async () => {
    expect(deploymentScheduleId(KEYMAP_SYNC_SCHEDULE_ID, 'keyrotor.control')).toBe(KEYMAP_SYNC_SCHEDULE_ID);
    expect(deploymentScheduleId(KEYMAP_SYNC_SCHEDULE_ID, mine)).toBe(`${KEYMAP_SYNC_SCHEDULE_ID}@${mine}`);
    const nodes = system.config.hsm.nodes.map((node) => node.id);

    // This deployment made the unscoped one: its next start replaces it with its own.
    await unscoped(mine);
    await ensureKeymapSyncSchedule(system.client, mine, nodes);
    expect(await aimOf(deploymentScheduleId(KEYMAP_SYNC_SCHEDULE_ID, mine))).toBe(mine);
    expect(await aimOf(KEYMAP_SYNC_SCHEDULE_ID)).toBeUndefined();

    // The other deployment's unscoped schedule stays through this one's start, and goes at the other's.
    await unscoped(other);
    await ensureKeymapSyncSchedule(system.client, mine, nodes);
    expect(await aimOf(KEYMAP_SYNC_SCHEDULE_ID)).toBe(other);
    await ensureKeymapSyncSchedule(system.client, other, ['elsewhere-hsm-1']);
    expect(await aimOf(KEYMAP_SYNC_SCHEDULE_ID)).toBeUndefined();
    expect(await aimOf(deploymentScheduleId(KEYMAP_SYNC_SCHEDULE_ID, other))).toBe(other);
    expect(await aimOf(deploymentScheduleId(KEYMAP_SYNC_SCHEDULE_ID, mine))).toBe(mine);

    // A deployment without a feed removes its own feed schedule, never the other's.
    const feed = { ...system.config.threatIntel, feedUrl: 'http://127.0.0.1:9/indicators.json' };
    expect(await ensureThreatFeedSchedule(system.client, other, feed)).toBe('scheduled');
    const { feedUrl: _none, ...noFeed } = system.config.threatIntel;
    expect(await ensureThreatFeedSchedule(system.client, mine, noFeed)).toBe('none');
    expect(await aimOf(deploymentScheduleId(THREAT_FEED_SCHEDULE_ID, other))).toBe(other);
    expect(await ensureThreatFeedSchedule(system.client, other, noFeed)).toBe('removed');
    expect(await aimOf(deploymentScheduleId(THREAT_FEED_SCHEDULE_ID, other))).toBeUndefined();
  });
});
