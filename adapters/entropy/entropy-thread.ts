import { join } from 'node:path';
import { Worker, parentPort, workerData } from 'node:worker_threads';
import type { Assess, TestBattery } from '../../domain/entropy/node-entropy';
import { bitsFromBytes, runBattery, type TestResult } from '../../domain/sp800-22';
import { assessmentRows, prepareSamples, type EstimatorRow } from '../../domain/sp800-90b';
import { assessNonIidInThreads } from './assessment-threads';

/** What the thread is given (one test, run once), and what it answers. */
type EntropyTestRequest = { kind: 'assessment'; samples: Uint8Array; bitsPerSample: number } | { kind: 'battery'; bytes: Uint8Array; bits: number };
type EntropyTestReply<T> = { result: T } | { error: string };

/**
 * The thread's entry is plain JavaScript that loads the TypeScript sources through tsx, as bin/keyrotor.js does, so the
 * same file runs under tsx, jest and `npm start`.
 */
const THREAD_ENTRY = join(__dirname, 'entropy-thread-entry.js');
const TEST_TIMEOUT_MS = 10 * 60_000;

/**
 * Runs one entropy test in a worker thread, so that the HSM worker's event loop keeps running through it: its
 * heartbeats and other activities, and in `keyrotor start` the control worker's workflow tasks and the API, which share
 * that loop. `signal` stops the thread.
 */
function inWorkerThread<T>(request: EntropyTestRequest, what: string, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancelled = (): Error => (signal?.reason instanceof Error ? signal.reason : new Error(`the ${what} was cancelled`));
    if (signal?.aborted) {
      reject(cancelled());
      return;
    }
    const worker = new Worker(THREAD_ENTRY, { workerData: request });
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      outcome();
    };
    const onAbort = (): void => settle(() => reject(cancelled()));
    const timer = setTimeout(() => settle(() => reject(new Error(`the ${what} took longer than ${TEST_TIMEOUT_MS / 60_000} minutes`))), TEST_TIMEOUT_MS);
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (reply: EntropyTestReply<T>) => settle(() => ('result' in reply ? resolve(reply.result) : reject(new Error(reply.error)))));
    worker.once('error', (error) => settle(() => reject(error)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the ${what} thread ended (exit code ${code}) without an answer`))));
  });
}

/** SP 800-90B section 6.3 in a worker thread, which spreads the estimators over itself and a second thread. */
export const assessInWorkerThread: Assess = (input, signal) =>
  inWorkerThread<EstimatorRow[]>({ kind: 'assessment', samples: input.samples, bitsPerSample: input.bitsPerSample }, 'SP 800-90B assessment', signal);

/** The SP 800-22 battery of each harvest (seconds of one core for a million bits) in a worker thread. */
export const batteryInWorkerThread: TestBattery = (input, signal) =>
  inWorkerThread<TestResult[]>({ kind: 'battery', bytes: input.bytes, bits: input.bits }, 'SP 800-22 battery', signal);

/** The thread's side: runs the test it was started with and answers once. */
export function serveEntropyTest(): void {
  const port = parentPort;
  if (!port) throw new Error('serveEntropyTest runs only in a worker thread');
  const request = workerData as EntropyTestRequest;
  const answer = async (): Promise<EstimatorRow[] | TestResult[]> =>
    request.kind === 'assessment'
      ? assessmentRows(await assessNonIidInThreads(prepareSamples(request.samples, request.bitsPerSample)))
      : runBattery(bitsFromBytes(request.bytes).subarray(0, request.bits));
  void answer().then(
    (result) => port.postMessage({ result } satisfies EntropyTestReply<EstimatorRow[] | TestResult[]>),
    (error: unknown) => port.postMessage({ error: error instanceof Error ? error.message : String(error) } satisfies EntropyTestReply<never>),
  );
}
