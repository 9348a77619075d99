import type { Command } from 'commander';
import { TRUNCATED_BITSTRING_LENGTH } from '../../domain/sp800-90b/samples';
import type { EaOptions } from '../actions/ea';
import { exampleHelp } from './help';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/ea') => require('../actions/ea') as typeof import('../actions/ea');

// Not toLocaleString: its first call loads ICU's locale data, a third of the start-up time of `keyrotor --help`.
const thousands = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

export function registerEa(program: Command): void {
  program
    .command('ea')
    .description('Estimate min-entropy per sample with the SP 800-90B non-IID estimators (as NIST ea_non_iid)')
    .argument('<file>', 'raw samples, one per byte')
    .requiredOption('--bits-per-sample <bits>', 'bits per sample, 1 to 8: each byte contributes its low bits')
    .option('--json', 'print an array of {estimator, track, minEntropy}')
    .option('--truncate-bitstring', `assess only the first ${thousands(TRUNCATED_BITSTRING_LENGTH)} bits of the bitstring (ea_non_iid -t)`)
    .addHelpText('after', exampleHelp(['keyrotor ea samples.bin --bits-per-sample 8'], 'On a terminal, the estimator running is shown on stderr; not with --json or when stderr is not a terminal.'))
    .action((file: string, options: EaOptions) => {
      actions().runEa(file, options);
    });
}
