import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { UserError } from '../../domain/errors';
import {
  analyzeStreams,
  bitsFromAscii,
  bitsFromBytes,
  DEFAULT_ALPHA,
  formatCount,
  mergeResults,
  runTests,
  type StreamAnalysis,
  TEST_NAMES,
  type TestName,
  type TestResult,
} from '../../domain/sp800-22';
import type { StsWorkerData, StsWorkerReply, StsWorkerRequest } from '../workers/sts-battery';

export type InputFormat = 'ascii' | 'bin';

export interface StsOptions {
  format?: InputFormat;
  bits?: number;
  streams?: number;
  json?: boolean;
}

/** One line of `--json`. */
interface JsonRow {
  stream: number;
  test: string;
  subtest: string;
  pValue: number | null;
  reason?: string;
}

const WORD_BITS = 32;

const count = formatCount;

async function readInput(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
    throw new UserError('sts_input_unreadable', `cannot read ${file} (${reason}); check the path and that it is a readable file`);
  }
}

/** A file of nothing but '0', '1' and whitespace is taken for ASCII; anything else for raw bytes. */
function detectFormat(data: Buffer): InputFormat {
  let digits = 0;
  for (const byte of data) {
    if (byte === 0x30 || byte === 0x31) digits++;
    else if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return 'bin';
  }
  return digits > 0 ? 'ascii' : 'bin';
}

interface StreamPlan {
  bitsPerStream: number;
  streams: number;
  /** Yields the streams one at a time, so a large file is never held as bits all at once. */
  each(): Generator<Uint8Array>;
}

/**
 * Cuts `streams` consecutive streams of `requestedBits` bits (default: an equal share of the input) from the file.
 * ASCII streams follow one another bit for bit. Binary streams start on 32-bit boundaries, as in NIST STS, which reads
 * its input four bytes at a time and drops the rest of the word that completes a stream; for lengths that are a
 * multiple of 32 the two are the same.
 */
function planStreams(file: string, data: Buffer, format: InputFormat, requestedBits: number | undefined, streams: number): StreamPlan {
  const bits = format === 'ascii' ? bitsFromAscii(data) : null;
  const available = bits?.length ?? data.length * 8;
  if (available === 0) {
    throw new UserError('sts_empty_input', format === 'ascii' ? `${file} holds no '0' or '1' characters; is it a binary file (--format bin)?` : `${file} is empty`);
  }
  const wordAligned = format === 'bin';
  const share = wordAligned && streams > 1 ? WORD_BITS * Math.floor(available / WORD_BITS / streams) : Math.floor(available / streams);
  const bitsPerStream = requestedBits ?? share;
  if (bitsPerStream < 1) {
    throw new UserError('sts_insufficient_data', `${file} holds ${count(available)} bits, too few for ${count(streams)} streams; pass a smaller --streams`);
  }
  const stride = wordAligned ? Math.ceil(bitsPerStream / WORD_BITS) * WORD_BITS : bitsPerStream;
  const needed = (streams - 1) * stride + bitsPerStream;
  if (needed > available) {
    const alignment = stride !== bitsPerStream ? ' (binary streams start on 32-bit boundaries)' : '';
    throw new UserError(
      'sts_insufficient_data',
      `${file} holds ${count(available)} bits; ${count(streams)} stream(s) of ${count(bitsPerStream)} bits need ${count(needed)}` +
        `${alignment}; pass a smaller --bits or --streams`,
    );
  }
  return {
    bitsPerStream,
    streams,
    *each() {
      for (let i = 0; i < streams; i++) {
        yield bits === null ? bitsFromBytes(data, i * stride, bitsPerStream) : bits.subarray(i * stride, i * stride + bitsPerStream);
      }
    },
  };
}

function formatStatistic(value: number | null): string {
  if (value === null) return '';
  return Number.isInteger(value) ? String(value) : value.toFixed(6);
}

function streamTable(results: TestResult[], alpha: number): string[] {
  const lines = [`  ${'test'.padEnd(24)} ${'subtest'.padEnd(10)} ${'statistic'.padStart(16)} ${'p-value'.padStart(9)}  result`];
  for (const { test, subtest, statistic, pValue, reason } of results) {
    const outcome = pValue === null ? (reason ?? '') : pValue < alpha ? 'FAIL' : 'pass';
    const p = pValue === null ? 'n/a' : pValue.toFixed(6);
    const note = pValue !== null && reason !== undefined ? ` (${reason})` : '';
    lines.push(`  ${test.padEnd(24)} ${subtest.padEnd(10)} ${formatStatistic(statistic).padStart(16)} ${p.padStart(9)}  ${outcome}${note}`);
  }
  return lines;
}

function summaryTable(rows: StreamAnalysis[], streams: number): string[] {
  const lines = [
    `Section 4.2 over ${count(streams)} streams: p-values per tenth (C1 … C10), uniformity P-value, proportion passing`,
    `  ${Array.from({ length: 10 }, (_, i) => `C${i + 1}`.padStart(4)).join('')}  ${'P-value'.padStart(10)}  ${'proportion'.padStart(11)}  test`,
  ];
  for (const row of rows) {
    const histogram = row.histogram.map((value) => String(value).padStart(4)).join('');
    const uniformity =
      row.uniformityPValue === null ? '----'.padStart(10) : `${row.uniformityPValue.toFixed(6)}${row.uniformityAcceptable ? ' ' : '*'}`.padStart(10);
    const proportion =
      row.sampleSize === 0 ? '------'.padStart(11) : `${row.passed}/${row.sampleSize}${row.proportionAcceptable ? ' ' : '*'}`.padStart(11);
    const name = row.subtest === '-' ? row.test : `${row.test} ${row.subtest}`;
    lines.push(`  ${histogram}  ${uniformity}  ${proportion}  ${name}`);
  }
  const general = rows.find((row) => row.test !== 'RandomExcursions' && row.test !== 'RandomExcursionsVariant' && row.sampleSize > 0);
  const excursion = rows.find((row) => (row.test === 'RandomExcursions' || row.test === 'RandomExcursionsVariant') && row.sampleSize > 0);
  lines.push('');
  if (general !== undefined) {
    lines.push(`Minimum pass rate, all tests but the random excursion ones: ${general.minimumPassed} of ${general.sampleSize} streams.`);
  }
  if (excursion !== undefined) {
    lines.push(`Minimum pass rate, random excursion tests: ${excursion.minimumPassed} of ${excursion.sampleSize} streams (those with enough cycles).`);
  }
  lines.push('* marks a proportion outside its acceptable range or a uniformity P-value below 0.0001 (SP 800-22 §4.2).');
  return lines;
}

/**
 * The tests a worker thread runs while the command's thread runs the others. On 10^6 bits the FFT takes about 100 ms of
 * CPU cold, linear complexity 50 and the thirteen others 140 together, and the worker needs some 50 ms to start: with
 * linear complexity on it too, the command's thread waited for it.
 */
const WORKER_TESTS: readonly TestName[] = ['FFT'];
const MAIN_TESTS: readonly TestName[] = TEST_NAMES.filter((test) => !WORKER_TESTS.includes(test));

/** Runs the battery, half of it on a worker thread when the precompiled worker is there and the machine has two cores. */
interface Battery {
  run(bits: Uint8Array): Promise<TestResult[]>;
  close(): void;
}

/** Below this many bits per stream the FFT takes less time than a worker thread takes to start. */
const WORKER_MIN_BITS = 1 << 17;

function startBattery(bitsPerStream: number): Battery {
  // The worker is precompiled beside this file's precompiled form (cli/dist/actions/sts.js); run from the TypeScript
  // sources, on one core or on short streams, the whole battery runs on this thread.
  const workerFile = join(__dirname, '..', 'workers', 'sts-battery.js');
  if (bitsPerStream < WORKER_MIN_BITS || !__filename.endsWith('.js') || availableParallelism() < 2 || !existsSync(workerFile)) {
    return { run: (bits) => Promise.resolve(runTests(bits, TEST_NAMES)), close: () => undefined };
  }
  const workerData: StsWorkerData = { tests: [...WORKER_TESTS], options: {} };
  const worker = new Worker(workerFile, { workerData });
  const pending = new Map<number, { resolve: (results: TestResult[]) => void; reject: (error: Error) => void }>();
  let failure: Error | null = null;
  const failAll = (error: Error): void => {
    failure = error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.on('message', (reply: StsWorkerReply) => {
    const waiting = pending.get(reply.id);
    pending.delete(reply.id);
    if ('error' in reply) waiting?.reject(new Error(reply.error));
    else waiting?.resolve(reply.results);
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`the sts worker thread exited (${code})`)));
  let nextId = 0;
  return {
    async run(bits) {
      const id = nextId++;
      const fromWorker = new Promise<TestResult[]>((resolve, reject) => {
        if (failure !== null) reject(failure);
        else pending.set(id, { resolve, reject });
      });
      // A view posts its whole buffer: an ASCII stream is a view of the whole file's bits, so it goes as a copy.
      const own = bits.byteOffset === 0 && bits.byteLength === bits.buffer.byteLength ? bits : bits.slice();
      worker.postMessage({ id, bits: own } satisfies StsWorkerRequest);
      const here = runTests(bits, MAIN_TESTS);
      return mergeResults(here, await fromWorker);
    },
    close: () => {
      worker.removeAllListeners('exit');
      void worker.terminate();
    },
  };
}

/** `keyrotor sts FILE`: the battery on each stream, printed as tables or as JSON. */
export async function runSts(file: string, options: StsOptions): Promise<void> {
  const data = await readInput(file);
  const format = options.format ?? detectFormat(data);
  const plan = planStreams(file, data, format, options.bits, options.streams ?? 1);
  const battery = startBattery(plan.bitsPerStream);
  try {
    await testStreams(file, format, plan, options, battery);
  } finally {
    battery.close();
  }
}

async function testStreams(file: string, format: InputFormat, plan: StreamPlan, options: StsOptions, battery: Battery): Promise<void> {
  const showProgress = plan.streams > 1 && process.stderr.isTTY === true && !options.json;
  const results: TestResult[][] = [];
  let index = 0;
  for (const bits of plan.each()) {
    index++;
    if (showProgress) process.stderr.write(`\rtesting stream ${index} of ${plan.streams}…`);
    results.push(await battery.run(bits));
  }
  if (showProgress) process.stderr.write('\n');

  if (options.json) {
    const rows: JsonRow[] = results.flatMap((stream, i) =>
      stream.map(({ test, subtest, pValue, reason }) => ({ stream: i + 1, test, subtest, pValue, ...(reason === undefined ? {} : { reason }) })),
    );
    process.stdout.write(`[\n${rows.map((row) => `  ${JSON.stringify(row)}`).join(',\n')}\n]\n`);
    return;
  }
  const lines = [
    `NIST SP 800-22 rev1a on ${file} (${format}): ${count(plan.streams)} stream(s) of ${count(plan.bitsPerStream)} bits, α = ${DEFAULT_ALPHA}`,
  ];
  results.forEach((stream, i) => {
    lines.push('', `stream ${i + 1}`, ...streamTable(stream, DEFAULT_ALPHA));
  });
  if (plan.streams > 1) lines.push('', ...summaryTable(analyzeStreams(results, DEFAULT_ALPHA), plan.streams));
  process.stdout.write(`${lines.join('\n')}\n`);
}
