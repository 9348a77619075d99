import type { Command } from 'commander';
import { MAX_BATCH } from '../../domain/usage/events';
import type { IngestOptions } from '../actions/ingest';
import { exampleHelp } from './help';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the command runs, so that the others start without it
const actions = (): typeof import('../actions/ingest') => require('../actions/ingest') as typeof import('../actions/ingest');

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('Send HSM access-log events (NDJSON, one event per line) to a running keyrotor; FILE or - for stdin. Token: KEYROTOR_TOKEN')
    .argument('<file>', 'NDJSON file, or - for standard input')
    .option('--url <url>', 'API base URL (default: from the configuration)')
    .option('--batch <n>', `events per request (at most ${MAX_BATCH})`, String(MAX_BATCH))
    .option('--json', 'print {"stored", "duplicates", "lines"}')
    .addHelpText('after', exampleHelp(['keyrotor ingest hsm-access.ndjson'], 'On a terminal, the lines sent and the rate are shown on stderr as batches are stored; not with --json or when stderr is not a terminal.'))
    .action((file: string, options: IngestOptions) => actions().runIngest(file, options));
}
