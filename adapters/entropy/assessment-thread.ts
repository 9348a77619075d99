import { join } from 'node:path';
import { Worker, parentPort, workerData } from 'node:worker_threads';
import type { Assess } from '../../domain/entropy/node-entropy';
import { assessmentRows, assessNonIid, prepareSamples, type EstimatorRow } from '../../domain/sp800-90b';

/** What the thread is given, and what it answers. */
interface AssessmentRequest {
  samples: Uint8Array;
  bitsPerSample: number;
}
type AssessmentReply = { rows: EstimatorRow[] } | { error: string };

/**
 * The thread's entry is plain JavaScript that loads the TypeScript sources through tsx, as bin/keyrotor.js does, so the
 * same file runs under tsx, jest and `npm start`.
 */
const THREAD_ENTRY = join(__dirname, 'assessment-thread-entry.js');
const ASSESSMENT_TIMEOUT_MS = 10 * 60_000;

/**
 * SP 800-90B section 6.3 in a worker thread, so that the HSM worker's event loop (its heartbeats, its other
 * activities) keeps running through minutes of estimators. `signal` stops the thread.
 */
export const assessInWorkerThread: Assess = (input, signal) =>
  new Promise<EstimatorRow[]>((resolve, reject) => {
    const cancelled = (): Error => (signal?.reason instanceof Error ? signal.reason : new Error('the SP 800-90B assessment was cancelled'));
    if (signal?.aborted) {
      reject(cancelled());
      return;
    }
    const worker = new Worker(THREAD_ENTRY, { workerData: { samples: input.samples, bitsPerSample: input.bitsPerSample } satisfies AssessmentRequest });
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
    const timer = setTimeout(() => settle(() => reject(new Error(`the SP 800-90B assessment took longer than ${ASSESSMENT_TIMEOUT_MS / 60_000} minutes`))), ASSESSMENT_TIMEOUT_MS);
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (reply: AssessmentReply) => settle(() => ('rows' in reply ? resolve(reply.rows) : reject(new Error(reply.error)))));
    worker.once('error', (error) => settle(() => reject(error)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the SP 800-90B assessment thread ended (exit code ${code}) without an answer`))));
  });

/** The thread's side: assesses the samples it was started with and answers once. */
export function serveAssessment(): void {
  const port = parentPort;
  if (!port) throw new Error('serveAssessment runs only in a worker thread');
  const request = workerData as AssessmentRequest;
  let reply: AssessmentReply;
  try {
    reply = { rows: assessmentRows(assessNonIid(prepareSamples(request.samples, request.bitsPerSample))) };
  } catch (error) {
    reply = { error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
}
