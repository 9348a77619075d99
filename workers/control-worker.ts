import { hostname } from 'node:os';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { withHeartbeats } from '../activities/heartbeat';
import { createKeyControlActivities } from '../activities/key-control-activities';
import { createPredictionActivities } from '../activities/prediction-activities';
import { createThreatIntelActivities } from '../activities/threat-intel-activities';
import { createAccessLogActivities, createUsageActivities } from '../activities/usage-activities';
import { createKeymapControlActivities } from '../activities/keymap-control-activities';
import type { Database } from '../adapters/postgres/database';
import type { KeyrotorConfig } from '../domain/config';
import type { RunningWorker } from './hsm-worker';
import { processSetting } from '../adapters/config-loader';

export interface ControlWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  shutdownGraceMs: number;
  db: Database;
  config: KeyrotorConfig;
  /** A bundle made once with bundleWorkflowCode (tests); otherwise $KEYROTOR_WORKFLOW_BUNDLE (an image's prebuilt one) or bundled at start. */
  workflowBundle?: WorkflowBundle;
}

export const workflowsPath = require.resolve('../workflows');

/** The control worker with its workflow code bundled and loaded, not yet polling: `run` starts it. */
export interface PreparedControlWorker {
  run(): RunningWorker;
  /** Releases a worker that was never run (a start that failed before it polled), so its connection can close. */
  discard(): Promise<void>;
}

/** The worker that runs every workflow and the activities that need no HSM, made ready to run. */
export async function prepareControlWorker(options: ControlWorkerOptions): Promise<PreparedControlWorker> {
  const bundle = processSetting('workflowBundle');
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.config.temporal.controlTaskQueue,
    identity: `keyrotor-control@${hostname()}`,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : bundle
        ? { workflowBundle: { codePath: bundle } }
        : { workflowsPath }),
    activities: {
      // The lifecycle gives its control steps a heartbeat timeout (workflows/lifecycle-steps.ts): they heartbeat.
      ...withHeartbeats(createKeyControlActivities({ db: options.db, config: options.config })),
      ...createThreatIntelActivities({ db: options.db, config: options.config }),
      ...createUsageActivities({ db: options.db, config: options.config }),
      ...createAccessLogActivities({ db: options.db, config: options.config }),
      ...createPredictionActivities({ db: options.db, config: options.config }),
      ...createKeymapControlActivities({ db: options.db, config: options.config }),
    },
    shutdownGraceTime: options.shutdownGraceMs,
    // Keys rotating at once each have a workflow task ready at the same moments (an Update, a step's completion): with
    // the default 10 polls (8 on the sticky queue) the rest waited a poll's round trip each. Half the default 40 slots.
    maxConcurrentWorkflowTaskPolls: 20,
  });
  let ran = false;
  return {
    run() {
      ran = true;
      const done = worker.run();
      return {
        name: 'control worker',
        done,
        async shutdown() {
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await done;
        },
      };
    },
    async discard() {
      if (ran) return;
      ran = true;
      // A worker is released by ending a run; this one stops as soon as it starts.
      await worker.runUntil(Promise.resolve());
    },
  };
}

/** The control worker, polling. */
export async function startControlWorker(options: ControlWorkerOptions): Promise<RunningWorker> {
  return (await prepareControlWorker(options)).run();
}
