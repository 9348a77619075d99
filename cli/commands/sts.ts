import { type Command, InvalidArgumentError, Option } from 'commander';
import type { StsOptions } from '../actions/sts';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/sts') => require('../actions/sts') as typeof import('../actions/sts');

function parsePositiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError('expected a whole number of at least 1.');
  }
  return parsed;
}

/** `keyrotor sts FILE`: the NIST SP 800-22 rev1a battery on a file of bits, with the §4.2 analysis over streams. */
export function registerSts(program: Command): void {
  program
    .command('sts')
    .summary('run the NIST SP 800-22 statistical test battery on a file of bits')
    .description(
      'Runs the 15 tests of NIST SP 800-22 rev1a with the parameters of NIST STS 2.1.2 and prints every p-value.\n' +
        'With several streams it also prints the section 4.2 analysis: proportion passing and uniformity of p-values.',
    )
    .argument('<file>', 'the bits to test')
    .addOption(
      new Option(
        '--format <format>',
        "bin: raw bytes, most significant bit first; ascii: the characters '0' and '1', all else ignored " +
          "(default: ascii if the file holds only '0', '1' and whitespace, else bin)",
      ).choices(['ascii', 'bin']),
    )
    .option('--bits <n>', 'length of each stream in bits (default: the whole input, or an equal share of it with --streams)', parsePositiveInteger)
    .option('--streams <k>', 'number of consecutive streams to cut from the file (default: 1)', parsePositiveInteger)
    .option('--json', 'print a JSON array of {stream, test, subtest, pValue[, reason]}, streams numbered from 1')
    .addHelpText(
      'after',
      [
        '',
        'Subtests: - for single-valued tests; forward/reverse (CumulativeSums); p1/p2 (Serial);',
        'the template, e.g. 000000001 (NonOverlappingTemplate); x=-4 … x=4 (RandomExcursions);',
        'x=-9 … x=9 (RandomExcursionsVariant).',
        'A test that does not apply to a stream (too short, too few cycles) has no p-value and',
        'gives the reason. Binary streams start on 32-bit boundaries, as in NIST STS.',
        'With several streams, a terminal shows the stream being tested on stderr (not with --json).',
        '',
        'Example:',
        '  $ keyrotor sts random.bin --streams 10',
      ].join('\n'),
    )
    .action((file: string, options: StsOptions) => actions().runSts(file, options));
}
