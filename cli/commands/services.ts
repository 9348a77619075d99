import type { Command } from 'commander';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/services') => require('../actions/services') as typeof import('../actions/services');

export function registerServices(program: Command): void {
  program
    .command('provision')
    .description('One-shot set-up of a deployment: HSM tokens and wrapping keys, database migrations, Temporal search attributes, the first admin token')
    .addHelpText('after', '\nExample:\n  $ DATABASE_URL=postgres://... TEMPORAL_ADDRESS=temporal:7233 keyrotor provision')
    .action(async () => {
      await actions().runProvision();
    });

  // Started by `provision` (same binary) for a node whose module needs an environment of its own; it reads its
  // requests, and the wrapping keys, from standard input only.
  program
    .command('provision-node', { hidden: true })
    .description('One node of `keyrotor provision`, in a process of its own (started by keyrotor provision)')
    .requiredOption('--node <id>', 'the node id')
    .action(async (options: { node: string }) => {
      await actions().runProvisionNode(options.node);
    });

  program
    .command('api')
    .description('The API server alone (several can run side by side), against DATABASE_URL and TEMPORAL_ADDRESS')
    .addHelpText('after', '\nExample:\n  $ DATABASE_URL=postgres://... TEMPORAL_ADDRESS=temporal:7233 keyrotor api')
    .action(async () => {
      await actions().runApi();
    });
}
