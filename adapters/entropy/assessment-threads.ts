import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parentPort, Worker } from 'node:worker_threads';
import {
  type AssessmentJob,
  assessmentJobs,
  combineResults,
  type EstimatorName,
  type EstimatorResult,
  type NonIidAssessment,
  type ProgressListener,
  runAssessmentJob,
  type SampleSet,
  type Track,
} from '../../domain/sp800-90b';

/** What a helper thread is given: the samples, the jobs, and the counter from which every thread takes the next job. */
interface JobsRequest {
  samples: SampleSet;
  jobs: Pick<AssessmentJob, 'estimator' | 'track'>[];
  next: Int32Array;
}
type JobsReply = { done: DoneJobs } | { error: string };

/** A job that ran: its estimator and track, how long it took, and the thread that ran it (0 is the calling thread). */
export interface JobTiming {
  estimator: EstimatorName;
  track: Track;
  ms: number;
  thread: number;
}

interface DoneJobs {
  results: EstimatorResult[];
  timings: JobTiming[];
}

export interface ThreadOptions {
  /** Threads in all, this one included: 2 by default. */
  threads?: number;
  /** Hears of each job as this thread starts it (the helpers' jobs are not announced). */
  onProgress?: ProgressListener;
  /** Hears of every job once the assessment is complete. */
  onTimings?: (timings: JobTiming[]) => void;
  /** The total job weight below which no helper starts: MIN_WEIGHT_FOR_HELPERS by default. */
  minWeightForHelpers?: number;
}

/** Plain JavaScript that loads the TypeScript sources through tsx, as entropy-thread-entry.js does. */
const THREAD_ENTRY = join(__dirname, 'assessment-thread-entry.js');

/**
 * The total job weight (assessmentJobs, in nanoseconds) below which the assessment stays on one thread: 1e6 bits weigh
 * 3.2e8, 1e6 8-bit samples 3.4e9.
 */
export const MIN_WEIGHT_FOR_HELPERS = 1e9;

/** Takes jobs from the shared counter until there are none left. */
function takeJobs(samples: SampleSet, jobs: JobsRequest['jobs'], next: Int32Array, thread: number, onProgress: ProgressListener): DoneJobs {
  const done: DoneJobs = { results: [], timings: [] };
  for (let index = Atomics.add(next, 0, 1); index < jobs.length; index = Atomics.add(next, 0, 1)) {
    const job = jobs[index]!;
    onProgress(job);
    const start = performance.now();
    done.results.push(...runAssessmentJob(samples, job));
    done.timings.push({ ...job, ms: performance.now() - start, thread });
  }
  return done;
}

/**
 * SP 800-90B section 6.3 on `threads` threads: this one and threads - 1 helpers. The estimators are independent, so
 * each thread takes the next job (longest first) from a shared counter until none is left; the results are those of
 * assessNonIid. This thread runs jobs while the helpers start, and `onProgress` hears of its own jobs only.
 */
export async function assessNonIidInThreads(samples: SampleSet, options: ThreadOptions = {}): Promise<NonIidAssessment> {
  const { threads = 2, onProgress = () => undefined, onTimings = () => undefined, minWeightForHelpers = MIN_WEIGHT_FOR_HELPERS } = options;
  const weighted = assessmentJobs(samples).sort((a, b) => b.weight - a.weight);
  const jobs = weighted.map(({ estimator, track }) => ({ estimator, track }));
  const total = weighted.reduce((sum, job) => sum + job.weight, 0);
  // A new helper costs a few hundred milliseconds to start (its thread, tsx, the estimators' code compiled anew): worth
  // it for wide samples, not for a million bits.
  const helpers = total < minWeightForHelpers ? 0 : Math.min(threads - 1, jobs.length - 1);
  if (helpers < 1) {
    const done = takeJobs(samples, jobs, new Int32Array(1), 0, onProgress);
    onTimings(done.timings);
    return combineResults(samples, done.results);
  }

  const next = new Int32Array(new SharedArrayBuffer(4));
  const request: JobsRequest = { samples, jobs, next };
  const taken = Array.from({ length: helpers }, () => takeHelper());
  const replies = taken.map((worker, i) => ask(worker, { ...request, thread: i + 1 }));
  // Awaited below; a failure of this thread must not leave their rejections unhandled.
  for (const reply of replies) reply.catch(() => undefined);
  let mine: DoneJobs;
  try {
    mine = takeJobs(samples, jobs, next, 0, onProgress);
  } catch (error) {
    // The helpers are stopped rather than waited for.
    await Promise.all(taken.map((worker) => worker.terminate()));
    throw error;
  }
  const all = [mine, ...(await Promise.all(replies))];
  onTimings(all.flatMap((done) => done.timings));
  return combineResults(samples, all.flatMap((done) => done.results));
}

/**
 * Helper threads between assessments. A helper is kept for HELPER_IDLE_MS after its last jobs, so that assessments
 * close together (each source of a harvest, each node) do not start a thread, load the estimators and compile them
 * anew each time; an idle helper does not keep the process alive.
 */
const idleHelpers: Worker[] = [];
const idleTimers = new Map<Worker, NodeJS.Timeout>();
export const HELPER_IDLE_MS = 60_000;
let helpersStarted = 0;

/** How many helper threads this thread has started so far. */
export function startedHelpers(): number {
  return helpersStarted;
}

function takeHelper(): Worker {
  const kept = idleHelpers.pop();
  if (kept) {
    clearTimeout(idleTimers.get(kept));
    idleTimers.delete(kept);
    kept.ref();
    return kept;
  }
  helpersStarted++;
  return new Worker(THREAD_ENTRY);
}

function keepHelper(worker: Worker): void {
  worker.unref();
  idleHelpers.push(worker);
  const timer = setTimeout(() => {
    idleHelpers.splice(idleHelpers.indexOf(worker), 1);
    idleTimers.delete(worker);
    void worker.terminate();
  }, HELPER_IDLE_MS);
  timer.unref();
  idleTimers.set(worker, timer);
}

/** Gives a helper its jobs; it is kept for the next assessment once it has answered, and stopped if it failed. */
function ask(worker: Worker, request: JobsRequest & { thread: number }): Promise<DoneJobs> {
  return new Promise<DoneJobs>((resolve, reject) => {
    const settle = (outcome: () => void, keep: boolean): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (keep) keepHelper(worker);
      else void worker.terminate();
      outcome();
    };
    const onMessage = (reply: JobsReply): void => {
      if ('done' in reply) settle(() => resolve(reply.done), true);
      else settle(() => reject(new Error(reply.error)), false);
    };
    const onError = (error: Error): void => settle(() => reject(error), false);
    const onExit = (code: number): void => settle(() => reject(new Error(`an SP 800-90B assessment thread ended (exit code ${code}) without an answer`)), false);
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage(request);
  });
}

/** The helper's side: for each request, takes jobs until none is left and answers with their results. */
export function serveAssessmentJobs(): void {
  const port = parentPort;
  if (!port) throw new Error('serveAssessmentJobs runs only in a worker thread');
  port.on('message', ({ samples, jobs, next, thread }: JobsRequest & { thread: number }) => {
    let reply: JobsReply;
    try {
      reply = { done: takeJobs(samples, jobs, next, thread, () => undefined) };
    } catch (error) {
      reply = { error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(reply);
  });
}
