import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowsPath } from '../../workers/control-worker';

/** `keyrotor bundle-workflows FILE`: the workflow code bundled once, for control workers to load. */
export async function runBundleWorkflows(file: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath });
  writeFileSync(resolve(file), code);
  process.stdout.write(`workflow bundle written to ${resolve(file)} (${(code.length / 1024).toFixed(0)} KiB)\n`);
}
