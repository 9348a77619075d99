import type { Command } from 'commander';
import type { ReplayCheckOptions } from '../actions/replay-check';
import { exampleHelp } from './help';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/replay-check') => require('../actions/replay-check') as typeof import('../actions/replay-check');

export function registerReplayCheck(program: Command): void {
  program
    .command('replay-check')
    .description("Replay this deployment's open workflow runs against this keyrotor's workflow code (before or after an upgrade)")
    .option('--all', 'closed runs too')
    .option('--json', 'print { replayed, failed, failing } as JSON')
    .addHelpText('after', exampleHelp(
      ['keyrotor replay-check', 'TEMPORAL_ADDRESS=temporal:7233 keyrotor replay-check --all --json'],
      'Exit code 0 when every run replays and none is failing its workflow task; 1 otherwise, with each such run named. A run that does not replay fails its workflow tasks once a worker has to replay it (restarted, or the run evicted from its cache). Replaying changes nothing on the server.',
    ))
    .action((options: ReplayCheckOptions) => actions().runReplayCheck(options));
}
