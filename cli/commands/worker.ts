import type { Command } from 'commander';
import { exampleHelp, SERVICE_ENVIRONMENT } from './help';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/worker') => require('../actions/worker') as typeof import('../actions/worker');

export function registerWorker(program: Command): void {
  const worker = program.command('worker').description('Run one worker on its own (the production topology: one HSM worker beside each HSM)');

  worker
    .command('hsm')
    .description('The worker of one HSM node, on task queue hsm.<node>')
    .requiredOption('--node <id>', 'the node id from the configuration')
    .addHelpText('after', exampleHelp(['TEMPORAL_ADDRESS=temporal:7233 keyrotor worker hsm --node hsm-1']))
    .action((options: { node: string }) => actions().runHsmWorker(options.node));

  worker
    .command('control')
    .description('A control worker: the workflows and the activities that need no HSM')
    .addHelpText('after', exampleHelp([`${SERVICE_ENVIRONMENT} keyrotor worker control`]))
    .action(() => actions().runControlWorker());
}
