import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { loadConfig } from '../../adapters/config-loader';
import { ExternalError, UserError } from '../../domain/errors';
import { MAX_BATCH } from '../../domain/usage/events';

interface Options {
  url?: string;
  batch: string;
}

/** Sends one batch; a refused batch stops the run with the server's list of bad rows. */
async function send(url: string, token: string, events: unknown[], firstLine: number): Promise<{ stored: number; duplicates: number }> {
  let response: Response;
  try {
    response = await fetch(`${url}/usage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
  } catch (error) {
    throw new ExternalError('api_unreachable', `cannot reach keyrotor at ${url} (${(error as Error).message}); is it running?`, true);
  }
  const body = (await response.json()) as { stored: number; duplicates: number; detail?: string; errors?: Array<{ path: string; message: string }> };
  if (!response.ok) {
    const rows = (body.errors ?? []).map((e) => {
      const index = Number(e.path.split('/')[1]);
      return `  line ${Number.isNaN(index) ? '?' : firstLine + index}: ${e.message}`;
    });
    throw new UserError('ingest_refused', `the batch starting at line ${firstLine} was refused (${response.status}); nothing of it was stored:\n${rows.join('\n') || body.detail}\nfix those lines and run again: events already stored are deduplicated by eventId`);
  }
  return body;
}

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('Send HSM access-log events (NDJSON, one event per line) to a running keyrotor; FILE or - for stdin. Token: KEYROTOR_TOKEN')
    .argument('<file>', 'NDJSON file, or - for standard input')
    .option('--url <url>', 'API base URL (default: from the configuration)')
    .option('--batch <n>', `events per request (at most ${MAX_BATCH})`, String(MAX_BATCH))
    .action(async (file: string, options: Options) => {
      const token = process.env.KEYROTOR_TOKEN;
      if (!token) throw new UserError('token_required', 'set KEYROTOR_TOKEN to an operator API token');
      const batchSize = Number(options.batch);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) throw new UserError('invalid_batch', `--batch must be 1 to ${MAX_BATCH}`);
      const api = options.url ? undefined : loadConfig().api;
      const url = options.url ?? `http://${api?.host}:${api?.port}`;
      const lines = createInterface({ input: file === '-' ? process.stdin : createReadStream(file), crlfDelay: Infinity });
      let batch: unknown[] = [];
      let batchStart = 1;
      let lineNumber = 0;
      let stored = 0;
      let duplicates = 0;
      const started = Date.now();
      const progress = (): void => {
        const seconds = (Date.now() - started) / 1000;
        process.stderr.write(`\r${lineNumber.toLocaleString('en')} lines, ${stored.toLocaleString('en')} stored, ${duplicates.toLocaleString('en')} duplicates, ${Math.round(lineNumber / Math.max(seconds, 0.001)).toLocaleString('en')} events/s`);
      };
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        const result = await send(url, token, batch, batchStart);
        stored += result.stored;
        duplicates += result.duplicates;
        batch = [];
        batchStart = lineNumber + 1;
        progress();
      };
      for await (const line of lines) {
        lineNumber += 1;
        if (line.trim() === '') continue;
        try {
          batch.push(JSON.parse(line));
        } catch {
          throw new UserError('invalid_ndjson', `line ${lineNumber} is not JSON; nothing from line ${batchStart} on was sent`);
        }
        if (batch.length >= batchSize) await flush();
      }
      await flush();
      process.stderr.write('\n');
      process.stdout.write(`${stored} stored, ${duplicates} duplicates, ${lineNumber} lines\n`);
    });
}
