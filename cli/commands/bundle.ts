import type { Command } from 'commander';
import { exampleHelp } from './help';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/bundle') => require('../actions/bundle') as typeof import('../actions/bundle');

export function registerBundle(program: Command): void {
  program
    .command('bundle-workflows')
    .description('Bundle the workflow code once (at image build time); control workers load it from KEYROTOR_WORKFLOW_BUNDLE')
    .argument('<file>', 'where to write the bundle')
    .addHelpText('after', exampleHelp(['keyrotor bundle-workflows /app/workflow-bundle.js']))
    .action((file: string) => actions().runBundleWorkflows(file));
}
