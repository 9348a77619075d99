import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { Command } from 'commander';
import { workflowsPath } from '../../workers/control-worker';

export function registerBundle(program: Command): void {
  program
    .command('bundle-workflows')
    .description('Bundle the workflow code once (at image build time); control workers load it from KEYROTOR_WORKFLOW_BUNDLE')
    .argument('<file>', 'where to write the bundle')
    .action(async (file: string) => {
      const { code } = await bundleWorkflowCode({ workflowsPath });
      writeFileSync(resolve(file), code);
      process.stdout.write(`workflow bundle written to ${resolve(file)} (${(code.length / 1024).toFixed(0)} KiB)\n`);
    });
}
