import type { RunningSystem } from '../../workers/system';
import { runCliAsync } from '../support/cli';
import { eventually } from '../support/eventually';
import { callApiAs, startTestSystem, tokenFor, uniqueName } from '../support/system';

/** `keyrotor replay-check` against a running system's Temporal, as an operator runs it before or after an upgrade. */
describe('keyrotor replay-check', () => {
  let system: RunningSystem;

  afterAll(async () => {
    await system?.stop();
  });

  it('replays the open runs of the deployment, and names a run the workflow code cannot replay with exit code 1', async () => {
    // This file leaves a run that cannot replay on purpose: the stop's own replay check would report it.
    system = await startTestSystem(undefined, { replayCheck: false });
    const operator = await tokenFor(system, 'operator');
    const name = uniqueName('replaycheck-');
    expect((await callApiAs(system, operator, 'POST', '/keys', { name, type: 'ec-p256' })).status).toBe(202);
    await eventually(async () => ((await callApiAs(system, operator, 'GET', `/keys/${name}`)).body.activeVersion === 1 ? true : undefined), 'v1 active');
    const env = { ...process.env, KEYROTOR_CONFIG: undefined, TEMPORAL_ADDRESS: system.temporalAddress, KEYROTOR_CONTROL_TASK_QUEUE: system.config.temporal.controlTaskQueue };

    const clean = await runCliAsync(['replay-check', '--json'], env);
    expect(clean.stderr).toBe('');
    expect(clean.code).toBe(0);
    const report = JSON.parse(clean.stdout) as { replayed: number; failed: unknown[]; failing: unknown[] };
    // The key's lifecycle at least (visibility may list a just-started run a moment late).
    expect(report.replayed).toBeGreaterThanOrEqual(1);
    expect(report.failed).toEqual([]);
    expect(report.failing).toEqual([]);

    // A run of a workflow this code does not have (as after an upgrade that removed one): its tasks fail. Its replay
    // repeats the failure its history holds, so it is the last task's failure that names it.
    const retired = await system.client.workflow.start('retiredWorkflow', { taskQueue: system.config.temporal.controlTaskQueue, workflowId: uniqueName('retired-'), args: [] });
    await eventually(async () => {
      const { events } = await retired.fetchHistory();
      return (events ?? []).some((event) => event.workflowTaskFailedEventAttributes) ? true : undefined;
    }, 'the retired workflow\'s task failed');
    const found = await eventually(async () => {
      const run = await runCliAsync(['replay-check'], env);
      return run.stdout.includes(retired.workflowId) ? run : undefined;
    }, 'replay-check lists the retired run');
    expect(found.code).toBe(1);
    expect(found.stderr).toBe('');
    expect(found.stdout).toMatch(/open run\(s\) replayed: 0 do not replay, 1 fail their workflow task\n/);
    expect(found.stdout).toContain(`fails its workflow task: ${retired.workflowId} (run ${retired.firstExecutionRunId}): Failed to initialize workflow of type 'retiredWorkflow'`);
    expect(found.stdout).not.toContain(`key/${name}`);
    await retired.terminate('test over');
  });
});
