import type { Command } from 'commander';
import type { HealthOptions } from '../actions/health';
import { exampleHelp } from './help';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/health') => require('../actions/health') as typeof import('../actions/health');

export function registerHealth(program: Command): void {
  program
    .command('health')
    .description('Ask a running keyrotor for the health of Temporal, PostgreSQL and every HSM node')
    .option('--url <url>', 'API base URL (default: from the configuration)')
    .option('--json', 'print the raw JSON reply')
    .addHelpText('after', exampleHelp(['keyrotor health --url http://127.0.0.1:3000'], 'Exit code 0 when everything is up, 1 otherwise.'))
    .action((options: HealthOptions) => actions().runHealth(options));
}
