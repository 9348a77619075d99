import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { loadConfig, processSetting } from '../../adapters/config-loader';
import { ExternalError, UserError } from '../../domain/errors';
import { MAX_BATCH } from '../../domain/usage/events';

export interface IngestOptions {
  url?: string;
  batch: string;
  json?: boolean;
}

/** Sends one batch (NDJSON lines already checked to be JSON); a refused batch stops the run with the server's list of bad rows. */
async function send(url: string, token: string, lines: string[], firstLine: number): Promise<{ stored: number; duplicates: number }> {
  let response: Response;
  try {
    response = await fetch(`${url}/usage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      // Each line is one JSON value already: joining them is the array, without parsing and serialising it again.
      body: `[${lines.join(',')}]`,
    });
  } catch (error) {
    throw new ExternalError('api_unreachable', `cannot reach keyrotor at ${url} (${(error as Error).message}); is it running?`);
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

type Settled = { ok: true; value: { stored: number; duplicates: number } } | { ok: false; error: unknown };

/** `keyrotor ingest FILE`: sends the events in batches, one in flight while the next is read. */
export async function runIngest(file: string, options: IngestOptions): Promise<void> {
  const token = processSetting('apiToken');
  if (!token) throw new UserError('token_required', 'set KEYROTOR_TOKEN to an operator API token');
  const batchSize = Number(options.batch);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH) throw new UserError('invalid_batch', `--batch must be 1 to ${MAX_BATCH}`);
  const api = options.url ? undefined : loadConfig().api;
  const url = options.url ?? `http://${api?.host}:${api?.port}`;
  const lines = createInterface({ input: file === '-' ? process.stdin : createReadStream(file), crlfDelay: Infinity });
  let batch: string[] = [];
  let batchStart = 1;
  let lineNumber = 0;
  let stored = 0;
  let duplicates = 0;
  let sentLines = 0;
  const started = Date.now();
  // A terminal sees the count grow; a pipe, a log or a script reading --json gets only the result.
  const showProgress = process.stderr.isTTY === true && !options.json;
  const progress = (): void => {
    if (!showProgress) return;
    const seconds = (Date.now() - started) / 1000;
    process.stderr.write(`\r${sentLines.toLocaleString('en')} lines, ${stored.toLocaleString('en')} stored, ${duplicates.toLocaleString('en')} duplicates, ${Math.round(sentLines / Math.max(seconds, 0.001)).toLocaleString('en')} events/s`);
  };
  // One batch is in flight while the next one is read: the server stores while this process parses. Batches still
  // go one after the other, so a refused batch stops the run before anything after it is sent.
  let inFlight: { settled: Promise<Settled>; lastLine: number } | undefined;
  const settle = async (): Promise<void> => {
    if (!inFlight) return;
    const outcome = await inFlight.settled;
    if (!outcome.ok) throw outcome.error;
    stored += outcome.value.stored;
    duplicates += outcome.value.duplicates;
    sentLines = inFlight.lastLine;
    inFlight = undefined;
    progress();
  };
  const flush = async (): Promise<void> => {
    await settle();
    if (batch.length === 0) return;
    const settled = send(url, token, batch, batchStart).then(
      (value): Settled => ({ ok: true, value }),
      (error: unknown): Settled => ({ ok: false, error }),
    );
    inFlight = { settled, lastLine: lineNumber };
    batch = [];
    batchStart = lineNumber + 1;
  };
  for await (const line of lines) {
    lineNumber += 1;
    if (line.trim() === '') continue;
    try {
      JSON.parse(line);
    } catch {
      await settle();
      throw new UserError('invalid_ndjson', `line ${lineNumber} is not JSON; nothing from line ${batchStart} on was sent`);
    }
    batch.push(line);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  await settle();
  if (showProgress) process.stderr.write('\n');
  process.stdout.write(options.json ? `${JSON.stringify({ stored, duplicates, lines: lineNumber })}\n` : `${stored} stored, ${duplicates} duplicates, ${lineNumber} lines\n`);
}
