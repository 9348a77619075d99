import { readFileSync, writeFileSync } from 'node:fs';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { workflowsPath } from '../../workers/control-worker';

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

/** Bundles keyrotor's workflow code into `file` (once per test run, in the global setup); returns the file's path. */
export async function bundleTestWorkflows(file: string): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: silent });
  writeFileSync(file, code);
  return file;
}

/** The test run's workflow bundle (KEYROTOR_WORKFLOW_BUNDLE, set by the global setup), or one made here without it. */
export async function loadTestWorkflowBundle(): Promise<WorkflowBundle> {
  const file = process.env.KEYROTOR_WORKFLOW_BUNDLE;
  if (file) return { code: readFileSync(file, 'utf8') };
  return bundleWorkflowCode({ workflowsPath, logger: silent });
}
