import type { Command } from 'commander';
import { exampleHelp } from './help';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/kat') => require('../actions/kat') as typeof import('../actions/kat');

export function registerKat(program: Command): void {
  const kat = program.command('kat').description('Run known-answer tests against published NIST vectors');
  kat
    .command('drbg')
    .description('Run NIST CAVP HMAC_DRBG vectors ([SHA-256] sections; other hashes are skipped)')
    .argument('<file>', 'CAVP response file, e.g. HMAC_DRBG.rsp from drbgtestvectors.zip')
    .addHelpText('after', exampleHelp(['keyrotor kat drbg HMAC_DRBG.rsp']))
    .action((file: string) => {
      actions().runKatDrbg(file);
    });
}
