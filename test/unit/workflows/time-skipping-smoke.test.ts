import { performance } from 'node:perf_hooks';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { sleepWorkflow } from '../../fixtures/workflows/time-skipping';
import { eventually } from '../../support/eventually';
import { createTimeSkippingEnvironment } from '../../support/time-skipping';

const DAY_MS = 86_400_000;
// As workflows/key-messages.ts defines it; the environment registers keyrotor's search attributes (domain/identifiers.ts).
const keyNameSearchAttribute = defineSearchAttributeKey('KeyName', SearchAttributeType.KEYWORD);
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

describe('time-skipping test environment', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundle;
  let startedInMs: number;

  beforeAll(async () => {
    const bundling = bundleWorkflowCode({ workflowsPath: require.resolve('../../fixtures/workflows/time-skipping'), logger: silent });
    const started = performance.now();
    env = await createTimeSkippingEnvironment();
    startedInMs = performance.now() - started;
    bundle = await bundling;
  });

  afterAll(async () => {
    await env?.teardown();
  });

  async function withWorker<T>(taskQueue: string, run: () => Promise<T>): Promise<T> {
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle });
    return worker.runUntil(run);
  }

  it('starts the test server in a few seconds', () => {
    expect(env.supportsTimeSkipping).toBe(true);
    expect(startedInMs).toBeLessThan(10_000);
  });

  it('skips a 30-day timer while the client awaits the result', async () => {
    const { from, to, wallMs } = await withWorker('smoke-result', async () => {
      const started = performance.now();
      const slept = await env.client.workflow.execute<typeof sleepWorkflow>('sleepWorkflow', { taskQueue: 'smoke-result', workflowId: 'smoke-result', args: [30 * DAY_MS] });
      return { ...slept, wallMs: performance.now() - started };
    });
    expect(to - from).toBeGreaterThanOrEqual(30 * DAY_MS);
    expect(wallMs).toBeLessThan(5_000);
  });

  it('skips 30 days on env.sleep, and keyrotor\'s search attributes are registered', async () => {
    await withWorker('smoke-sleep', async () => {
      const handle = await env.client.workflow.start<typeof sleepWorkflow>('sleepWorkflow', {
        taskQueue: 'smoke-sleep',
        workflowId: 'smoke-sleep',
        args: [30 * DAY_MS],
        typedSearchAttributes: [{ key: keyNameSearchAttribute, value: 'smoke' }],
      });
      const before = await env.currentTimeMs();
      const started = performance.now();
      await env.sleep(30 * DAY_MS);
      expect(performance.now() - started).toBeLessThan(5_000);
      expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(30 * DAY_MS);
      // The timer has fired; the worker still has to run the workflow task that completes the workflow (describe does
      // not skip time, so this waits in wall time only).
      const described = await eventually(async () => {
        const d = await handle.describe();
        return d.status.name === 'COMPLETED' ? d : undefined;
      }, 'the workflow to complete after env.sleep', 5_000, 50);
      expect(described.typedSearchAttributes.get(keyNameSearchAttribute)).toBe('smoke');
    });
  });
});
