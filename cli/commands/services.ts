import type { Command } from 'commander';
import { exampleHelp, SERVICE_ENVIRONMENT } from './help';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/services') => require('../actions/services') as typeof import('../actions/services');

export function registerServices(program: Command): void {
  program
    .command('provision')
    .description('One-shot set-up of a deployment: HSM tokens and wrapping keys, database migrations, Temporal search attributes, the first admin token')
    .addHelpText('after', exampleHelp([`${SERVICE_ENVIRONMENT} keyrotor provision`]))
    .action(() => actions().runProvision());

  // Started by `provision` (same binary) for a node whose module needs an environment of its own; it reads its
  // requests, and the wrapping keys, from standard input only.
  program
    .command('provision-node', { hidden: true })
    .description('One node of `keyrotor provision`, in a process of its own (started by keyrotor provision)')
    .requiredOption('--node <id>', 'the node id')
    .action((options: { node: string }) => actions().runProvisionNode(options.node));

  program
    .command('api')
    .description('The API server alone (several can run side by side), against DATABASE_URL and TEMPORAL_ADDRESS')
    .addHelpText('after', exampleHelp([`${SERVICE_ENVIRONMENT} keyrotor api`]))
    .action(() => actions().runApi());
}
