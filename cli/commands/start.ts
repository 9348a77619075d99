import type { Command } from 'commander';
import { exampleHelp } from './help';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/start') => require('../actions/start') as typeof import('../actions/start');

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('Run the whole system: HSM nodes, PostgreSQL, Temporal, workers and the API (embedded defaults)')
    .addHelpText('after', exampleHelp(['npm start            (the same, after installing what a fresh clone is missing)', 'KEYROTOR_API_PORT=3100 keyrotor start']))
    .action(() => actions().runStart());
}
